"""Thousands of bad keys get the same one-screen error as one: the first problems, then an
exact count of the rest, within seconds (Cerberus alone took minutes for 10,000 unknown keys).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from framework.assembly import load_config
from framework.config.compose import ConfigSource
from framework.errors import SHOWN_PROBLEMS, ValidationError
from framework.testing import integrate, write_tree

MANY = 10_000  # the old validator needed minutes for this many; the timeout below allows one
HEADER = """\
defaults:
  - _self_
app:
  name: many
  env_prefix: MANY
"""


def fails(cwd: Path, *args: str) -> str:
    """The one-screen error of `integrate check`, which must end well within the timeout."""
    result = integrate("check", *args, cwd=cwd, timeout=90)
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    return result.stderr


def listed(err: str) -> list[str]:
    """The problem lines of the error, without the header and the count of the rest."""
    return [line.strip() for line in err.splitlines()[1:] if not line.strip().startswith("... and")]


def write_config(config_dir: Path, body: str) -> Path:
    write_tree(config_dir, {"config.yaml": HEADER + body})
    return config_dir.parent


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("".join(f"  unknown_{i}: {i}\n" for i in range(MANY)), "app.unknown_"),
        ("  watch:\n" + "".join(f"    unknown_{i}: {i}\n" for i in range(MANY)), "app.watch.unknown_"),
        ("  allowed_packages:\n" + "".join(f"    - {i}\n" for i in range(MANY)), "app.allowed_packages."),
    ],
    ids=["section", "nested-section", "list-items"],
)
def test_ten_thousand_bad_keys_are_listed_on_one_screen(config_dir: Path, body: str, key: str) -> None:
    """10,000 unknown keys in a section, in a nested section, or 10,000 bad list items: exit 2
    with the exact total, the first problems with their file:line, and the exact rest counted."""
    err = fails(write_config(config_dir, body))
    lines = err.splitlines()
    assert lines[0] == f"error: invalid configuration ({MANY} problems):"
    assert lines[-1] == f"  ... and {MANY - SHOWN_PROBLEMS} more problems"
    shown = listed(err)
    assert len(shown) == SHOWN_PROBLEMS == len(lines) - 2
    assert all(line.startswith(key) and re.search(r"\[conf/config\.yaml:\d+\]$", line) for line in shown)


def test_the_rest_are_counted_exactly_whatever_their_kind(config_dir: Path) -> None:
    """Unknown keys, bad values and a missing required key are counted together; the shown ones
    are the first by key, a value-less one says how to set it, and the rest are counted."""
    unknown = "".join(f"  unknown_{i:02}: {i}\n" for i in range(30))
    project = write_config(config_dir, unknown + "  start_timeout: -1\n  parallel_start: maybe\n")
    err = fails(project, "+components.feed.enabled=true")
    lines = err.splitlines()
    assert lines[0] == "error: invalid configuration (33 problems):"
    assert lines[-1] == "  ... and 13 more problems"
    shown = listed(err)
    assert len(shown) == SHOWN_PROBLEMS
    assert shown[0] == "app.parallel_start: must be of type boolean (got 'maybe') [conf/config.yaml:37]"
    assert shown[1] == "app.start_timeout: must be >= 0.01 (got -1) [conf/config.yaml:36]"
    assert shown[2].startswith("app.unknown_00: unknown key (accepted keys: allowed_packages,")
    assert shown[2].endswith("(got 0) [conf/config.yaml:6]")
    assert shown[-1].startswith("app.unknown_17: unknown key")
    assert shown == sorted(shown)
    missing = (
        "components.feed.class: required key is missing"
        " [not set; add it to the YAML or pass components.feed.class=...]"
    )
    assert missing not in err  # sorted after the unknown keys: counted, not shown
    assert missing in fails(project, "+components.feed.enabled=true", "~app")


def test_did_you_mean_is_worked_out_only_for_the_problems_shown(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close-match search runs for the problems listed, not for every unknown key; the
    listed ones still get their suggestion."""
    body = "".join(f"  nmae_{i:04}: {i}\n" for i in range(2000)) + "  nmae: x\n"
    write_config(config_dir, body)
    searches: list[str] = []
    real = difflib.get_close_matches

    def counting(word: str, *args: object, **kwargs: object) -> list[str]:
        searches.append(word)
        return real(word, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    with pytest.raises(ValidationError) as caught:
        load_config(ConfigSource(config_dir))
    assert caught.value.problems[0].startswith("app.nmae: unknown key; did you mean 'name'?")
    assert len(caught.value.problems) == SHOWN_PROBLEMS and caught.value.more == 2001 - SHOWN_PROBLEMS
    assert len(searches) <= SHOWN_PROBLEMS


def test_one_problem_past_the_screenful_is_counted_in_the_singular() -> None:
    """21 problems list 20 and say '... and 1 more problem'; the header counts all 21."""
    error = ValidationError([f"k{i:02}: bad" for i in range(SHOWN_PROBLEMS + 1)])
    assert error.problems == [f"k{i:02}: bad" for i in range(SHOWN_PROBLEMS)] and error.more == 1
    assert str(error).splitlines()[0] == f"invalid configuration ({SHOWN_PROBLEMS + 1} problems):"
    assert error.reasons[-1] == str(error).splitlines()[-1].strip() == "... and 1 more problem"


def test_many_broken_interpolations_are_listed_on_one_screen(config_dir: Path) -> None:
    """30 interpolations of keys that do not exist: the first 20 name their key and file:line,
    and the other 10 are counted."""
    body = "".join(f"  ref_{i:02}: ${{nowhere.key_{i}}}\n" for i in range(30))
    lines = fails(write_config(config_dir, body)).splitlines()
    assert lines[0].startswith("error: app.ref_00: ") and lines[0].endswith("[conf/config.yaml:6]")
    assert lines[19].startswith("app.ref_19: ") and lines[19].endswith("[conf/config.yaml:25]")
    assert lines[20:] == ["... and 10 more problems"]
