"""The fleet as text: members and drift, a rollout's answers, the overlay's history."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from framework.fleet.records import Outcome, OverlayVersion, utc_minute
from framework.fleet.rollout import Report
from framework.terminal import columns


def members_table(view: Mapping[str, Any]) -> str:
    """``fleet status`` as text, from ``fleet_view``'s data."""
    fleet, current, members = view["fleet"], view["overlay_version"], view["instances"]
    if not members:
        return f"fleet {fleet}: overlay v{current}, no live instance"
    now = time.time()
    rows = [
        (
            m["instance"], f"v{m['overlay_version']}", m["fleet_digest"][:12], "DRIFT" if m["drift"] else "",
            m["state"], m["health"], f"v{m['config_version']}", f"{now - m['started_at']:.0f}s",
            m["admin_url"] or "-", m["degraded"] or "",
        )
        for m in members
    ]
    header = ("INSTANCE", "OVERLAY", "DIGEST", "DRIFT", "STATE", "HEALTH", "CONFIG", "UP", "ADMIN", "NOTE")
    drifted = sum(1 for m in members if m["drift"])
    summary = f"fleet {fleet}: overlay v{current}, {len(members)} instance(s), {drifted} drifted"
    return summary + "\n" + columns([header, *rows])


def answers_table(report: Report, dry_run: bool) -> str:
    rows = []
    for name in sorted(report.answers):
        answer = report.answers[name]
        detail = "; ".join(answer.reasons) if answer.outcome is Outcome.NACK else ", ".join(answer.actions) or "no change"
        rows.append((name, answer.outcome.value.upper(), f"v{answer.version}", answer.digest[:12], f"{answer.duration_ms:.0f}", detail))
    rows += [(name, Outcome.NO_ANSWER.value.upper(), "-", "-", "-", "no answer within the timeout") for name in report.missing]
    lines = []
    if report.version is not None:
        lines.append(f"overlay v{report.version} written")
    elif dry_run:
        lines.append("dry run: nothing written")
    lines.append(columns([("INSTANCE", "ANSWER", "OVERLAY", "DIGEST", "MS", "DETAIL"), *rows]) if rows else "no instance answered")
    lines += report.notes
    acked = sum(1 for a in report.answers.values() if a.outcome in (Outcome.ACK, Outcome.PLANNED))
    total = len(report.answers) + len(report.missing)
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {acked}/{total} instance(s) {'planned' if dry_run else 'acknowledged'}")
    return "\n".join(lines)


def history_rows(versions: Sequence[OverlayVersion], current: int, abandoned: Mapping[int, str]) -> list[dict[str, Any]]:
    rows = []
    for v in versions:
        changes = ", ".join(_change_text(c) for c in v.masked_changes()) or "no change"
        marker = " (current)" if v.version == current else f" (abandoned: {abandoned[v.version]})" if v.version in abandoned else ""
        line = f"v{v.version}{marker}  {utc_minute(v.set_at)}  {v.set_by}  {v.note}: {changes}"
        rows.append({"version": v.version, "current": v.version == current, "abandoned": abandoned.get(v.version),
                     "set_at": v.set_at, "when": utc_minute(v.set_at), "set_by": v.set_by,
                     "note": v.note, "values": v.masked_values(), "changes": v.masked_changes(), "line": line})
    return rows


def _change_text(change: dict[str, Any]) -> str:
    if change["removed"]:
        return f"-{change['key']}"
    if change["added"]:
        return f"+{change['key']}={json.dumps(change['new'], default=str)}"
    return f"{change['key']}: {json.dumps(change['old'], default=str)} -> {json.dumps(change['new'], default=str)}"
