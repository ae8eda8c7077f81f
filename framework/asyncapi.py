"""The composed app's events as an AsyncAPI 3.0 document: channels, who sends and who receives
on each, the declared payloads as JSON Schema, and the bus backend as the server.

Every topic or pattern a component may publish or subscribe to (its ``publishes`` /
``subscribes``, else the topics it declares payloads for) is a channel; a payload it declares
for it is the channel's message from that component, an undeclared one a message of any data.
The framework's own events (``system.*``, ``config.*``, ``error.*``) are sent by ``app``. Nothing secret is
written: the server is the bus's host and port, never its URL's credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from framework._version import __version__
from framework.assembly import Assembly
from framework.config.snapshot import Snapshot
from framework.error_events import KINDS, SEVERITIES
from framework.events.payloads import Declarations, Declared

ASYNCAPI_VERSION = "3.0.0"
# The framework's own events, published by the app itself (see README, "The event bus").
FRAMEWORK_EVENTS = {
    "system.component.*": "a component changed lifecycle state",
    "system.health.changed": "a component's health changed",
    "system.breaker.*": "a circuit breaker changed state",
    "config.reloaded": "a reload committed a new config version",
    "config.rejected": "a reload was rejected; the app keeps its config",
}
_ANY_DATA: dict[str, Any] = {"description": "any JSON data (no payload declared)"}
_TEXT, _NUMBER = {"type": ["string", "null"]}, {"type": "number"}
ERROR_EVENT: dict[str, Any] = {  # framework.error_events: what every error.<kind> carries
    "type": "object",
    "required": ["component", "kind", "cause", "correlation_id", "count", "severity", "time"],
    "properties": {
        "component": _TEXT, "kind": {"enum": list(KINDS)}, "cause": _TEXT, "correlation_id": _TEXT,
        "count": {"type": "integer"}, "severity": {"enum": list(SEVERITIES)}, "topic": _TEXT, "time": _NUMBER,
    },
}


class _Document:
    """The document under construction; ids are made safe for AsyncAPI's key patterns."""

    def __init__(self) -> None:
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.schemas: dict[str, Any] = {}
        self._channel_ids: dict[str, str] = {}

    def channel(self, address: str) -> str:
        known = self._channel_ids.get(address)
        if known is not None:
            return known
        base = _safe(address.replace("**", "all").replace("*", "any"))
        ident, n = base, 1
        while ident in self.channels:  # two addresses made the same id ("a.b", "a_b")
            n += 1
            ident = f"{base}_{n}"
        self._channel_ids[address] = ident
        self.channels[ident] = {"address": address, "messages": {}}
        return ident

    def operation(self, component: str, action: str, address: str, declared: Declared | None) -> None:
        """One component's send or receive on a channel. A receiver that declares nothing gets
        what the channel's senders declared, when it has senders."""
        channel = self.channel(address)
        known = list(self.channels[channel]["messages"])
        if action == "receive" and declared is None and known:
            messages = known
        else:
            message = _safe(f"{component}.{channel}")
            self.messages[message] = self._message(component, action, address, declared)
            self.channels[channel]["messages"][message] = {"$ref": f"#/components/messages/{message}"}
            messages = [message]
        verb = "publishes" if action == "send" else "subscribes to"
        self.operations[_safe(f"{component}.{action}.{channel}")] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"{component} {verb} {address}",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
        }

    def _message(self, component: str, action: str, address: str, declared: Declared | None) -> dict[str, Any]:
        role = "published by" if action == "send" else "as required by"
        found: dict[str, Any] = {"name": address, "contentType": "application/json", "title": f"{address}, {role} {component}"}
        if declared is None:
            return {**found, "payload": _ANY_DATA}
        payload = self._hoisted(declared.json_schema, _safe(component))
        return {**found, "payload": payload, "summary": f"schema version {declared.version}",
                "x-schema-version": declared.version}

    def _hoisted(self, schema: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        """A schema whose ``$defs`` (Pydantic's nested models) move to components.schemas."""
        defs = schema.get("$defs") or {}
        renamed = {name: _safe(f"{prefix}.{name}") for name in defs}
        for name, body in defs.items():
            self.schemas[renamed[name]] = _refs_moved(body, renamed)
        return dict(_refs_moved({k: v for k, v in schema.items() if k != "$defs"}, renamed))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _refs_moved(node: Any, renamed: Mapping[str, str]) -> Any:
    if isinstance(node, Mapping):
        moved = {k: _refs_moved(v, renamed) for k, v in node.items()}
        ref = moved.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            moved["$ref"] = f"#/components/schemas/{renamed.get(ref[8:], _safe(ref[8:]))}"
        return moved
    if isinstance(node, list):
        return [_refs_moved(item, renamed) for item in node]
    return node


def _declared_for(declarations: Declarations | None, address: str) -> Declared | None:
    if declarations is None:
        return None
    return declarations.by_pattern.get(address) or declarations.for_topic(address)


def _operations(assembly: Assembly, name: str, action: str) -> list[tuple[str, Declared | None]]:
    """A component's addresses for one action: its topic list, else the topics it declares."""
    payloads = assembly.payloads.get(name)
    publishes, subscribes = assembly.specs[name].topics(assembly.classes[name])
    listed, declarations = (publishes, payloads and payloads.publishes) if action == "send" else (
        subscribes, payloads and payloads.requires)
    addresses = listed if listed is not None else tuple(declarations.by_pattern if declarations else ())
    return [(address, _declared_for(declarations or None, address)) for address in addresses]


def _server(bus: Mapping[str, Any]) -> dict[str, Any]:
    backend = str(bus.get("backend", "memory"))
    url = (bus.get(backend) or {}).get("url") if isinstance(bus.get(backend), Mapping) else None
    if not url:
        return {"host": "localhost", "protocol": backend, "description": "in-memory bus: events stay in one process"}
    parts = urlsplit(str(url))
    host = f"{parts.hostname or 'localhost'}" + (f":{parts.port}" if parts.port else "")
    server: dict[str, Any] = {"host": host, "protocol": parts.scheme or backend, "description": f"{backend} event bus"}
    if parts.path and parts.path != "/":
        server["pathname"] = parts.path
    return server


def asyncapi_document(snapshot: Snapshot, assembly: Assembly) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of a checked assembly (plain JSON data)."""
    app = snapshot.section("app")
    document = _Document()
    for address, description in FRAMEWORK_EVENTS.items():
        document.operation("app", "send", address, None)
        document.messages[_safe(f"app.{document.channel(address)}")]["summary"] = description
    for kind in KINDS:
        address = f"error.{kind}"
        document.operation("app", "send", address, None)
        message = document.messages[_safe(f"app.{document.channel(address)}")]
        message.update(summary=f"a failure of kind '{kind}', secrets masked (see the alerts section)",
                       payload=ERROR_EVENT)
    for action in ("send", "receive"):  # every sender first: receivers may share their messages
        for name in assembly.graph.order:
            for address, declared in _operations(assembly, name, action):
                document.operation(name, action, address, declared)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": str(app.get("name") or "app"),
            "version": str(app.get("version") or "0.0.0"),
            "description": f"The events of {app.get('name') or 'the app'}, as composed (framework {__version__}).",
        },
        "defaultContentType": "application/json",
        "servers": {"bus": _server(snapshot.section("event_bus"))},
        "channels": document.channels,
        "operations": document.operations,
        "components": {"messages": document.messages, "schemas": document.schemas},
    }
