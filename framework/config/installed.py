"""The installed-modules layer: components a module registry installed for this app's company.

Precedence, lowest first: schema defaults < files < installed modules < fleet overlay < env <
command line. Each installation adds one component entry (``components.<name>``: its module's
class and the installation's config). As the fleet overlay, it becomes Hydra overrides of
quoted data, never text Hydra would interpret, so an installation's config cannot interpolate
another key (a secret, say) into itself. An installation may only add a component: one whose
name the files already use is refused, naming both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.config.env import hydra_literal
from framework.config.override_size import MAX_ELEMENTS, TOO_MANY, elements_in_value
from framework.errors import InstallationError

if TYPE_CHECKING:  # OmegaConf is imported where a config is at hand: an app can start without it
    from omegaconf import DictConfig

ORIGIN = "module registry"  # how provenance tells installed modules from the other layers
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ABSENT = object()


def component_name(module: str) -> str:
    """The component an installed module runs as: ``echo-module`` runs as ``echo_module``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", module).lower()


@dataclass(frozen=True)
class Installation:
    """One company's installation of one module version, as its component entry."""

    installation_id: int
    module: str
    version: str
    company: str
    registry: str  # the registry's URL, as shown (credentials masked)
    entry_point: str  # "package.module:Class"
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def component(self) -> str:
        return component_name(self.module)

    @property
    def origin(self) -> str:
        """As provenance shows it: ``module registry: installation 3 of echo-module 1.0.0 for acme (http://...)``."""
        return (
            f"{ORIGIN}: installation {self.installation_id} of {self.module} {self.version}"
            f" for {self.company} ({self.registry})"
        )

    def entry(self) -> dict[str, Any]:
        """The component entry it adds under ``components``."""
        return {"class": self.entry_point.replace(":", "."), "enabled": True, "config": dict(self.config)}


@dataclass(frozen=True)
class InstalledOverride:
    """One installation as a Hydra override (a ``DataOverride``, as an env var is)."""

    origin: str
    key: str  # components.<name>
    text: str
    value: Any


def installed_overrides(installations: tuple[Installation, ...], config: DictConfig) -> list[InstalledOverride]:
    """An override per installation, by component name; InstallationError names the refused one."""
    from omegaconf import OmegaConf

    result = []
    for installation in sorted(installations, key=lambda i: i.component):
        name = installation.component
        if not _NAME.fullmatch(name):
            raise InstallationError(installation.installation_id, f"{installation.origin}: '{name}' is not a component name")
        key = f"components.{name}"
        if OmegaConf.select(config, key, default=_ABSENT, throw_on_resolution_failure=False) is not _ABSENT:
            raise InstallationError(
                installation.installation_id,
                f"{installation.origin}: the config already has a component '{name}'; an installed"
                " module only adds components (remove or rename the one in the files)",
            )
        entry = installation.entry()
        if elements_in_value(entry) > MAX_ELEMENTS:
            raise InstallationError(installation.installation_id, f"{installation.origin}: {TOO_MANY}")
        try:
            text = hydra_literal(entry)
        except ValueError as exc:
            raise InstallationError(installation.installation_id, f"{installation.origin}: {exc}") from None
        result.append(InstalledOverride(installation.origin, key, f"++{key}={text}", entry))
    return result
