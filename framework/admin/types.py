"""What the admin API reads from a running app, as a Protocol: the App satisfies it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from framework.assembly import Assembly
from framework.config.snapshot import Snapshot
from framework.control import ComponentControl
from framework.events.bus import EventBus
from framework.health import HealthMonitor
from framework.lifecycle import Lifecycle
from framework.metrics import AppMetrics
from framework.reload.outcome import ReloadOutcome
from framework.resilience import Resilience

if TYPE_CHECKING:  # the fleet's modules import redis-py: only an app in a fleet loads them
    from framework.fleet.member import FleetMember
    from framework.modules.sync import ModuleSync


class AdminView(Protocol):
    """The running app as the admin API sees it: read-only, plus reload."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def assembly(self) -> Assembly: ...

    @property
    def lifecycle(self) -> Lifecycle: ...

    @property
    def health(self) -> HealthMonitor: ...

    @property
    def resilience(self) -> Resilience: ...

    @property
    def control(self) -> ComponentControl: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def metrics(self) -> AppMetrics:
        """The components' own metrics (the ``metrics`` service), kept across reloads."""
        ...

    @property
    def started_at(self) -> float | None: ...

    @property
    def fleet(self) -> FleetMember | None:
        """This instance's part in its fleet; None when it has none (or has not started)."""
        ...

    @property
    def modules(self) -> ModuleSync | None:
        """The installed modules kept in step with a registry; None without a ``modules`` section."""
        ...

    @property
    def reload_in_progress(self) -> bool:
        """True from the moment a reload is requested until it is answered."""
        ...

    async def reload(self, dry_run: bool = False) -> ReloadOutcome: ...

    def reload_history(self) -> list[dict[str, Any]]: ...

    def reload_totals(self) -> dict[str, int]: ...
