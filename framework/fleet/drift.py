"""Drift: instances that run the same overlay version with different files.

What an instance was launched with on purpose does not count: the digest drift compares is
taken over the values the files and the overlay set (schema defaults are the code's, the same
everywhere one framework version runs), leaving out env vars, command-line arguments (a port,
say) and the fleet section. It differs only when the files differ, or the overlay does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from framework.config.overlay import FLEET_SECTION
from framework.config.provenance import Layer
from framework.config.snapshot import Snapshot, digest
from framework.fleet.records import Member

_SHARED = (Layer.FILE, Layer.FLEET)  # the layers every instance of a fleet should agree on


def fleet_digest(snapshot: Snapshot) -> str:
    """The digest of what the files and the overlay set, the fleet section left out."""
    shared = []
    for path in snapshot.provenance.paths():
        if path[:1] == (FLEET_SECTION,):
            continue
        origins = [o for o in snapshot.provenance.history(path) if o.layer in _SHARED]
        if origins:
            shared.append((".".join(path), origins[-1].value))
    return digest(sorted(shared, key=lambda item: item[0]))


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
