"""Declared payloads: what a topic's events carry, checked at publish and compared before start.

A component declares, per topic, the payload it publishes (``payloads``) and what it needs of
the topics it subscribes to (``requires``): on its class, or in its YAML entry for a class you
do not own. A declaration is a Cerberus schema (a mapping, the rules the config already uses)
or a type: a dataclass, a ``TypedDict`` or a Pydantic model. Types go through Pydantic's
``TypeAdapter``, the one well-kept validator that takes all three alike, reports each failure
with its field, and gives a JSON Schema (for the compatibility check and AsyncAPI) of its own.
Wrap either in ``Payload(schema, version=2, upcast={1: v1_to_v2})`` to give it a schema
version other than 1 and, for a subscriber, converters from older versions.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.config.json_schema import data_schema
from framework.config.schema import check_schema, normalize
from framework.errors import SHOWN_PROBLEMS, listed
from framework.events.errors import PayloadValidationError, PayloadVersionError
from framework.events.topics import matches, validate_pattern

if TYPE_CHECKING:
    from pydantic import TypeAdapter


@dataclass(frozen=True)
class Payload:
    """A payload declaration with its schema version; ``upcast`` maps an older version to the
    function turning that version's data into the next version's (chained up to ``version``)."""

    schema: Any
    version: int = 1
    upcast: Mapping[int, Callable[[Any], Any]] = field(default_factory=dict)


def is_model(value: Any) -> bool:
    """A type Pydantic validates as a record: a dataclass, a TypedDict or a BaseModel."""
    if not isinstance(value, type):
        return False
    # Imported here, not at the top: typing_extensions costs every start-up a few ms, and only
    # an app that declares typed payloads asks. It knows both TypedDicts (typing's: its own only).
    from typing_extensions import is_typeddict

    if dataclasses.is_dataclass(value) or is_typeddict(value):
        return True
    return any(base.__module__.startswith("pydantic") and base.__name__ == "BaseModel" for base in value.__mro__)


@functools.cache
def adapter(model: type) -> TypeAdapter[Any]:
    """One TypeAdapter per model: building one compiles its validator (milliseconds)."""
    from pydantic import TypeAdapter  # imported only by apps that declare typed payloads

    return TypeAdapter(model)


def _model_schema(model: type, topic: str, origin: str) -> dict[str, Any]:
    """The model's JSON Schema; building it is what tells whether Pydantic can check the model."""
    try:
        return adapter(model).json_schema()
    except (RuntimeError, TypeError) as exc:  # PydanticUserError, PydanticSchemaGenerationError
        reason = str(exc).splitlines()[0]
        raise TypeError(f"{origin}: the payload model {model.__qualname__} of '{topic}' cannot be checked: {reason}") from exc


class Declared:
    """One compiled declaration: a topic (or pattern), its owner and where it was declared."""

    __slots__ = ("topic", "owner", "origin", "version", "model", "cerberus", "upcast", "json_schema")

    def __init__(self, topic: str, owner: str, origin: str, declaration: Any) -> None:
        validate_pattern(topic)
        payload = declaration if isinstance(declaration, Payload) else Payload(declaration)
        if not isinstance(payload.version, int) or payload.version < 1:
            raise TypeError(f"{origin}: schema_version of '{topic}' must be an integer >= 1, got {payload.version!r}")
        self.topic, self.owner, self.origin, self.version = topic, owner, origin, payload.version
        self.upcast = dict(payload.upcast)
        self.model: type | None = None
        self.cerberus: dict[str, Any] | None = None
        if is_model(payload.schema):
            self.model = payload.schema
            self.json_schema = _model_schema(payload.schema, topic, origin)
        elif isinstance(payload.schema, Mapping):
            self.cerberus = dict(payload.schema)
            check_schema(self.cerberus, f"{origin} (payload of '{topic}')")
            self.json_schema = data_schema(payload.schema)
        else:
            raise TypeError(
                f"{origin}: the payload of '{topic}' must be a Cerberus schema (a mapping), a dataclass, "
                f"a TypedDict or a Pydantic model, got {payload.schema!r}"
            )

    def check(self, data: Any) -> Any:
        """The data as it travels (normalized, JSON-ready), or PayloadValidationError naming the
        topic, each failing field and its rule."""
        if self.model is not None:
            return self._check_model(data)
        if not isinstance(data, Mapping):
            self._refuse([f"data must be a mapping (its schema has fields), got {type(data).__name__}"])
        document, problems = normalize(data, self.cerberus or {}, memo=False)
        if problems:
            shown = problems[:SHOWN_PROBLEMS]
            described = [
                f"field '{'.'.join(p.path)}' {p.text}" + (f" (got {p.value!r})" if p.has_value else "")
                for p in shown
            ]
            self._refuse(listed(described, len(problems) - len(shown)))
        return document

    def _check_model(self, data: Any) -> Any:
        from pydantic import ValidationError

        checker = adapter(self.model)
        try:
            return checker.dump_python(checker.validate_python(data), mode="json")
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            shown = [
                f"field '{'.'.join(str(p) for p in e['loc']) or '(data)'}' {e['msg'][:1].lower()}{e['msg'][1:]}"
                f" (rule {e['type']}, got {e.get('input')!r})"
                for e in errors[:SHOWN_PROBLEMS]
            ]
            self._refuse(listed(shown, len(errors) - len(shown)))

    def _refuse(self, problems: list[str]) -> Any:
        by = f"{self.owner}'s payload v{self.version}" if self.owner else None  # else the bus's own
        raise PayloadValidationError(self.topic, problems, declared_by=by)

    def upcasted(self, topic: str, data: Any, version: int) -> Any:
        """Data of an older schema version brought up to this one, converter by converter."""
        while version < self.version:
            convert = self.upcast.get(version)
            if convert is None:
                raise PayloadVersionError(
                    f"'{self.owner}' requires '{topic}' at schema version {self.version} and has no upcaster "
                    f"from version {version} (declare Payload(..., upcast={{{version}: convert}}))"
                )
            data, version = convert(data), version + 1
        return data

    def __repr__(self) -> str:
        return f"Declared({self.topic!r}, owner={self.owner!r}, v{self.version})"


class Declarations:
    """A topic's declaration among one component's, found by exact topic, then by pattern."""

    __slots__ = ("by_pattern", "_found")

    def __init__(self, declared: Mapping[str, Declared]) -> None:
        self.by_pattern = dict(declared)
        self._found: dict[str, Declared | None] = {}

    def __bool__(self) -> bool:
        return bool(self.by_pattern)

    def for_topic(self, topic: str) -> Declared | None:
        try:
            return self._found[topic]
        except KeyError:
            pass
        found = self.by_pattern.get(topic)
        if found is None:
            found = next((d for pattern, d in self.by_pattern.items() if matches(pattern, topic)), None)
        if len(self._found) < 10_000:  # topics can be unbounded (one per symbol, say)
            self._found[topic] = found
        return found


@dataclass(frozen=True)
class ComponentPayloads:
    """A component's declared payloads: what it publishes, and what it requires of what it reads."""

    publishes: Declarations
    requires: Declarations


def _entries(raw: Any, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TypeError(f"{where} must map topics to payload declarations, got {type(raw).__name__}")
    return raw


def _from_yaml(entry: Mapping[str, Any], upcast: Mapping[int, Callable[[Any], Any]]) -> Payload:
    """A YAML declaration: ``{schema_version: 2, schema: {<Cerberus rules>}}``."""
    return Payload(entry.get("schema") or {}, entry.get("schema_version", 1), upcast)


def component_payloads(
    name: str,
    cls: type,
    yaml_entry: Mapping[str, Any],
    where: Callable[[str, str], str],
) -> ComponentPayloads:
    """Compile a component's declarations: its YAML entry's (``where(kind, topic)`` says where
    each is written) over its class's ``payloads`` / ``requires`` attributes, topic by topic."""
    kinds: dict[str, dict[str, Declared]] = {}
    for kind in ("payloads", "requires"):
        declared: dict[str, Declared] = {}
        origin = f"{cls.__module__}.{cls.__qualname__}.{kind}"
        for topic, declaration in _entries(getattr(cls, kind, None), origin).items():
            declared[topic] = Declared(topic, name, origin, declaration)
        for topic, entry in _entries(yaml_entry.get(kind), f"components.{name}.{kind}").items():
            upcast = declared[topic].upcast if topic in declared else {}  # converters are code: the class's
            declared[topic] = Declared(topic, name, where(kind, topic), _from_yaml(entry, upcast))
        kinds[kind] = declared
    return ComponentPayloads(Declarations(kinds["payloads"]), Declarations(kinds["requires"]))
