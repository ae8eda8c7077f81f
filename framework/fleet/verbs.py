"""The ``integrate fleet`` verbs as argparse declares them; what they do is in ``commands``.

Declaring them imports nothing but argparse: every `integrate` command builds this parser, and
the controller's modules (redis-py among them, about 0.1 s of imports) load only when a fleet
verb runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from framework.config.compose import ConfigSource


def add_verbs(verbs: Any, common: argparse.ArgumentParser, source: Callable[[argparse.Namespace], ConfigSource]) -> None:
    """Add `fleet ACTION` to the `integrate` verbs (``verbs``: its subparsers)."""
    fleet = verbs.add_parser("fleet", help="one config for many instances: status, set, unset, history, rollback")
    actions = fleet.add_subparsers(dest="fleet_verb", required=True, metavar="ACTION")
    status = actions.add_parser("status", parents=[common], help="every live instance, and drift")
    status.add_argument("--format", choices=["text", "json"], default="text")
    status.set_defaults(handler=_lazy("status", source=source))
    history = actions.add_parser("history", parents=[common], help="the overlay's versions: who, when, what")
    history.add_argument("--format", choices=["text", "json"], default="text")
    history.set_defaults(handler=_lazy("history", source=source))
    for name, help_text, nargs in (
        ("set", "set overlay values (KEY=VALUE ...) and roll them out", "+"),
        ("unset", "remove keys from the overlay (KEY ...) and roll that out", "+"),
        ("rollback", "make an earlier version's values current again (VERSION)", 1),
    ):
        verb = actions.add_parser(name, parents=[common], help=help_text)
        verb.add_argument("items", nargs=nargs, metavar="KEY=VALUE" if name == "set" else "KEY" if name == "unset" else "VERSION")
        verb.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answers (default 10)")
        verb.add_argument("--canary", type=int, default=0, help="apply to N instances first")
        verb.add_argument("--bake", type=float, default=0.0, help="seconds the canaries must stay healthy")
        verb.add_argument("--dry-run", action="store_true", help="ask every instance for its plan; change nothing")
        verb.add_argument("--format", choices=["text", "json"], default="text")
        verb.set_defaults(handler=_lazy("change", source=source, action=name))


def _lazy(name: str, **bound: Any) -> Callable[[argparse.Namespace], int]:
    """A handler that imports ``commands`` when called, then runs its ``name``."""

    def handle(args: argparse.Namespace) -> int:
        from framework.fleet import commands  # redis-py and the controller: only now

        code: int = getattr(commands, name)(args, **bound)
        return code

    return handle
