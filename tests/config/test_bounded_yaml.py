"""`load_yaml` reads what PyYAML reads, and refuses, where it starts, what would not end.

Each refusal is checked at sizes that ran for minutes or more before (a subprocess with a
timeout turns a regression into a failure instead of a hang), and always names the place.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml
from omegaconf._utils import get_yaml_loader

from framework.config.bounded_yaml import MAX_ALIAS_NODES, YamlLimitError, load_yaml
from framework.config.plain import MAX_DEPTH


def refused(text: str) -> YamlLimitError:
    with pytest.raises(YamlLimitError) as caught:
        load_yaml(text, "x.yaml")
    return caught.value


def test_values_are_read_as_the_loader_reads_them() -> None:
    """Plain YAML, aliases and merge keys give what the loader alone gives; empty is None."""
    text = "base: &b {host: h, port: 1}\nuse: *b\nmore: {<<: *b, port: 2}\nlist: [1, 2.5, x, null]\n"
    assert load_yaml(text, "x.yaml") == yaml.safe_load(text)
    assert load_yaml("", "x.yaml") is None and load_yaml("# nothing\n", "x.yaml") is None


def test_the_given_loader_keeps_its_own_rules() -> None:
    """OmegaConf's loader still refuses a duplicate key, naming the source in the mark."""
    with pytest.raises(yaml.YAMLError, match="found duplicate key a") as caught:
        load_yaml("a: 1\na: 2\n", "conf/x.yaml", get_yaml_loader())
    assert caught.value.problem_mark.name == "conf/x.yaml"  # type: ignore[attr-defined]


def chained(levels: int, kind: str) -> str:
    """Each level repeats the one before nine times through aliases."""
    first = "[" + ", ".join(["v"] * 9) + "]" if kind == "lists" else "{" + ", ".join(f"k{i}: v" for i in range(9)) + "}"
    repeat = {
        "lists": "[{0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}]",
        "mappings": "{{" + ", ".join(f"k{i}: {{0}}" for i in range(9)) + "}}",
        "merge keys": "{{<<: [{0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}]}}",
    }[kind]
    lines = [f"l0: &l0 {first}"] + [f"l{n}: &l{n} " + repeat.format(f"*l{n - 1}") for n in range(1, levels)]
    return "\n".join(lines) + "\n"


# The first level that stands for more than 100,000 nodes: l5 (9**6 lists), l4 (mappings).
FIRST_PAST = {"lists": 6, "mappings": 5, "merge keys": 5}


@pytest.mark.parametrize("kind", FIRST_PAST)
def test_aliases_that_expand_past_the_limit_are_refused_at_the_first_such_value(kind: str) -> None:
    """Twelve levels of nine repeats (a merge key copies every entry too) are refused at the
    first level that stands for more than MAX_ALIAS_NODES nodes beyond those written."""
    error = refused(chained(12, kind))
    assert f"over {MAX_ALIAS_NODES} more than the text writes out" in error.problem
    assert error.where()[0] == FIRST_PAST[kind]  # the line of that level
    assert load_yaml(chained(4, kind), "x.yaml")["l3"]  # 9**4 values: well within


@pytest.mark.parametrize(
    ("text", "where"),
    [("a: &a [*a]", (1, 4)), ("a: &a {x: [1, *a]}", (1, 4)), ("a: &a\n  b:\n    - c: *a\n", (1, 4))],
)
def test_an_alias_inside_the_node_it_names_is_refused_there(text: str, where: tuple[int, int]) -> None:
    """A value that contains itself is refused at the node the alias names."""
    error = refused(text)
    assert error.where() == where and "refers to itself through a YAML alias" in error.problem


def test_aliases_that_stack_past_the_depth_limit_are_refused() -> None:
    """Two values of 20 levels, one holding the other through an alias, nest 40 deep."""
    error = refused("a: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n")
    # b's 8th list holds 13 of its own and 20 of a's: the first past 32 levels
    assert "once its YAML aliases are expanded" in error.problem and error.where() == (2, 11)


BLOCK_32 = "".join("  " * n + f"k{n}:\n" for n in range(31)) + "  " * 31 + "k31: v\n"


@pytest.mark.parametrize("text", ["[" * MAX_DEPTH + "]" * MAX_DEPTH, BLOCK_32], ids=["flow", "block"])
def test_nesting_at_the_limit_is_read(text: str) -> None:
    """Flow or block nesting of exactly MAX_DEPTH levels, the root included, is read; one
    level more is refused."""
    assert load_yaml(text, "x.yaml") is not None
    deeper = "[" + text + "]" if text.startswith("[") else "top:\n" + textwrap.indent(text, "  ")
    assert f"nest more than {MAX_DEPTH} levels" in refused(deeper).problem


def run_in_subprocess(code: str) -> str:
    """Run ``code`` in a fresh interpreter; fail (not hang) when it takes more than 20 s."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize(
    "text", ['"[" * 1_000_000', '"{a: " * 250_000', '"[{a: " * 200_000', '"".join("  " * n + "k:\\n" for n in range(1000))']
)
def test_nesting_to_a_megabyte_is_refused_at_once(text: str) -> None:
    """Flow nesting (quadratic in PyYAML's scanner) and block nesting (a RecursionError in its
    composer) up to a megabyte are refused at the level past the limit, in a moment."""
    out = run_in_subprocess(
        f"""
        from framework.config.bounded_yaml import YamlLimitError, load_yaml
        try:
            load_yaml({text}, "x.yaml")
        except YamlLimitError as error:
            print(error.where(), error.problem)
        """
    )
    assert f"nest more than {MAX_DEPTH} levels" in out
