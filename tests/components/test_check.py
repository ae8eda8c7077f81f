"""`integrate check` refuses every wiring mistake before anything starts, naming the cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.container import RESERVED
from framework.testing import integrate
from tests.components.conftest import make_app


def check_fails(project: Path, components: str, app_extra: str = "") -> str:
    make_app(project, components, app_extra)
    result = integrate("check", cwd=project)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("components", "expected"),
    [
        (
            "  a:\n    class: os.system\n",
            "components.a.class: 'os.system' is outside the allowed packages (fx); importing it would run its code",
        ),
        (
            "  a:\n    class: fx.broken.Thing\n",
            "components.a.class: importing module 'fx.broken' failed: ModuleNotFoundError",
        ),
        ("  a:\n    class: fx.not_a_class\n", "components.a.class: 'fx.not_a_class' is a int, not a class"),
        ("  a:\n    class: fx.Prob\n", "module 'fx' has no 'Prob'; did you mean 'Probe'?"),
        (
            "  a:\n    class: fx.NeedsUnknown\n",
            "components.a: constructor parameter 'database' of NeedsUnknown matches no dependency",
        ),
        (
            "  a:\n    class: fx.Probe\n    depends_on: [b]\n  b:\n    class: fx.Probe\n    depends_on: [c]\n"
            "  c:\n    class: fx.Probe\n    depends_on: [a]\n",
            "dependency cycle: a -> b -> c -> a",
        ),
        (
            "  a:\n    class: fx.Probe\n    depends_on: [ghost]\n",
            "components.a.depends_on: 'ghost' is not a component",
        ),
        (
            "  a:\n    class: fx.Probe\n    depends_on: [b]\n  b:\n    class: fx.Probe\n    enabled: false\n",
            "components.a.depends_on: 'b' is disabled (components.b.enabled is false); 'a' needs it",
        ),
        (
            "  a:\n    class: fx.Probe\n    depends_on: [b>=2]\n  b:\n    class: fx.Probe\n",
            "components.a.depends_on: 'b>=2' is not satisfied: 'b' has version 1.5.0",
        ),
        (
            "  rude:\n    class: fx.Rude\n",
            "component 'rude' (Rude) violates contract Greeter: method 'greet' must be async",
        ),
        (
            "  friend:\n    class: fx.Probe\n  caller:\n    class: fx.Caller\n    depends_on: [friend]\n",
            "component 'friend' (Probe) violates contract Greeter: method 'greet' is missing (required by 'caller')",
        ),
    ],
)
def test_wiring_mistakes_are_named(project: Path, components: str, expected: str) -> None:
    """Each wiring mistake is reported with the component and the cause."""
    assert expected in check_fails(project, components)


def test_initialization_order_contradicting_a_dependency(project: Path) -> None:
    """An initialization_order that puts a dependent first explains the edge."""
    err = check_fails(
        project,
        "  a:\n    class: fx.Probe\n    depends_on: [b]\n  b:\n    class: fx.Probe\n",
        "  initialization_order: [a, b]\n",
    )
    assert "app.initialization_order puts 'a' before 'b', but 'a' depends on 'b' (a -> b)" in err


def test_all_wiring_problems_reported_together(project: Path) -> None:
    """Several problems come out in one run."""
    err = check_fails(
        project,
        "  a:\n    class: fx.Probe\n    depends_on: [ghost, b]\n"
        "  b:\n    class: fx.Probe\n    enabled: false\n",
    )
    assert "cannot build the components (2 problems)" in err


def test_contract_satisfied_and_disabled_components_ignored(project: Path) -> None:
    """A satisfied contract and a disabled component with a bad class pass the check."""
    make_app(
        project,
        "  friend:\n    class: fx.Friendly\n  caller:\n    class: fx.Caller\n"
        "    depends_on: [friend]\n  off:\n    class: fx.Missing\n    enabled: false\n",
    )
    result = integrate("check", cwd=project)
    assert result.returncode == 0, result.stderr


def test_component_config_is_validated_by_its_class_schema(project: Path) -> None:
    """A component's config is checked against its class's schema, with file:line."""
    err = check_fails(
        project, "  a:\n    class: fx.Probe\n    config:\n      start_delay: soon\n      bogus: 1\n"
    )
    assert "components.a.config.start_delay: must be of type number (got 'soon') [conf/config.yaml:10]" in err
    assert "components.a.config.bogus: unknown key" in err


def test_a_component_name_that_is_no_identifier_is_refused_where_it_is_written(project: Path) -> None:
    """A name with a dot, a dash, a space or a leading digit is refused at load, with its file:line."""
    written = ['"my.feed"', "my-feed", "9lives", '"two words"', "1"]
    entries = "".join(f"  {text}:\n    class: fx.Probe\n" for text in ["ok", *written])
    err = check_fails(project, entries)  # components: at line 6, each entry's class a line below its name
    assert err.startswith(f"error: invalid configuration ({len(written)} problems):\n")
    for index, text in enumerate(written, start=1):
        name = text.strip('"')
        got = repr(name) if text != "1" else "1"  # YAML reads 1 as an integer
        assert (
            f"  components.{name}: a component name must be an identifier (letters, digits and _, not starting"
            " with a digit): its dependents receive it as a constructor parameter and dotted keys address it"
            f" (got {got}) [conf/config.yaml:{8 + 2 * index}]\n"
        ) in err


def test_a_component_named_like_a_framework_service_is_refused(project: Path) -> None:
    """No component may take a name a constructor parameter uses for a framework service."""
    err = check_fails(project, "".join(f"  {name}:\n    class: fx.Probe\n" for name in RESERVED))
    assert f"cannot build the components ({len(RESERVED)} problems)" in err
    for name in RESERVED:
        assert (
            f"  components.{name}: the name '{name}' is reserved: a constructor parameter '{name}' receives"
            f" the framework's own; rename the component (reserved: {', '.join(RESERVED)})\n"
        ) in err


def test_component_dirs_are_scanned(project: Path) -> None:
    """A class in a folder listed in app.component_dirs resolves without allowed_packages."""
    (project / "plugins").mkdir()
    (project / "plugins" / "extra.py").write_text(
        "class Thing:\n    def start(self): pass\n    def stop(self): pass\n"
    )
    make_app(project, "  t:\n    class: extra.Thing\n", "  component_dirs: [plugins]\n")
    result = integrate("check", cwd=project)
    assert result.returncode == 0, result.stderr
