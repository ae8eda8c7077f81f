"""What the README shows: the tests that hold it to the real output read it through here."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def shown_output(command: str) -> list[str]:
    """The output lines the README shows under ``$ command`` (in its text block), '...' left out."""
    block = README.read_text().split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and line != "..."]
