"""Health probes, restarts with backoff and optional components, end to end over real HTTP."""

from __future__ import annotations

import time
from pathlib import Path

from tests.health.apps import run_app, wait_for


def test_readiness_flips_to_503_and_back(project: Path) -> None:
    """Readiness answers 503 while a component is unhealthy and 200 once it recovers; liveness stays 200."""
    with run_app(project, "health.failure_threshold=1000") as app:
        assert app.get("/health/ready").status_code == 200
        assert app.get("/health/ready").json()["status"] == "ready"  # the verdict, not the aggregate health
        app.write("health.txt", "unhealthy")
        response = wait_for(lambda: (r := app.get("/health/ready")).status_code == 503 and r, what="503")
        assert response.json()["status"] == "not ready"
        assert any(reason.startswith("source is unhealthy") for reason in response.json()["reasons"])
        assert app.get("/health/live").status_code == 200
        assert app.get("/health").json()["status"] == "unhealthy"
        app.write("health.txt", "healthy")
        wait_for(lambda: app.get("/health/ready").status_code == 200, what="ready again")
        changes = app.get("/events/recent", params={"topic": "system.health.changed"}).json()
        statuses = [
            (e["data"]["name"], e["data"]["status"]) for e in changes if e["data"]["scope"] == "component"
        ]
        assert ("source", "unhealthy") in statuses and statuses[-1] == ("source", "healthy")


def test_degraded_component_keeps_the_app_ready(project: Path) -> None:
    """A component reporting degraded makes the app degraded but still ready."""
    with run_app(project) as app:
        app.write("health.txt", "degraded")
        wait_for(lambda: app.get("/health").json()["status"] == "degraded", what="degraded")
        assert app.get("/health/ready").status_code == 200
        assert app.details("source") == {"mode": "degraded"}


def test_raising_and_hanging_checks_count_as_unhealthy(project: Path) -> None:
    """A check that raises or hangs is unhealthy with the reason; the app and its API keep answering."""
    with run_app(project, "health.failure_threshold=1000") as app:
        app.write("health.txt", "raise")
        error = wait_for(lambda: app.details("source").get("error"), what="raise")
        assert error == "health() raised RuntimeError: probe exploded"
        app.write("health.txt", "hang")
        wait_for(
            lambda: "did not answer within 0.3 s (health.timeout)" in str(app.details("source")),
            what="the hang to be noticed",
        )
        assert app.get("/health/live").status_code == 200
        assert app.get("/health/ready").status_code == 503


def test_restart_with_backoff_then_failed(project: Path) -> None:
    """A component that stays unhealthy is restarted with doubling delays, then left failed; dependents degrade."""
    (project / "health.txt").write_text("unhealthy")
    with run_app(project) as app:
        wait_for(lambda: app.logged("health.gave_up"), timeout=15, what="the monitor to give up")
        scheduled = app.logged("health.restart_scheduled")
        assert [(e["attempt"], e["delay"]) for e in scheduled] == [(1, 0.3), (2, 0.6)]
        assert len(app.logged("health.restarting")) == 2
        wait_for(lambda: app.component("source")["state"] == "failed", what="source failed")
        source = app.component("source")
        assert "gave up after 2 restart(s) (health.max_restarts=2)" in source["reason"]
        assert app.component("sink")["state"] == "degraded"
        assert app.get("/health/ready").status_code == 503
        time.sleep(1.0)  # no restart storm: nothing more happens once it gave up
        assert len(app.logged("health.restart_scheduled")) == 2
        metrics = app.get("/metrics").text
        assert 'framework_component_restarts_total{component="source"} 2.0' in metrics
        assert 'framework_component_state{component="source",state="failed"} 1.0' in metrics


def test_restart_brings_a_component_back(project: Path) -> None:
    """After a restart the recovered component is healthy again and its dependents run normally."""
    (project / "health.txt").write_text("unhealthy")
    with run_app(project, "health.backoff=1") as app:
        wait_for(lambda: app.logged("health.restart_scheduled"), what="a restart to be scheduled")
        assert app.component("sink")["state"] == "degraded"
        app.write("health.txt", "healthy")
        wait_for(lambda: app.logged("health.restarted"), what="the restart")
        wait_for(lambda: app.get("/health/ready").status_code == 200, what="ready again")
        wait_for(lambda: app.component("sink")["state"] == "running", what="sink running again")
        starts = [e["starts"] for e in app.logged("fixture.started")]
        assert starts == [1, 2]


def test_flapping_component_causes_no_restart_storm(project: Path) -> None:
    """A component flapping between healthy and unhealthy is restarted at most max_restarts times."""
    with run_app(project, "health.backoff=0.1") as app:
        deadline = time.monotonic() + 4
        flip = 0
        while time.monotonic() < deadline:
            app.write("health.txt", "unhealthy" if flip % 2 == 0 else "healthy")
            flip += 1
            time.sleep(0.25)
        delays = [e["delay"] for e in app.logged("health.restart_scheduled")]
        assert 1 <= len(delays) <= 2 and delays == sorted(delays)


def test_optional_component_failing_at_launch_leaves_the_app_running(project: Path) -> None:
    """An optional component that cannot start leaves the app running degraded, and is started once it can."""
    (project / "extra.txt").write_text("nostart")
    with run_app(
        project,
        "+components.extra.class=fx_health.FileHealth",
        "+components.extra.optional=true",
        "+components.extra.config.path=extra.txt",
    ) as app:
        assert app.component("extra")["state"] == "failed"
        assert "extra cannot start" in app.component("extra")["reason"]
        assert app.get("/health/ready").status_code == 200  # optional: not required for readiness
        wait_for(lambda: app.get("/health").json()["status"] == "degraded", what="degraded")
        started = app.logged("app.started")
        assert started[0]["degraded"] == ["extra"]
        app.write("extra.txt", "healthy")
        wait_for(lambda: app.component("extra")["state"] == "running", what="extra started later")
        wait_for(lambda: app.get("/health").json()["status"] == "healthy", what="healthy")


def test_the_restarts_counter_never_goes_down(project: Path) -> None:
    """Once a restarted component has been stable for stable_after, its restart streak (a
    gauge) starts again from 0; the restarts counter keeps counting, or rate() would lie."""
    (project / "health.txt").write_text("unhealthy")
    with run_app(project, "health.backoff=0.2", "health.stable_after=0.5") as app:
        wait_for(lambda: app.logged("health.restarting"), what="a restart")
        app.write("health.txt", "healthy")
        wait_for(lambda: app.logged("health.restarted"), what="the restart")

        def settled() -> str | None:
            metrics = app.get("/metrics").text
            return metrics if 'framework_component_restart_streak{component="source"} 0.0' in metrics else None

        metrics = wait_for(settled, timeout=10, what="the streak to reset after stable_after")
        assert 'framework_component_restarts_total{component="source"} 1.0' in metrics
