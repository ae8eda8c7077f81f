"""Schemas of the framework's own config sections.

Each section a later feature adds is defined here (or beside the feature, as the event bus's
and logging's are) and listed in ``framework.assembly.framework_sections``, the table handed to
the loader, so `check` validates it and `explain` shows its defaults and reload policy.
Top-level keys not listed there pass through untouched.
"""

from __future__ import annotations

from typing import Any

from framework.config.schema import Schema

_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"

APP_SCHEMA: Schema = {
    "name": {"type": "string", "default": "app", "empty": False, "reload": "never"},
    "version": {"type": "string", "default": "0.0.0", "reload": "never"},
    "env_prefix": {
        "type": "string",
        "nullable": True,
        "default": None,
        "regex": r"^[A-Z][A-Z0-9_]*$",
        "reload": "never",
        "description": "env vars <PREFIX>__A__B=value set a.b",
    },
    "allowed_packages": {
        "type": "list",
        "schema": {"type": "string", "regex": r"^[A-Za-z_][\w.]*$"},
        "default": [],
        "reload": "never",
        "description": "import roots component classes may come from",
    },
    "component_dirs": {
        "type": "list",
        "schema": {"type": "string"},
        "default": [],
        "reload": "never",
    },
    "initialization_order": {
        "type": "list",
        "schema": {"type": "string", "regex": _NAME},
        "default": [],
        "reload": "restart",
    },
    "parallel_start": {"type": "boolean", "default": False, "reload": "never"},
    "start_timeout": {"type": "number", "min": 0.01, "default": 30.0},
    "stop_timeout": {"type": "number", "min": 0.01, "default": 10.0},
    "duration": {
        "type": "number",
        "min": 0,
        "nullable": True,
        "default": None,
        "reload": "never",
        "description": "stop after this many seconds (demos, tests); null runs until stopped",
    },
    "watch": {
        "type": "dict",
        "default": {},
        "reload": "never",
        "schema": {
            "enabled": {"type": "boolean", "default": True, "description": "reload when the YAML changes"},
            "step_ms": {
                "type": "integer",
                "min": 1,
                "max": 5000,
                "default": 2,
                "description": "watchfiles step: a change is noticed within about 2 steps; each step wakes a"
                " thread (1 ms: about 2% of a core while idle, 2 ms: 1%, 20 ms: 0.2%)",
            },
            "settle_ms": {
                "type": "integer",
                "min": 0,
                "max": 60000,
                "default": 30,
                "description": "the content must hold still this long before it counts (half-written files)",
            },
            "history_size": {"type": "integer", "min": 1, "default": 50, "description": "reloads remembered"},
            "reload_timeout": {
                "type": "number",
                "min": 0.01,
                "default": 10.0,
                "description": "seconds one reload may take (reading, checking, callbacks, restarts) before it is undone",
            },
        },
    },
}

HTTP_SCHEMA: Schema = {
    "host": {
        "type": "string",
        "empty": False,
        "default": "127.0.0.1",
        "reload": "never",
        "description": "address the admin API listens on; keep it on loopback unless a proxy guards it",
    },
    "port": {"type": "integer", "min": 0, "max": 65535, "default": 8765, "reload": "never"},
    "token": {
        "type": "string",
        "nullable": True,
        "empty": True,
        "minlength": 8,
        "check_with": "header_value",
        "default": None,
        "secret": True,
        "description": "bearer token for the admin endpoints that change anything; null disables them",
    },
    "max_body": {"type": "integer", "min": 1, "default": 65536, "description": "largest request body, bytes"},
    "allowed_hosts": {
        "type": "list",
        "schema": {"type": "string", "regex": r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"},
        "default": [],
        "description": "more names requests may give as Host (a proxy's public name; `*.example.com` for"
        " its subdomains) besides IP addresses, localhost, this machine's hostname and http.host",
    },
}

# A component's name is a constructor parameter of its dependents and one segment of its keys.
COMPONENT_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _payload_rules(description: str) -> dict[str, Any]:
    return {
        "type": "dict",
        "default": {},
        "reload": "restart",
        "description": description + ": {schema_version: N, schema: {<Cerberus rules of its fields>}}",
        "keysrules": {"type": "string", "regex": r"^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*$"},
        "valuesrules": {
            "type": "dict",
            "schema": {
                "schema_version": {"type": "integer", "min": 1, "default": 1},
                "schema": {"type": "dict", "required": True, "allow_unknown": True},
            },
        },
    }


COMPONENT_ENTRY_SCHEMA: Schema = {
    "class": {"type": "string", "required": True, "empty": False, "reload": "restart"},
    "enabled": {"type": "boolean", "default": True},
    "optional": {"type": "boolean", "default": False},
    "depends_on": {
        "type": "list",
        "schema": {"type": "string", "regex": r"^[A-Za-z_][A-Za-z0-9_]*\s*([<>=!~].*)?$"},
        "default": [],
        "reload": "restart",
    },
    # The scoped bus a component receives is built with it: a change restarts it.
    "publishes": {
        "type": "list",
        "schema": {"type": "string"},
        "nullable": True,
        "default": None,
        "reload": "restart",
    },
    "subscribes": {
        "type": "list",
        "schema": {"type": "string"},
        "nullable": True,
        "default": None,
        "reload": "restart",
    },
    # Declared payloads, for a class you do not own (framework.events.payloads); with the
    # scoped bus, built with the component: a change restarts it, once every check passed.
    "payloads": _payload_rules("the payload of each topic it publishes, by topic"),
    "requires": _payload_rules("what it requires of each topic (pattern) it subscribes to"),
    "start_timeout": {"type": "number", "min": 0.01, "nullable": True, "default": None},
    "stop_timeout": {"type": "number", "min": 0.01, "nullable": True, "default": None},
    # A change moves it between consumers' lists: the consumers' on_extensions_change, or restart.
    "extends": {
        "type": "list",
        "schema": {"type": "string", "regex": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        "default": [],
        "description": "extension points (declared by other components) this component extends",
    },
    "config": {"type": "dict", "default": {}, "allow_unknown": True},
}


# Read by framework.health at every round; here so validating needs no import of it.
HEALTH_SCHEMA: Schema = {
    "enabled": {"type": "boolean", "default": True, "description": "poll component health"},
    "interval": {"type": "number", "min": 0.01, "default": 5.0, "description": "seconds between rounds"},
    "timeout": {
        "type": "number",
        "min": 0.001,
        "default": 2.0,
        "description": "seconds one health() may take; longer counts as unhealthy",
    },
    "failure_threshold": {
        "type": "integer",
        "min": 1,
        "default": 3,
        "description": "failed checks in a row before the component is restarted",
    },
    "max_restarts": {
        "type": "integer",
        "min": 0,
        "default": 5,
        "description": "restarts before the component is left failed (0: never restart)",
    },
    "backoff": {
        "type": "number",
        "min": 0,
        "default": 1.0,
        "description": "first restart delay, doubles each time",
    },
    "max_backoff": {"type": "number", "min": 0, "default": 60.0, "description": "longest restart delay"},
    "stable_after": {
        "type": "number",
        "min": 0,
        "default": 300.0,
        "description": "seconds healthy after a restart before the restart count resets",
    },
    "history_size": {"type": "integer", "min": 1, "default": 100, "description": "transitions kept"},
}

# Read by framework.resilience at call time.
_BREAKER_RULES: Schema = {
    "failure_threshold": {
        "type": "integer",
        "min": 1,
        "default": 5,
        "description": "failures in a row that open the breaker",
    },
    "reset_timeout": {
        "type": "number",
        "min": 0.001,
        "default": 30.0,
        "description": "seconds open before one trial call is let through (half-open)",
    },
}

ERROR_HANDLING_SCHEMA: Schema = {
    "retry": {
        "type": "dict",
        "default": {},
        "schema": {
            "attempts": {
                "type": "integer",
                "min": 1,
                "default": 3,
                "description": "calls in all, the first included",
            },
            "initial_delay": {
                "type": "number",
                "min": 0,
                "default": 0.1,
                "description": "first wait, doubles each retry",
            },
            "max_delay": {
                "type": "number",
                "min": 0,
                "default": 5.0,
                "description": "longest wait between attempts",
            },
            "jitter": {
                "type": "number",
                "min": 0,
                "default": 0.1,
                "description": "up to this many seconds added at random",
            },
        },
    },
    "breaker": {"type": "dict", "default": {}, "schema": _BREAKER_RULES},
    "breakers": {
        "type": "dict",
        "default": {},
        "keysrules": {"type": "string", "regex": r"^[A-Za-z0-9_.-]+$"},
        "valuesrules": {
            "type": "dict",
            "schema": {
                k: {r: v for r, v in rules.items() if r != "default"} for k, rules in _BREAKER_RULES.items()
            },
        },
        "description": "per-breaker settings by name; missing keys come from 'breaker'",
    },
}

