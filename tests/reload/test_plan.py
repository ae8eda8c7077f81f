"""The reload plan, called directly: diff, shadowed edits and one action per affected target.

Snapshots and assemblies are the real ones, composed from a config dir and checked the way a
reload checks its candidate; the component classes below are what that config names.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from framework.assembly import Assembly, assemble, framework_sections, load_config
from framework.config.compose import ConfigSource
from framework.config.snapshot import Snapshot
from framework.errors import ConfigError
from framework.reload.outcome import ActionKind, ConfigChange, ShadowedEdit
from framework.reload.plan import diff, plan_reload, shadowed_edits

HERE = __name__  # components below are named by this module's dotted path


class Plain:
    """No on_config_change: any change to its config restarts it."""

    version = "1.0.0"
    config_schema = {
        "value": {"type": "integer", "default": 0},
        "label": {"type": "string", "default": "x"},
        "tags": {"type": "list", "default": []},
        "nested": {"type": "dict", "default": {}, "allow_unknown": True},
        "mode": {"type": "string", "default": "a", "reload": "restart"},
        "speed": {"type": "integer", "default": 1, "reload": "restart"},
        "pinned": {"type": "string", "default": "p", "reload": "never"},
        "token": {"type": "string", "nullable": True, "default": None, "secret": True},
    }

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Live(Plain):
    """Takes live changes through on_config_change."""

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None: ...


def entry(name: str, cls: str = "Live", depends_on: str = "", enabled: bool | None = None, **config: Any) -> str:
    """The YAML of one `components.<name>` entry; config given as keyword arguments."""
    lines = [f"  {name}:", f"    class: {HERE}.{cls}"]
    if depends_on:
        lines.append(f"    depends_on: [{depends_on}]")
    if enabled is not None:
        lines.append(f"    enabled: {str(enabled).lower()}")
    if config:
        lines += ["    config:", *(f"      {key}: {value}" for key, value in config.items())]
    return "\n".join(lines) + "\n"


def config(*entries: str, app: str = "", extra: str = "") -> str:
    """config.yaml: the app section (plus `app` lines), the components, then `extra` sections."""
    return (
        "app:\n  name: planning\n  env_prefix: PLAN\n"
        f"  allowed_packages: [{HERE}]\n{app}"
        + ("components:\n" + "".join(entries) if entries else "")
        + extra
    )


# Listed dependents first: the start order (a, b, c, d) comes from the dependencies, not the YAML.
CHAIN = (entry("c", "Plain", "b", value=1), entry("b", depends_on="a", value=1), entry("a", value=1), entry("d", value=1))


Row = tuple[str, str, tuple[str, ...], str]


@dataclass
class Project:
    """A config dir whose config.yaml a test rewrites; each load is a real compose and assembly."""

    conf: Path
    overrides: tuple[str, ...] = ()
    environ: dict[str, str] = field(default_factory=dict)

    def load(self, text: str, version: int = 1) -> tuple[Snapshot, Assembly]:
        (self.conf / "config.yaml").write_text(text)
        source = ConfigSource(self.conf, overrides=self.overrides, environ=self.environ)
        snapshot = load_config(source, version)
        return snapshot, assemble(snapshot)

    def changes(self, before: str, after: str) -> list[ConfigChange]:
        current, _ = self.load(before)
        candidate, _ = self.load(after, 2)
        return diff(current, candidate)

    def plan(
        self, before: str, after: str, failed: Collection[str] = (), sections: Collection[str] | None = None
    ) -> list[Row]:
        """The plan for going from ``before`` to ``after``, as (kind, target, keys, reason) rows."""
        current, running = self.load(before)
        candidate, assembly = self.load(after, 2)
        actions = plan_reload(
            current,
            running,
            candidate,
            assembly,
            diff(current, candidate),
            sections=framework_sections() if sections is None else sections,
            failed=failed,
        )
        return [(a.kind.value, a.target, a.keys, a.reason) for a in actions]

    def where(self, text: str, needle: str) -> str:
        """`<config.yaml>:<line>` of the first line of ``text`` holding ``needle``."""
        line = next(i for i, row in enumerate(text.splitlines(), 1) if needle in row)
        return f"{self.conf / 'config.yaml'}:{line}"


@pytest.fixture
def project(config_dir: Path) -> Project:
    return Project(config_dir)


# --- diff ---


def test_diff_lists_changed_added_and_removed_leaves_in_key_order(project: Project) -> None:
    """A changed, an added and a removed leaf each appear once, sorted by key, with both sides."""
    before = config(entry("a"), extra="service:\n  port: 1\n  gone: x\n")
    after = config(entry("a"), extra="service:\n  port: 2\n  added: y\n")
    assert project.changes(before, after) == [
        ConfigChange("service.added", None, "y", "added"),
        ConfigChange("service.gone", "x", None, "removed"),
        ConfigChange("service.port", 1, 2, "changed"),
    ]


def test_diff_names_nested_leaves_by_their_full_key(project: Project) -> None:
    """A change deep in a mapping is one change at the leaf's dotted key, nothing above it."""
    before = config(entry("a", nested="{db: {pool: {size: 1, idle: 2}}}"))
    after = config(entry("a", nested="{db: {pool: {size: 5, idle: 2}}}"))
    assert project.changes(before, after) == [ConfigChange("components.a.config.nested.db.pool.size", 1, 5)]


def test_diff_treats_a_list_as_one_value(project: Project) -> None:
    """A list is a leaf: an edited item gives one change holding both whole lists."""
    before = config(entry("a", tags="[x, y]"))
    assert project.changes(before, config(entry("a", tags="[x, z]"))) == [
        ConfigChange("components.a.config.tags", ["x", "y"], ["x", "z"])
    ]
    assert project.changes(before, config(entry("a", tags="[x, y]"))) == []


def test_diff_sees_a_change_of_type_with_an_equal_value(project: Project) -> None:
    """1 -> true and 1 -> 1.0 compare equal in Python but are changes of the config."""
    before = config(extra="service:\n  flag: 1\n  ratio: 1\n")
    after = config(extra="service:\n  flag: true\n  ratio: 1.0\n")
    assert project.changes(before, after) == [
        ConfigChange("service.flag", 1, True),
        ConfigChange("service.ratio", 1, 1.0),
    ]


def test_diff_of_a_mapping_replaced_by_a_scalar(project: Project) -> None:
    """A mapping that becomes a scalar removes its leaves and adds the scalar."""
    before = config(extra="service:\n  db:\n    host: h\n    port: 1\n")
    after = config(extra="service:\n  db: sqlite\n")
    assert project.changes(before, after) == [
        ConfigChange("service.db", None, "sqlite", "added"),
        ConfigChange("service.db.host", "h", None, "removed"),
        ConfigChange("service.db.port", 1, None, "removed"),
    ]


def test_diff_of_a_key_dropped_from_the_yaml_is_its_schema_default(project: Project) -> None:
    """Deleting a key a schema defaults changes it to the default; it is not removed."""
    assert project.changes(config(entry("a", value=5)), config(entry("a"))) == [
        ConfigChange("components.a.config.value", 5, 0)
    ]


def test_diff_masks_secret_values(project: Project) -> None:
    """A secret key's change is reported with both values masked."""
    changes = project.changes(config(entry("a", token="hunter2")), config(entry("a", token="swordfish")))
    assert changes == [ConfigChange("components.a.config.token", "***", "***")]


def test_diff_of_identical_configs_is_empty(project: Project) -> None:
    """The same config composed twice differs in nothing."""
    assert project.changes(config(*CHAIN), config(*CHAIN)) == []


# --- shadowed edits ---


def test_an_edit_under_an_env_var_is_shadowed_not_changed(project: Project) -> None:
    """A file edit to a key an env var sets is no change; it is a shadowed edit naming the env var."""
    project.environ = {"PLAN__COMPONENTS__A__CONFIG__VALUE": "7"}
    before, after = config(entry("a", value=1, label="l")), config(entry("a", value=2, label="l"))
    current, _ = project.load(before)
    candidate, _ = project.load(after, 2)
    assert diff(current, candidate) == []
    assert shadowed_edits(current, candidate) == [
        ShadowedEdit(
            "components.a.config.value",
            project.where(after, "value: 2"),
            "env PLAN__COMPONENTS__A__CONFIG__VALUE",
            "env",
        )
    ]


def test_an_edit_under_a_launch_override_is_shadowed(project: Project) -> None:
    """A command-line override wins over the edited file; only edited keys are reported."""
    project.overrides = ("service.port=9", "service.host=cli")
    before = config(extra="service:\n  port: 1\n  host: h\n")
    after = config(extra="service:\n  port: 2\n  host: h\n")
    current, _ = project.load(before)
    candidate, _ = project.load(after, 2)
    assert shadowed_edits(current, candidate) == [
        ShadowedEdit("service.port", project.where(after, "port: 2"), "argument service.port=9", "command line")
    ]


def test_an_edit_no_higher_layer_overrides_is_not_shadowed(project: Project) -> None:
    """With no env var or override on the key, an edit is a change, never a shadowed edit."""
    project.environ = {"PLAN__SERVICE__HOST": "env"}
    current, _ = project.load(config(extra="service:\n  port: 1\n  host: h\n"))
    candidate, _ = project.load(config(extra="service:\n  port: 2\n  host: h\n"), 2)
    assert shadowed_edits(current, candidate) == []
    assert [c.key for c in diff(current, candidate)] == ["service.port"]


# --- plan: components ---


def test_a_live_key_of_a_component_with_on_config_change_reconfigures_it(project: Project) -> None:
    """Changed live keys of a component with on_config_change are handed to it, nothing restarts."""
    before = config(*CHAIN)
    after = config(CHAIN[0], CHAIN[1], entry("a", value=2, label="new"), CHAIN[3])
    assert project.plan(before, after) == [
        (
            "reconfigure",
            "a",
            ("components.a.config.label", "components.a.config.value"),
            "live keys changed",
        )
    ]


def test_a_config_change_restarts_a_component_without_on_config_change(project: Project) -> None:
    """A component that cannot take a change live is restarted, saying why."""
    assert project.plan(config(entry("a", "Plain", value=1)), config(entry("a", "Plain", value=2))) == [
        ("restart", "a", ("components.a.config.value",), "its config changed and it has no on_config_change")
    ]


@pytest.mark.parametrize(
    "edits, reason",
    [
        ({"mode": "b"}, "components.a.config.mode is reload: restart"),
        ({"mode": "b", "speed": 2}, "components.a.config.mode, components.a.config.speed are reload: restart"),
    ],
)
def test_a_restart_key_restarts_even_a_live_component(project: Project, edits: dict[str, Any], reason: str) -> None:
    """A `reload: restart` key restarts a component that has on_config_change."""
    rows = project.plan(config(entry("a")), config(entry("a", **edits)))
    assert [(kind, target, why) for kind, target, _, why in rows] == [("restart", "a", reason)]


def test_a_changed_class_restarts_the_component(project: Project) -> None:
    """A new class for a component is a restart naming both classes."""
    rows = project.plan(config(entry("a", "Plain")), config(entry("a", "Live")))
    assert rows == [
        (
            "restart",
            "a",
            ("components.a.class",),
            f"its class changed ({HERE}.Plain -> {HERE}.Live)",
        )
    ]


def test_a_changed_depends_on_restarts_the_component(project: Project) -> None:
    """depends_on is reload: restart: the component is rebuilt on its new dependencies."""
    before = config(entry("a"), entry("b"), entry("c"))
    after = config(entry("a"), entry("b"), entry("c", depends_on="a"))
    assert project.plan(before, after) == [
        ("restart", "c", ("components.c.depends_on",), "components.c.depends_on is reload: restart")
    ]


def test_the_dependents_of_a_restart_restart_too_in_start_order(project: Project) -> None:
    """What depends on a restarting component, directly or not, restarts after it, in start order;
    a dependent's own live change becomes part of its restart, and independents are untouched."""
    before = config(*CHAIN)
    after = config(
        entry("c", "Plain", "b", value=1),
        entry("b", depends_on="a", value=2),
        entry("a", value=1, mode="z"),
        entry("d", value=2),
    )
    assert project.plan(before, after) == [
        ("reconfigure", "d", ("components.d.config.value",), "live keys changed"),
        ("restart", "a", ("components.a.config.mode",), "components.a.config.mode is reload: restart"),
        ("restart", "b", ("components.b.config.value",), "it depends on 'a', which restarts"),
        ("restart", "c", (), "it depends on 'b', which restarts"),
    ]


def test_a_failed_component_restarts_with_its_dependents(project: Project) -> None:
    """A running component left failed is started again by any reload, and so are its dependents."""
    before = config(*CHAIN, extra="service:\n  port: 1\n")
    after = config(*CHAIN, extra="service:\n  port: 2\n")
    assert project.plan(before, after, failed=["b"]) == [
        ("restart", "b", (), "it had failed; starting it again"),
        ("restart", "c", (), "it depends on 'b', which restarts"),
    ]


def test_an_added_component_starts_and_an_enabled_one_starts(project: Project) -> None:
    """A new entry starts ('added to the config'); an entry turned on starts ('enabled'),
    in start order, and neither one's keys are judged by their reload policy."""
    before = config(entry("a"), entry("idle", enabled=False))
    after = config(entry("new", depends_on="idle", pinned="q"), entry("a"), entry("idle", enabled=True))
    assert project.plan(before, after) == [
        ("start", "idle", (), "enabled"),
        ("start", "new", (), "added to the config"),
    ]


def test_removed_and_disabled_components_stop_in_reverse_start_order(project: Project) -> None:
    """A removed entry stops ('removed from the config'), a disabled one ('disabled'); dependents first."""
    before = config(*CHAIN)
    after = config(entry("c", "Plain", "b", value=1, enabled=False), entry("a", value=1, pinned="q"), entry("d", value=1))
    assert project.plan(before, after) == [
        (
            "reject",
            "a",
            ("components.a.config.pinned",),
            f"components.a.config.pinned is reload: never ({project.where(after, 'pinned: q')});"
            " restart the process to apply it",
        ),
        ("stop", "c", (), "disabled"),
        ("stop", "b", (), "removed from the config"),
    ]


def test_changes_to_a_component_that_stays_off_need_nothing(project: Project) -> None:
    """A disabled component's edits, reload: never keys included, plan no action."""
    before = config(entry("a"), entry("idle", enabled=False, value=1))
    after = config(entry("a"), entry("idle", enabled=False, value=2, pinned="q"))
    assert project.plan(before, after) == []


def test_a_never_key_of_a_running_component_is_rejected_with_its_origin(project: Project) -> None:
    """A `reload: never` key cannot change while running: the plan holds a reject naming file and line."""
    after = config(entry("a", pinned="q"))
    assert project.plan(config(entry("a")), after) == [
        (
            "reject",
            "a",
            ("components.a.config.pinned",),
            f"components.a.config.pinned is reload: never ({project.where(after, 'pinned: q')});"
            " restart the process to apply it",
        )
    ]


# --- plan: framework sections ---


def test_a_live_key_of_a_framework_section_reconfigures_the_section(project: Project) -> None:
    """logging.level is live: the logging section is reconfigured with the changed key."""
    before = config(entry("a"), extra="logging:\n  level: INFO\n")
    after = config(entry("a"), extra="logging:\n  level: DEBUG\n")
    assert project.plan(before, after) == [("reconfigure", "logging", ("logging.level",), "live keys changed")]


def test_a_live_key_of_the_app_section_is_a_reconfigure_of_app(project: Project) -> None:
    """app.start_timeout is live: the plan reconfigures the app section and restarts nothing."""
    before = config(*CHAIN, app="  start_timeout: 5\n")
    after = config(*CHAIN, app="  start_timeout: 6\n")
    assert project.plan(before, after) == [("reconfigure", "app", ("app.start_timeout",), "live keys changed")]


def test_a_never_key_of_the_app_section_is_rejected(project: Project) -> None:
    """app.name is reload: never; its reject targets the app section."""
    after = config(entry("a")).replace("name: planning", "name: renamed")
    assert project.plan(config(entry("a")), after) == [
        (
            "reject",
            "app",
            ("app.name",),
            f"app.name is reload: never ({project.where(after, 'name: renamed')}); restart the process to apply it",
        )
    ]


def test_a_restart_key_of_a_section_rebuilt_only_with_the_process_is_rejected(project: Project) -> None:
    """A `reload: restart` key of a section other than app (event_bus.queue_size) is rejected."""
    before = config(entry("a"), extra="event_bus:\n  queue_size: 10\n")
    after = config(entry("a"), extra="event_bus:\n  queue_size: 20\n")
    assert project.plan(before, after) == [
        (
            "reject",
            "event_bus",
            ("event_bus.queue_size",),
            f"event_bus.queue_size is reload: restart ({project.where(after, 'queue_size: 20')}), and the"
            " event_bus is rebuilt only with the process; restart the process to apply it",
        )
    ]


def test_a_restart_key_of_the_app_section_restarts_every_component(project: Project) -> None:
    """app.initialization_order is reload: restart: every running component restarts, in start order."""
    before = config(*CHAIN)
    after = config(*CHAIN, app="  initialization_order: [d]\n")
    rows = project.plan(before, after)
    reason = "app.initialization_order is reload: restart; every component restarts"
    assert rows == [("restart", name, (), reason) for name in ("d", "a", "b", "c")]


def test_keys_outside_the_framework_sections_plan_nothing(project: Project) -> None:
    """A top-level key the framework does not read is a change with no action; so is a section not handed in."""
    before = config(entry("a"), extra="service:\n  port: 1\nlogging:\n  level: INFO\n")
    after = config(entry("a"), extra="service:\n  port: 2\nlogging:\n  level: DEBUG\n")
    assert project.plan(before, after) == [("reconfigure", "logging", ("logging.level",), "live keys changed")]
    assert project.plan(before, after, sections={"app"}) == []


def test_the_plan_lists_rejects_sections_reconfigures_stops_restarts_then_starts(project: Project) -> None:
    """One reload touching everything lists its actions in the order they apply."""
    before = config(
        entry("keep", value=1), entry("gone"), entry("rs", "Plain", value=1), entry("dep", "Plain", "rs"),
        extra="logging:\n  level: INFO\n",
    )
    after = config(
        entry("fresh"), entry("dep", "Plain", "rs"), entry("rs", "Plain", value=2), entry("keep", value=2, pinned="q"),
        extra="logging:\n  level: DEBUG\n",
    )
    rows = project.plan(before, after)
    assert [(kind, target) for kind, target, _, _ in rows] == [
        ("reject", "keep"),
        ("reconfigure", "logging"),
        ("reconfigure", "keep"),
        ("stop", "gone"),
        ("restart", "rs"),
        ("restart", "dep"),
        ("start", "fresh"),
    ]
    # every kind but extend, which needs extension points: tests/components/test_extensions.py
    assert {kind for kind, *_ in rows} == {k.value for k in ActionKind} - {"extend"}


def test_a_component_with_a_dot_in_its_name_is_planned_like_any_other(project: Project) -> None:
    """A config change of component 'my.feed' (no on_config_change) restarts it, or the name is refused."""
    before = config(entry('"my.feed"', "Plain", value=1))
    after = config(entry('"my.feed"', "Plain", value=2))
    try:
        rows = project.plan(before, after)
    except ConfigError as exc:  # refusing such a name when the config loads is a fix too
        assert "my.feed" in str(exc)
        return
    assert [(kind, target) for kind, target, _, _ in rows] == [("restart", "my.feed")]
