"""What the `integrate` verbs write to the terminal: exit codes, and errors with secrets masked."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from framework.secrets import masker

EXIT_CONFIG = 2  # the config (or the command line) is wrong
EXIT_RUNTIME = 1  # the app failed while starting or running, or a running app refused


def fail(message: str) -> None:
    """``error: message`` on stderr, with every secret value the process knows masked."""
    print(f"error: {masker(message)}", file=sys.stderr)


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows (a header first) as text in aligned columns, two spaces apart."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
