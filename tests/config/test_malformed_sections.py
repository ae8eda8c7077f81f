"""A framework setting of the wrong shape is a one-screen error, whatever reads it first.

Some settings are read before validation (the `app` section names the packages component
classes come from, whose schemas validation needs): a number where a mapping or a list belongs
must reach validation, and its located error, rather than a traceback on the way there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework.assembly import framework_sections
from framework.cli import main
from framework.testing import write_tree

CONFIG = """
    app:
      name: shapes
      env_prefix: SHAPES
    components:
      worker:
        class: collections.OrderedDict
        enabled: false
    """


def containers(schema: dict[str, Any], prefix: str) -> Iterator[str]:
    """Every key of ``schema`` that holds a mapping or a list, nested ones included."""
    for key, rules in schema.items():
        if rules.get("type") in ("dict", "list"):
            yield f"{prefix}.{key}"
        if rules.get("type") == "dict" and isinstance(rules.get("schema"), dict):
            yield from containers(rules["schema"], f"{prefix}.{key}")


KEYS = sorted(
    [*framework_sections(), "components", "components.worker"]
    + [key for name, schema in framework_sections().items() for key in containers(schema, name)]
)


@pytest.mark.parametrize("key", KEYS)
def test_a_number_where_a_mapping_or_list_belongs(
    config_dir: Path, key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(config_dir, {"config.yaml": CONFIG})
    monkeypatch.chdir(config_dir.parent)
    code = main(["check", f"++{key}=5"])  # in-process: a traceback would fail the test here
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert stderr.startswith("error: ")
    assert f"{key}:" in stderr and f"argument ++{key}=5" in stderr
