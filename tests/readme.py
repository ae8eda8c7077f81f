"""What the README shows: the tests that hold it to the real output read it through here."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def shown_output(command: str) -> list[str]:
    """The output lines the README shows under ``$ command`` (in its text block), '...' left out."""
    block = README.read_text().split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and line != "..."]


def section_command(heading: str, pattern: str) -> str:
    """The one line of the README's section ``heading`` (up to the next heading) that matches
    ``pattern`` in full: a command the section shows, to run as it is written."""
    section = README.read_text().split(f"{heading}\n", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    [command] = re.findall(rf"^({pattern})$", section, re.MULTILINE)
    return str(command)
