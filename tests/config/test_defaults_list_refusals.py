"""Every defaults list Hydra refuses is a one-screen error naming the file and line, exit 2.

Hydra refuses some defaults lists with its own ConfigCompositionException, and others with a
bare ValueError, AssertionError or TypeError out of its defaults-list code: this corpus holds
one broken config dir per kind of refusal found there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.cli import main
from framework.testing import write_tree

APP = "app:\n  name: broken\n  env_prefix: BROKEN\n"
CORPUS = {  # name: (config.yaml, the line its error names, Hydra's words)
    "self-with-package": ("defaults:\n  - _self_@pkg\n" + APP, 1, "_self_@PACKAGE is not supported"),
    "defaults-a-mapping": (APP + "defaults:\n  db: a\n", 4, "defaults must be a list (got mapping)"),
    "defaults-a-number": ("defaults: 5\n" + APP, 1, "defaults must be a list (got int)"),
    "empty-group-name": ('defaults:\n  - "": a\n' + APP, 1, "Hydra refused it (AssertionError; an empty group name does this)"),
    "too-many-keys": ("defaults:\n  - db: a\n    other: b\n" + APP, 1, "Too many keys in default item"),
    "number-item": ("defaults:\n  - 5\n" + APP, 1, "Unsupported type in defaults : int"),
    "list-item": ("defaults:\n  - [a]\n" + APP, 1, "Unsupported type in defaults : ListConfig"),
    "number-option": ("defaults:\n  - db: 5\n" + APP, 1, "Unsupported item value in defaults : int"),
    "nested-list-option": (
        "defaults:\n  - db: [a, [b]]\n" + APP, 1, "nested list items must be strings"
    ),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_a_refused_defaults_list_is_one_screen(
    config_dir: Path, case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text, line, words = CORPUS[case]
    write_tree(config_dir, {"config.yaml": text, "db/a.yaml": "driver: a\n"})
    monkeypatch.chdir(config_dir.parent)
    code = main(["check"])  # in-process: a traceback fails the test right here
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: {config_dir / 'config.yaml'}:{line}: the defaults list cannot be composed: ")
    assert words in err and len(err.splitlines()) == 1


def test_a_refused_defaults_list_in_a_group_file_names_that_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(
        config_dir,
        {"config.yaml": "defaults:\n  - sub: s\n  - _self_\n" + APP, "sub/s.yaml": "k: 1\ndefaults:\n  - _self_@x\n"},
    )
    monkeypatch.chdir(config_dir.parent)
    assert main(["check"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {config_dir / 'sub/s.yaml'}:2: the defaults list")
