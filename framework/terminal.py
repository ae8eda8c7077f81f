"""What the `integrate` verbs write to the terminal: exit codes, and errors with secrets masked."""

from __future__ import annotations

import sys

from framework.secrets import masker

EXIT_CONFIG = 2  # the config (or the command line) is wrong
EXIT_RUNTIME = 1  # the app failed while starting or running, or a running app refused


def fail(message: str) -> None:
    """``error: message`` on stderr, with every secret value the process knows masked."""
    print(f"error: {masker(message)}", file=sys.stderr)
