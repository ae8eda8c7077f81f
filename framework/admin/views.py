"""The app's objects as the admin API shows them: JSON-friendly dicts and lists, built per request.

Each function reads the running app (``AdminView``) or one of its records and returns data that
``json.dumps`` takes as is. Masking is the response's job (``responses.masked_response``), not theirs.
"""

from __future__ import annotations

import time
from typing import Any

from framework._version import __version__
from framework.admin.types import AdminView
from framework.config.explain import provenance_rows
from framework.events.records import DeadLetter
from framework.health_records import Probe
from framework.lifecycle import ComponentState
from framework.reload.outcome import ReloadOutcome


def probe_view(probe: Probe, passed: str, failed: str) -> dict[str, Any]:
    """A readiness or liveness answer: its status word, the reasons for a 'no', the details."""
    return {"status": passed if probe.ok else failed, "reasons": list(probe.reasons), **probe.details}


def info_view(app: AdminView) -> dict[str, Any]:
    """App name and version, framework version, uptime and config version."""
    section, snapshot, started = app.snapshot.section("app"), app.snapshot, app.started_at
    return {
        "app": section.get("name"),
        "version": section.get("version"),
        "framework_version": __version__,
        "uptime": round(time.time() - started, 3) if started else 0.0,
        "started_at": started,
        "config_version": snapshot.version,
        "config_hash": snapshot.digest[:12],
        "status": app.health.status.value,
    }


def component_rows(app: AdminView) -> list[dict[str, Any]]:
    """One row per component entry: state, version, dependencies, health."""
    states, reasons, records = app.lifecycle.states, app.lifecycle.reasons, app.health.records
    rows = []
    for name, spec in app.assembly.specs.items():
        state, record = states.get(name), records.get(name)
        rows.append(
            {
                "name": name,
                "class": spec.class_ref,
                "enabled": spec.enabled,
                "optional": spec.optional,
                "state": state.value if isinstance(state, ComponentState) else "disabled",
                "reason": reasons.get(name),
                "version": getattr(app.assembly.classes.get(name), "version", None),  # optional on a class
                "depends_on": [str(d) for d in spec.depends_on],
                "health": record.as_dict() if record is not None else None,
            }
        )
    return rows


def config_view(app: AdminView) -> dict[str, Any]:
    """The running config (secrets masked) with where each value came from."""
    snapshot = app.snapshot
    provenance = {
        row["key"]: {"layer": row["layer"], "where": row["where"]} if row["layer"] else None
        for row in provenance_rows(snapshot)
    }
    return {
        "version": snapshot.version,
        "hash": snapshot.digest[:12],
        "config": snapshot.masked(),
        "provenance": provenance,
    }


def history_view(app: AdminView) -> dict[str, Any]:
    """The reloads so far (applied, rejected, rolled back) and the running version."""
    return {
        "version": app.snapshot.version,
        "hash": app.snapshot.digest[:12],
        "reload_supported": True,  # kept for clients that read it: every app reloads in process
        "reloads": app.reload_history(),
    }


def reload_view(outcome: ReloadOutcome) -> dict[str, Any]:
    """The answer to a reload request: the verdict on top, the whole outcome below."""
    return {"dry_run": outcome.dry_run, "outcome": outcome.status.value, "result": outcome.to_dict()}


def dead_letter_row(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter, its event (when it was one) and why it was set aside."""
    return {
        "id": letter.id,
        "subscriber": letter.subscriber,
        "reason": letter.reason.value,
        "error": letter.error,
        "time": letter.time,
        "replayable": letter.replayable,
        "event": letter.envelope.to_dict() if letter.envelope is not None else None,
        "raw": dict(letter.raw) if letter.raw is not None else None,
    }
