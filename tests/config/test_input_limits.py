"""No file, env var or argument can make a composition take unbounded time or memory.

Each input is bounded before the parser that would choke on it sees it: the items of an env
value or an argument before Hydra's override parser (super-linear in them), the nesting of a
YAML file in PyYAML's scanner (quadratic in flow nesting), and what its aliases expand to
before OmegaConf copies every repeat. Refused input is a one-screen error naming its source,
with exit 2, within seconds; the value of a refused env var or argument is never shown.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from framework.testing import integrate, write_tree
from tests.config.test_file_limits import BASE as FILE_LIMITS_BASE
from tests.config.test_file_limits import LIMIT as FILE_LIMIT
from tests.config.test_file_limits import fails

BASE = {**FILE_LIMITS_BASE, "db/postgres.yaml": "driver: postgres\n"}
MAX_ELEMENTS = 1000  # the documented limit on list items and mapping entries in one override
SECRET = "s3cr3t"  # in every refused value: it must never be printed


@pytest.fixture
def project(config_dir: Path) -> Path:
    write_tree(config_dir, BASE)
    return config_dir.parent


def passes(cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """`integrate check` accepts the config."""
    result = integrate("check", *args, cwd=cwd, env=env, timeout=30)
    assert result.returncode == 0, result.stderr[-2000:]


def items(count: int) -> list[str]:
    """``count`` list items, the secret first; short, as one env var or argument holds at most
    128 KiB on Linux."""
    return [SECRET] + ["0"] * (count - 1)


# Values with more list items and mapping entries, in total, than one override may hold.
TOO_LONG = {
    "a 30,000-item list": "[" + ",".join(items(30_000)) + "]",
    "a 12,000-entry mapping": "{" + ",".join(f"k{i:x}: {v}" for i, v in enumerate(items(12_000))) + "}",
    "1001 items": "[" + ",".join(items(MAX_ELEMENTS + 1)) + "]",
    "nested lists, 1001 items in all": "[" + ",".join("[" + ",".join(items(10)) + "]" for _ in range(91)) + "]",
}


@pytest.mark.parametrize("value", TOO_LONG.values(), ids=TOO_LONG.keys())
def test_an_env_value_with_too_many_items_is_refused_naming_the_variable(project: Path, value: str) -> None:
    """An env value holding more than 1000 list items and mapping entries (minutes of Hydra
    parsing at 30,000, on every reload) is refused naming the variable and what to do, unshown."""
    err = fails(project, env={"LIM__DB__DRIVER": value})
    assert f"env var LIM__DB__DRIVER: more than {MAX_ELEMENTS} list items and mapping entries" in err
    assert "put long lists in a YAML file" in err
    assert SECRET not in err


def test_an_env_var_selecting_a_group_with_too_many_items_is_refused_unparsed(project: Path) -> None:
    """An env var that selects group options (`LIM__DB=[a,b,...]`, handed to Hydra as typed) is
    held to the same limit."""
    err = fails(project, env={"LIM__DB": "[" + ",".join(items(30_000)) + "]"})
    assert f"env var LIM__DB: more than {MAX_ELEMENTS} list items" in err and SECRET not in err


ARGUMENTS = {
    **TOO_LONG,
    "a 30,000-option sweep": ",".join(items(30_000)),
    "20,000 quoted items": "[" + ",".join(f"'{v}'" for v in items(20_000)) + "]",
}


@pytest.mark.parametrize("value", ARGUMENTS.values(), ids=ARGUMENTS.keys())
def test_an_argument_with_too_many_items_is_refused_naming_it(project: Path, value: str) -> None:
    """A command-line override with more than 1000 items is refused naming its key, unshown."""
    err = fails(project, f"db.driver={value}")
    assert f"argument db.driver=...: more than {MAX_ELEMENTS} list items and mapping entries" in err
    assert "put long lists in a YAML file" in err
    assert SECRET not in err


def test_values_at_the_limit_are_accepted(project: Path) -> None:
    """A 1000-item list passes as an env value and as an argument; commas inside a quoted string
    are text, not items, however many."""
    at_limit = "[" + ",".join(items(MAX_ELEMENTS)) + "]"
    passes(project, env={"LIM__DB__DRIVER": at_limit})
    passes(project, f"db.driver={at_limit}")
    passes(project, "db.driver='" + ",".join(items(30_000)) + "'")
    passes(project, env={"LIM__DB__DRIVER": ",".join(items(30_000))})  # a YAML string, one value


def bomb(levels: int, kind: str) -> str:
    """'Billion laughs': each level repeats the one before nine times through aliases, so the
    last one stands for 9**levels values (3.5 billion at ten levels)."""
    if kind == "lists":
        lines = [f"l0: &l0 [{', '.join([SECRET] * 9)}]"]
        repeat = "[{0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}]"
    else:
        lines = [f"l0: &l0 {{{', '.join(f'k{i}: {SECRET}' for i in range(9))}}}"]
        repeat = "{{" + ", ".join(f"k{i}: {{0}}" for i in range(9)) + "}}"
    lines += [f"l{n}: &l{n} " + repeat.format(f"*l{n - 1}") for n in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("kind", "line"), [("lists", 7), ("mappings", 6)])
def test_a_file_whose_aliases_expand_without_bound_is_refused_at_the_line(
    project: Path, kind: str, line: int
) -> None:
    """A 'billion laughs' file (OmegaConf copied every repeat: a minute at six levels, nine
    times that per level more) is refused at file:line:column of the first value that
    expands past the limit."""
    (project / "conf/db/sqlite.yaml").write_text("driver: sqlite\n" + bomb(10, kind))
    err = fails(project)
    # l5 stands for 9**6 lists (l4 for 9**5 mappings): the first past 100,000 nodes, at line 7 (6)
    assert f"conf/db/sqlite.yaml:{line}:5: through YAML aliases this value stands for more than" in err
    assert "write the repeated values out" in err and SECRET not in err


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("pool: &a [*a]\n", "2:7"),
        ("pool: &a {x: *a}\n", "2:7"),
        ("pool: &a [1, [2, {x: *a}]]\n", "2:7"),
        ("pool: &a\n  x:\n    - *a\n", "2:7"),
    ],
)
def test_a_file_value_that_contains_itself_is_refused_at_its_line(project: Path, text: str, where: str) -> None:
    """A YAML alias inside the node it names is refused at file:line:column of that node."""
    (project / "conf/db/sqlite.yaml").write_text("driver: sqlite\n" + text)
    err = fails(project)
    assert f"conf/db/sqlite.yaml:{where}: mappings and lists nest more than 32 levels" in err
    assert "refers to itself through a YAML alias" in err


@pytest.mark.parametrize("value", ["&a [*a]", "&a {x: *a}", "&a [1, [2, {x: *a}]]", bomb(10, "lists")])
def test_an_env_value_with_self_reference_or_alias_bomb_is_refused_naming_the_variable(
    project: Path, value: str
) -> None:
    """An env value that refers to itself or expands without bound through aliases is refused
    naming the variable, unshown (the nesting check walked all 3.5 billion repeats)."""
    err = fails(project, env={"LIM__DB__DRIVER": value})
    assert "env var LIM__DB__DRIVER: " in err and SECRET not in err and "*a" not in err


NESTINGS = {
    "lists": ("[", "]"),
    "mappings": ("{a: ", "}"),
    "lists of mappings": ("[{a: ", "}]"),
    "unclosed lists": ("[", ""),
}


@pytest.mark.parametrize(("open_", "close"), NESTINGS.values(), ids=NESTINGS.keys())
def test_a_megabyte_of_flow_nesting_is_refused_at_once(project: Path, open_: str, close: str) -> None:
    """A file that nests flow collections to the size limit (PyYAML's scanner is quadratic in
    them: 20 s to scan 20,000 levels) is refused in the scanner, at file:line:column of the
    level past the limit (a RecursionError, a few hundred levels in, said only the file)."""
    count = (FILE_LIMIT - 100) // (len(open_) + len(close))
    (project / "conf/db/sqlite.yaml").write_text("pool: " + open_ * count + close * count + "\n")
    err = fails(project)
    assert re.search(r"conf/db/sqlite\.yaml:1:\d+: mappings and lists nest more than 32 levels", err), err


def test_deep_block_nesting_is_refused_at_its_line(project: Path) -> None:
    """Block mappings nested thousands deep are refused at the line that passes the limit."""
    text = "".join("  " * level + f"k{level}:\n" for level in range(1000)) + "  " * 1000 + "end\n"
    (project / "conf/db/sqlite.yaml").write_text(text)  # just under the 1 MiB size limit
    err = fails(project)
    # the root mapping is level 1 (line 1), so line 33 starts the 33rd
    assert "conf/db/sqlite.yaml:33:" in err and "nest more than 32 levels" in err


def test_aliases_that_repeat_a_few_values_still_work(project: Path) -> None:
    """Ordinary aliases and merge keys keep working: a block of settings reused a few times."""
    (project / "conf/db/sqlite.yaml").write_text(
        "base: &base {host: h, port: 1, tags: [a, b]}\n"
        "primary: *base\n"
        "replica: {<<: *base, port: 2}\n"
        "driver: sqlite\n"
    )
    result = integrate("explain", "db.replica.port", cwd=project, timeout=30)
    assert result.returncode == 0, result.stderr[-2000:]
    passes(project)


def test_run_refuses_unbounded_input_at_launch(project: Path) -> None:
    """`integrate run` refuses each kind of unbounded input at launch just as `check` does."""
    long_list = "[" + ",".join(items(30_000)) + "]"
    assert "env var LIM__DB__DRIVER: more than" in fails(project, env={"LIM__DB__DRIVER": long_list}, verb="run")
    assert "argument db.driver=...: more than" in fails(project, f"db.driver={long_list}", verb="run")
    (project / "conf/db/sqlite.yaml").write_text("driver: sqlite\n" + bomb(10, "lists"))
    assert "conf/db/sqlite.yaml:7:5: through YAML aliases" in fails(project, verb="run")


RELOAD = """
import os, sys
from pathlib import Path
from framework.assembly import load_config
from framework.config.compose import ConfigSource
from framework.config.recompose import recompose
from framework.errors import CompositionError

conf, edit = Path(sys.argv[1]), sys.argv[2]
source = ConfigSource(conf, environ={})
before = load_config(source)
os.replace(edit, conf / "db/sqlite.yaml")
assert recompose(before.composition, source) is None, "the fast path re-merged it"
try:
    load_config(source, previous=before)
except CompositionError as error:
    print(error)
"""


@pytest.mark.parametrize(
    "text",
    [bomb(10, "lists"), "pool: &a [*a]\n", "pool: " + "[" * 500_000 + "\n"],
    ids=["alias bomb", "self-reference", "half a megabyte of ["],
)
def test_a_reload_refuses_what_a_launch_refuses(project: Path, text: str) -> None:
    """An edit made while the app runs meets the same limits: re-merging the edited file (a
    reload's fast path, where OmegaConf copied every repeat of a ten-level bomb) gives up on it, and
    the full compose names file:line:column. In a subprocess, so a regression fails in 20 s."""
    edit = project / "edit.yaml"
    edit.write_text("driver: sqlite\n" + text)
    result = subprocess.run(
        [sys.executable, "-c", RELOAD, str(project / "conf"), str(edit)], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"conf/db/sqlite\.yaml:\d+:\d+: ", result.stdout), result.stdout
