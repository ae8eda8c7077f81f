"""ASGI middleware answering only requests addressed to this server by name: no DNS rebinding.

A page on ``attacker.example`` can point its own name at 127.0.0.1 and then read the admin API
as if it were its own origin; the browser still sends ``Host: attacker.example``. So a request
is served only when its Host names this server: an IP address (no DNS answer stands behind
one), ``localhost``, this machine's hostname, the configured ``http.host``, or a name of
``http.allowed_hosts`` (a reverse proxy that passes its public name on; ``*.example.com`` for
any subdomain; read per request, so a reload applies at once). Anything else gets 421 before
routing. The port is not compared: a tunnel or a port map (``ssh -L``,
``docker -p``) changes it legitimately, and a rebinding page cannot change the name.

Starlette's ``TrustedHostMiddleware`` takes a fixed list of names only (so no "any IP address",
which Kubernetes probes on a pod IP need) and answers in plain text.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

from framework.admin.responses import json_response


def host_name(host: str) -> str:
    """The name in a Host header or an address, lower case: ``[::1]:8765`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:  # name:port (a bare IPv6 address has more colons)
        host = host.partition(":")[0]
    return host.rstrip(".")


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed(name: str, patterns: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``patterns``: a name, or ``*.domain`` for the names under it."""
    for pattern in patterns:
        pattern = host_name(pattern)
        if name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


class TrustedHosts:
    """Refuse, with 421 and a JSON reason, requests whose Host is not an IP address or a known name."""

    def __init__(self, app: Any, names: Iterable[str], allowed_hosts: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.names = frozenset({"localhost", socket.gethostname().lower(), *map(host_name, names)})
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v for k, v in scope.get("headers") or () if k == b"host"), b"").decode("latin-1")
        name = host_name(host)
        extra = list(self.allowed_hosts())
        if name in self.names or is_ip_address(name) or allowed(name, extra):
            await self.app(scope, receive, send)
            return
        known = ", ".join([*sorted(self.names), *extra])
        detail = (
            f"misdirected request: Host '{host}' is not a name of this server. The admin API answers to"
            f" an IP address or to {known}; other names are refused against DNS rebinding (a proxy in"
            " front that passes its own name on: add that name to http.allowed_hosts)"
        )
        await json_response({"detail": detail}, 421)(scope, receive, send)
