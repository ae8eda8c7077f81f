"""Drift: instances that run the same overlay version with a different effective config.

What an instance was launched with on purpose does not count: keys its command-line arguments
or env vars set (a port, say) and the fleet section are left out of the digest drift compares.
What is left differs only when the files differ, or something else nobody meant.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from framework.config.overlay import FLEET_SECTION
from framework.config.plain import thaw
from framework.config.provenance import Layer
from framework.config.snapshot import Snapshot, digest
from framework.fleet.records import Member

_cache: dict[int, tuple[Snapshot, str]] = {}


def fleet_digest(snapshot: Snapshot) -> str:
    """The digest of the config without the fleet section and what the launch set."""
    hit = _cache.get(id(snapshot))
    if hit is not None and hit[0] is snapshot:
        return hit[1]
    data: dict[str, Any] = thaw(snapshot.data)
    data.pop(FLEET_SECTION, None)
    for path in list(snapshot.provenance.paths()):
        winner = snapshot.provenance.winner(path)
        if winner is not None and winner.layer in (Layer.ENV, Layer.CLI):
            _remove(data, path)
    value = digest(data)
    _cache.clear()  # one snapshot runs at a time: keep only the last
    _cache[id(snapshot)] = (snapshot, value)
    return value


def _remove(data: Any, path: tuple[str, ...]) -> None:
    for part in path[:-1]:
        if not isinstance(data, dict) or part not in data:
            return
        data = data[part]
    if isinstance(data, dict):
        data.pop(path[-1], None)


def drifted(members: Sequence[Member]) -> set[str]:
    """The instances whose fleet digest differs from the most common one of their overlay version.

    A tie has no majority: every instance of that version is marked, as nobody can tell which
    side is right.
    """
    marked: set[str] = set()
    by_version: dict[int, list[Member]] = {}
    for member in members:
        by_version.setdefault(member.overlay_version, []).append(member)
    for group in by_version.values():
        counts = Counter(m.fleet_digest for m in group).most_common()
        if len(counts) < 2:
            continue
        top = counts[0][1]
        winners = {d for d, n in counts if n == top}
        if len(winners) > 1:
            marked |= {m.instance for m in group}
        else:
            marked |= {m.instance for m in group if m.fleet_digest not in winners}
    return marked
