"""The module registry's HTTP API, as an installing app uses it: its installations, their
packages, and the health it reports back. The token is the app's; it never appears in errors."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx

from framework.secrets import mask_url

API = "/api/v1"
# httpx logs each request at INFO: a poll every few seconds would fill the app's log
logging.getLogger("httpx").setLevel(logging.WARNING)


class RegistryUnavailableError(ConnectionError):
    """Raised when the registry cannot be reached or answers with an error; says which."""


@dataclass(frozen=True)
class InstallationRecord:
    """One installation as the registry lists it."""

    id: int
    module_id: int
    module: str
    version: str
    company: str
    entry_point: str
    sha256: str
    config: Mapping[str, Any] = field(default_factory=dict)
    endpoints: tuple[Mapping[str, Any], ...] = ()
    updated_at: str = ""

    @cached_property
    def fingerprint(self) -> str:
        """What makes an installation another: its version, package, class, config and endpoints."""
        data = [self.id, self.version, self.sha256, self.entry_point, self.config, self.endpoints]
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstallationRecord:
        package = data.get("package") or {}
        return cls(
            id=int(data["id"]),
            module_id=int(data["module_id"]),
            module=str(data["module"]),
            version=str(data["version"]),
            company=str(data["company_id"]),
            entry_point=str(data["entry_point"]),
            sha256=str(package.get("sha256") or ""),
            config=dict(data.get("config") or {}),
            endpoints=tuple(dict(e) for e in data.get("endpoints") or ()),
            updated_at=str(data.get("updated_at") or ""),
        )


class RegistryClient:
    """One registry, one company, one token."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.shown = mask_url(self.url)
        self._http = httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    async def installations(self) -> list[InstallationRecord]:
        """Every installation of the token's company (the registry never shows another's)."""
        return [InstallationRecord.from_json(item) for item in await self._json("GET", f"{API}/installations/")]

    async def package(self, module_id: int, max_bytes: int) -> bytes:
        """The module's wheel, refused as it streams in once it passes ``max_bytes``."""
        chunks, size = [], 0
        try:
            async with self._http.stream("GET", f"{API}/modules/{module_id}/package") as response:
                self._check(response, f"module {module_id}'s package")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise RegistryUnavailableError(
                            f"module {module_id}'s package is over modules.max_package ({max_bytes} bytes)"
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise RegistryUnavailableError(f"registry {self.shown} unreachable: {type(exc).__name__}") from None
        return b"".join(chunks)

    async def report_health(self, installation_id: int, status: str, reason: str, instance: str) -> None:
        body = {"status": status, "reason": reason[:2000], "instance": instance}
        await self._json("POST", f"{API}/installations/{installation_id}/health-check", json=body)

    async def close(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryUnavailableError(f"registry {self.shown} unreachable: {type(exc).__name__}") from None
        self._check(response, f"{method} {path}")
        try:
            return response.json()
        except ValueError:
            raise RegistryUnavailableError(f"registry {self.shown}: {method} {path} answered no JSON") from None

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code >= 400:
            raise RegistryUnavailableError(f"registry {self.shown}: {what} answered {response.status_code}")
