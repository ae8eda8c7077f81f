"""Loading: compose -> provenance -> resolve interpolations -> validate -> snapshot."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.config.compose import Composition, ConfigSource, compose_config
from framework.config.cross_field import ConfigCheck, cross_field_problems
from framework.config.plain import is_unresolved, leaves, thaw
from framework.config.provenance import Provenance, trace
from framework.config.recompose import recompose
from framework.config.schema import (
    Problem,
    Reload,
    Schema,
    descriptions,
    normalize,
    reload_policies,
    secret_paths,
    walk_rules,
)
from framework.config.sections import COMPONENT_ENTRY_SCHEMA, COMPONENT_NAME
from framework.config.snapshot import Snapshot, combined_digest, freeze, unit_digests
from framework.config.units import COMPONENTS, touched_by, unit_of, unit_value
from framework.errors import SHOWN_PROBLEMS, InterpolationError, ValidationError, listed
from framework.secrets import MASK, is_secret, mask
from framework.types import KeyPath

# OmegaConf is imported where a composition's config is resolved or asked: one read from the
# composition cache with nothing to resolve comes as plain values, and needs no OmegaConf.
if TYPE_CHECKING:
    from omegaconf import DictConfig
    from omegaconf.errors import OmegaConfBaseException

    # A value that could not be resolved: its key, the error and the value as written.
    _Unresolved = tuple[KeyPath, OmegaConfBaseException, Any]

# The schema of one component's `config`, given its name, its entry and the `app` section;
# None when unknown (its class cannot be resolved: the wiring check reports why).
ComponentSchemas = Callable[[str, Mapping[str, Any], Mapping[str, Any]], Schema | None]
# Likewise its class's cross-field check (``validate_config``), None when it has none.
ComponentChecks = Callable[[str, Mapping[str, Any], Mapping[str, Any]], ConfigCheck | None]


def load_config(
    source: ConfigSource,
    sections: dict[str, Schema],
    component_schemas: ComponentSchemas | None = None,
    version: int = 1,
    previous: Composition | None = None,
    component_checks: ComponentChecks | None = None,
    *,
    digests: Mapping[str, bytes] | None = None,
    running: Snapshot | None = None,
) -> Snapshot:
    """Compose, resolve and validate the config; raise with every problem at once.

    ``sections``: the schema of each framework section, by top-level key. ``previous``: the
    running snapshot's composition; when only files without a defaults list were edited, those
    are re-merged instead of composing everything again (``digests``: each file's sha256 by its
    path in the config dir, as the reload's hash read it: a file whose content it vouches for is
    not read again). ``component_checks``: each component class's cross-field check, run on its
    config once its schema found nothing wrong. ``running``: the snapshot ``previous`` belongs
    to; when the re-merge touched only some units (framework.config.units), the others are
    taken from it as they are, and only the touched ones are traced, validated and hashed.
    """
    schemas = component_schemas or (lambda name, entry, app: None)
    checks = component_checks or (lambda name, entry, app: None)

    def known_key(dotted: str, config: DictConfig) -> bool:
        return _schema_has_key(dotted.split("."), config, sections, schemas)

    def secret_keys(tree: Mapping[str, Any]) -> set[KeyPath]:
        return _secret_paths(tree, sections, schemas)

    composition = (previous and recompose(previous, source, known_key, digests)) or compose_config(
        source, known_key, secret_keys
    )
    touched = _touched_units(composition, previous, running)
    if running is not None and touched is not None:
        try:
            return _reloaded(composition, running, touched, sections, (schemas, checks), version, secret_keys)
        except _Stale:
            pass
    tree, unresolved = (composition.resolved, []) if composition.resolved is not None else _resolve(composition.config)
    secrets = secret_keys(tree)  # before provenance: the arguments it names are stored masked
    provenance = trace(composition, Path.cwd(), secrets)
    if unresolved:
        shown = unresolved[:SHOWN_PROBLEMS]  # thousands of broken values still make one screen
        lines = listed(_unresolved(shown, provenance, secrets), len(unresolved) - len(shown))
        raise InterpolationError("\n".join(lines))
    data, policies = _validate(tree, provenance, sections, (schemas, checks), secrets)
    described = functools.partial(_descriptions, data, sections, schemas)
    return _snapshot(data, unit_digests(data), provenance, version, secrets, policies, described, composition)


class _Stale(Exception):
    """Raised when the running snapshot cannot stand in for the units an edit left alone."""


def _touched_units(
    composition: Composition, previous: Composition | None, running: Snapshot | None
) -> set[KeyPath] | None:
    """The units the edited files set (before or after the edit), when they are all that can
    differ from ``running``: its files re-merged with nothing to resolve, no override, the
    `app` section (which every component's schema depends on) left alone. Else None."""
    if running is None or previous is None or running.composition is not previous:
        return None
    if composition.resolved is None or composition.overrides or previous.overrides:
        return None
    if len(composition.files) != len(previous.files) or running.provenance.base != Path.cwd():
        return None
    touched = touched_by(previous.files, composition.files)
    return touched if touched is not None and ("app",) not in touched else None


def _reloaded(
    composition: Composition,
    running: Snapshot,
    touched: set[KeyPath],
    sections: dict[str, Schema],
    rules: tuple[ComponentSchemas, ComponentChecks],
    version: int,
    secret_keys: Callable[[Mapping[str, Any]], set[KeyPath]],
) -> Snapshot:
    """``load_config`` of a re-merge that touched only some units: those are traced,
    validated and hashed; every other one is the running snapshot's, shared as it is."""
    tree = composition.resolved
    assert tree is not None
    # The schemas' secret keys: the framework sections' (the same as before) and the touched
    # components' (found under the `app` section's rules); the others' stay as they were.
    entries = tree.get(COMPONENTS)
    named = {u[1] for u in touched if len(u) == 2} & set(entries if isinstance(entries, Mapping) else ())
    partial = {"app": tree.get("app"), COMPONENTS: {name: unit_value(tree, (COMPONENTS, name)) for name in named}}
    secrets = {path for path in running.secrets if unit_of(path) not in touched} | secret_keys(partial)
    provenance = trace(composition, Path.cwd(), secrets, reuse=(running.provenance, touched))
    data, policies = _revalidated(tree, running, touched, provenance, sections, rules, secrets)
    digests = unit_digests(data, reuse=(running.unit_digests, touched))
    described = functools.partial(_descriptions, data, sections, rules[0])
    return _snapshot(
        data, digests, provenance, version, secrets, policies, described, composition,
        changed_since=(running.digest, frozenset(touched)), inherited_secrets=running.secrets_by_unit,
    )


def _snapshot(
    data: dict[str, Any],
    digests: dict[KeyPath, str],
    provenance: Provenance,
    version: int,
    secrets: Collection[KeyPath],
    policies: Mapping[KeyPath, Reload],
    descriptions: Callable[[], dict[KeyPath, str]],
    composition: Composition,
    **reused: Any,
) -> Snapshot:
    """The snapshot of validated ``data``: frozen, with its digest made of its units' digests."""
    return Snapshot(
        data=freeze(data), provenance=provenance, version=version, digest=combined_digest(digests),
        unit_digests=digests, secrets=frozenset(secrets), reload_policy=policies,
        descriptions=descriptions, composition=composition, **reused,
    )


def _revalidated(
    tree: dict[str, Any],
    running: Snapshot,
    touched: set[KeyPath],
    provenance: Provenance,
    sections: dict[str, Schema],
    rules: tuple[ComponentSchemas, ComponentChecks],
    secrets: set[KeyPath],
) -> tuple[dict[str, Any], dict[KeyPath, Reload]]:
    """``_validate`` of the touched units; the others keep the running snapshot's validated
    values and policies. The keys come in the order a full validation gives them."""
    problems: list[tuple[Problem, KeyPath]] = []
    policies = {  # unit_of, inlined: this runs for every key of the config
        path: policy
        for path, policy in running.reload_policy.items()
        if (path[:2] if path[0] == COMPONENTS and len(path) > 1 else path[:1]) not in touched
    }
    data: dict[str, Any] = {}
    for key in [*tree, *(name for name in sections if name not in tree)]:
        if key == COMPONENTS or (key,) not in touched:
            data[key] = running.data.get(key)
        elif key in sections:
            _validate_section(key, sections[key], tree, data, provenance, problems, policies)
            data.setdefault(key, tree.get(key))
        else:
            data[key] = tree[key]
    entries = tree.get(COMPONENTS)
    if isinstance(entries, Mapping):
        app = thaw(running.data.get("app", {}))
        edited = {name: entries[name] for name in entries if (COMPONENTS, str(name)) in touched}

        def component_rules(name: str, entry: Mapping[str, Any]) -> tuple[Schema | None, ConfigCheck | None]:
            return rules[0](name, entry, app), rules[1](name, entry, app)

        checked = _validate_components(edited, provenance, component_rules, problems, policies, secrets)
        kept = running.data.get(COMPONENTS) or {}
        if not set(map(str, entries)) <= set(checked) | set(kept):
            raise _Stale  # an entry neither edited nor running: compose in full
        data[COMPONENTS] = {str(n): checked[str(n)] if str(n) in checked else kept[str(n)] for n in entries}
    if problems:
        raise _invalid(problems, provenance, secrets)
    return data, policies


def _resolve(config: DictConfig | None) -> tuple[dict[str, Any], list[_Unresolved]]:
    """Plain data with every interpolation resolved; else the unresolved tree and every failure."""
    assert config is not None  # a composition without a config carries resolved values
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        resolved: dict[str, Any] = OmegaConf.to_container(config, resolve=True, throw_on_missing=True)  # type: ignore[assignment]
        return resolved, []
    except OmegaConfBaseException as exc:
        first = exc  # reported only when no single value can be blamed
    raw: dict[str, Any] = OmegaConf.to_container(config, resolve=False)  # type: ignore[assignment]
    problems: list[_Unresolved] = []
    for path, value in leaves(raw):
        if not is_unresolved(value):
            continue
        try:
            OmegaConf.select(config, ".".join(path), throw_on_missing=True)
        except OmegaConfBaseException as exc:
            problems.append((path, exc, value))
    return raw, problems or [((), first, None)]


def _unresolved(problems: list[_Unresolved], provenance: Provenance, secrets: set[KeyPath]) -> list[str]:
    """`key: reason (got VALUE) [origin]` per failure; a secret key's value and reason are masked
    (OmegaConf's reason quotes parts of the value), its origin says where to look."""
    lines = []
    for path, exc, value in problems:
        reason = str(exc).split("\n")[0]
        if value == "???":
            reason = "mandatory value is missing (???); set it in a file, env var or override"
        elif is_secret(path, secrets):
            reason = f"{type(exc).__name__} in the value of a secret key (masked)"
        value = mask(value, path, secrets)  # a secret, or a URL's password
        key = ".".join(path) or "interpolation failed"
        lines.append(f"{key}: {reason}" + (f" (got {value}) [{provenance.where(path)}]" if path else ""))
    return lines


def _validate(
    tree: dict[str, Any],
    provenance: Provenance,
    sections: dict[str, Schema],
    component_rules: tuple[ComponentSchemas, ComponentChecks],
    secrets: set[KeyPath],
) -> tuple[dict[str, Any], dict[KeyPath, Reload]]:
    problems: list[tuple[Problem, KeyPath]] = []
    policies: dict[KeyPath, Reload] = {}
    data = dict(tree)
    for name, schema in sections.items():
        _validate_section(name, schema, tree, data, provenance, problems, policies)
    if "components" in tree:
        app = data.get("app", {})
        component_schemas, component_checks = component_rules

        def rules(name: str, entry: Mapping[str, Any]) -> tuple[Schema | None, ConfigCheck | None]:
            return component_schemas(name, entry, app), component_checks(name, entry, app)

        data["components"] = _validate_components(tree["components"], provenance, rules, problems, policies, secrets)
    if problems:
        raise _invalid(problems, provenance, secrets)
    return data, policies


def _invalid(
    problems: list[tuple[Problem, KeyPath]], provenance: Provenance, secrets: set[KeyPath]
) -> ValidationError:
    """The first problems by key, rendered, with an exact count of the other distinct ones.

    Only the ones listed are rendered: rendering finds an origin and works out what is accepted,
    work that grew with the count of problems when thousands of unknown keys were all rendered.
    A problem is its key and message (one value per key), so that tells duplicates apart.
    """
    distinct: dict[str, tuple[Problem, KeyPath]] = {}
    for problem, prefix in problems:
        distinct.setdefault(f"{'.'.join((*prefix, *problem.path))}: {problem.message}", (problem, prefix))
    rendered = [_render(*distinct[key], provenance, secrets) for key in sorted(distinct)[:SHOWN_PROBLEMS]]
    return ValidationError(rendered, len(distinct) - len(rendered))


def _validate_section(
    name: str,
    schema: Schema,
    tree: Mapping[str, Any],
    data: dict[str, Any],
    provenance: Provenance,
    problems: list[tuple[Problem, KeyPath]],
    policies: dict[KeyPath, Reload],
) -> None:
    """Normalize one framework section into ``data[name]``; its problems, defaults, policies."""
    section = tree.get(name)
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        problems.append((Problem((), "must be a mapping", section, True), (name,)))
        return
    data[name], found = normalize(section, schema)
    problems.extend((p, (name,)) for p in found)
    provenance.add_defaults(data[name], (name,), f"'{name}' section")
    policies.update(reload_policies(schema, (name,), Reload.LIVE))


_BAD_NAME = (
    "a component name must be an identifier (letters, digits and _, not starting with a digit):"
    " its dependents receive it as a constructor parameter and dotted keys address it"
)


def _validate_components(
    components: Any,
    provenance: Provenance,
    component_rules: Callable[[str, Mapping[str, Any]], tuple[Schema | None, ConfigCheck | None]],
    problems: list[tuple[Problem, KeyPath]],
    policies: dict[KeyPath, Reload],
    secrets: set[KeyPath],
) -> dict[str, Any]:
    if not isinstance(components, Mapping):
        problems.append(
            (Problem((), "must be a mapping of component name to entry", components, True), ("components",))
        )
        return {}
    result = {}
    for name, entry in components.items():
        prefix = ("components", str(name))
        if not re.fullmatch(COMPONENT_NAME, str(name)):
            problems.append((Problem((), _BAD_NAME, name, True), prefix))
        if entry is None:
            entry = {}
        if not isinstance(entry, Mapping):
            problems.append((Problem((), "must be a mapping with class, config, ...", entry, True), prefix))
            continue
        entry, found = _class_from_target(entry, prefix, provenance)
        problems.extend((p, prefix) for p in found)
        normalized, found = normalize(entry, COMPONENT_ENTRY_SCHEMA)
        problems.extend((p, prefix) for p in found)
        policies.update(reload_policies(COMPONENT_ENTRY_SCHEMA, prefix, Reload.LIVE))
        if not found:
            problems.extend(_config_problems(str(name), normalized, component_rules, policies, secrets))
        provenance.add_defaults(normalized, prefix, f"component '{name}'")
        result[str(name)] = normalized
    return result


def _class_from_target(
    entry: Mapping[str, Any], prefix: KeyPath, provenance: Provenance
) -> tuple[Mapping[str, Any], list[Problem]]:
    """An entry may name its class as ``_target_`` (Hydra's spelling) in place of ``class``."""
    if "_target_" not in entry:
        return entry, []
    renamed = {("class" if key == "_target_" else key): value for key, value in entry.items()}
    if "class" in entry:
        both = "names the class a second time: give it as class or as _target_, not both"
        return {k: v for k, v in entry.items() if k != "_target_"}, [Problem(("_target_",), both, entry["_target_"], True)]
    provenance.alias((*prefix, "_target_"), (*prefix, "class"))
    return renamed, []


def _config_problems(
    name: str,
    entry: dict[str, Any],
    component_rules: Callable[[str, Mapping[str, Any]], tuple[Schema | None, ConfigCheck | None]],
    policies: dict[KeyPath, Reload],
    secrets: set[KeyPath],
) -> list[tuple[Problem, KeyPath]]:
    """Normalize a well-formed entry's ``config`` by its class's schema (in place), then run the
    class's cross-field check once the schema found nothing wrong."""
    schema, check = component_rules(name, entry)
    where = ("components", name, "config")
    found: list[Problem] = []
    if schema is not None:
        entry["config"], found = normalize(entry.get("config") or {}, schema)
        policies.update(reload_policies(schema, where, Reload.LIVE))
    if check is not None and not found:  # types and defaults hold: compare values
        inner = {path[len(where) :] for path in secrets if path[: len(where)] == where}
        found = cross_field_problems(check, entry.get("config") or {}, inner)
    return [(problem, where) for problem in found]


def _render(problem: Problem, prefix: KeyPath, provenance: Provenance, secrets: set[KeyPath]) -> str:
    """`key.path: message (got VALUE) [origin]`, with secrets masked."""
    path = (*prefix, *problem.path)
    key = ".".join(path)
    got = ""
    secret = is_secret(path, secrets)
    if problem.has_value:
        got = f" (got {MASK if secret else _short(mask(problem.value, path, secrets))})"
    origin = provenance.where(path)
    if origin == "origin unknown":  # a mapping: where its first key was set
        inner = next((p for p in provenance.paths() if p[: len(path)] == path), path)
        origin = provenance.where(inner)
    if origin == "origin unknown" and not problem.has_value:
        origin = f"not set; add it to the YAML or pass {key}=..."
    return f"{key}: {problem.text}{got} [{origin}]"


def _schemas_by_prefix(
    tree: Mapping[str, Any], sections: dict[str, Schema], component_schemas: ComponentSchemas
) -> list[tuple[KeyPath, Schema]]:
    """Every schema that applies to the tree, with the key path it applies under: each
    section's, each component entry's, and each component class's for its ``config``."""
    found: list[tuple[KeyPath, Schema]] = [((name,), schema) for name, schema in sections.items()]
    components, app = tree.get("components"), tree.get("app")
    if not isinstance(components, Mapping):
        return found
    for name, entry in components.items():
        if not isinstance(entry, Mapping):
            continue
        found.append((("components", str(name)), COMPONENT_ENTRY_SCHEMA))
        schema = component_schemas(str(name), entry, app if isinstance(app, Mapping) else {})
        if schema is not None:
            found.append((("components", str(name), "config"), schema))
    return found


def _secret_paths(
    tree: Mapping[str, Any], sections: dict[str, Schema], component_schemas: ComponentSchemas
) -> set[KeyPath]:
    """The keys the schemas mark secret: every section's, and each component class's."""
    return {path for prefix, schema in _schemas_by_prefix(tree, sections, component_schemas)
            for path in secret_paths(schema, prefix)}


def _descriptions(
    tree: Mapping[str, Any], sections: dict[str, Schema], component_schemas: ComponentSchemas
) -> dict[KeyPath, str]:
    """What each key is for, as the schemas describe it (explain and show --provenance say it)."""
    found: dict[KeyPath, str] = {}
    for prefix, schema in _schemas_by_prefix(tree, sections, component_schemas):
        found.update(descriptions(schema, prefix))
    return found


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _schema_has_key(
    parts: list[str],
    config: DictConfig,
    sections: dict[str, Schema],
    component_schemas: ComponentSchemas,
) -> bool:
    """Whether a key absent from the YAML is still one a schema knows (it has a default)."""
    from omegaconf import OmegaConf

    if parts[0] == "components" and len(parts) >= 3:
        if parts[2] != "config":
            return tuple(parts[2:]) in {p for p, _ in walk_rules(COMPONENT_ENTRY_SCHEMA)}
        entry = OmegaConf.select(config, f"components.{parts[1]}", default=None)
        if entry is None:
            return False
        app = OmegaConf.to_container(config.get("app") or OmegaConf.create(), resolve=False)
        raw = OmegaConf.to_container(entry, resolve=False)
        schema = component_schemas(parts[1], raw, app)  # type: ignore[arg-type]
        return schema is not None and tuple(parts[3:]) in {p for p, _ in walk_rules(schema)}
    schema = sections.get(parts[0])
    return schema is not None and tuple(parts[1:]) in {p for p, _ in walk_rules(schema)}
