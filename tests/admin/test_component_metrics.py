"""Components' own metrics and the bus's per-subscriber counters, as a scrape of /metrics shows them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from framework.admin.metrics import AppCollector
from framework.errors import ComponentBuildError
from framework.metrics import FRAMEWORK_METRICS, PREFIX
from framework.testing import run_app, started_app
from tests.conftest import UserProject

METER = '''
class Meter:
    """Registers a counter, a labelled gauge and a histogram; counts at start; handles jobs.*."""

    version = "1.0.0"
    subscribes = ("jobs.*",)
    config_schema = {
        "metric": {"type": "string", "default": "jobs_done_total"},
        "label": {"type": "string", "default": "queue"},
        "step": {"type": "integer", "default": 1},
    }

    def __init__(self, config, metrics, bus):
        self.config, self.bus = config, bus
        self.done = metrics.counter(config["metric"], "Jobs done")
        self.open = metrics.gauge("open_jobs", "Jobs open", labels=[config["label"]])
        self.seconds = metrics.histogram("job_seconds", "Job durations", buckets=[0.1, 1])

    async def start(self):
        self.done.inc(self.config["step"])
        self.open.labels("fast").set(3)
        self.seconds.observe(0.5)
        self.subscription = await self.bus.subscribe("jobs.*", self.on_job, max_retries=1, retry_backoff=0)

    async def stop(self):
        self.subscription.cancel()

    def on_job(self, event):
        if event.type == "jobs.bad":
            raise ValueError("a bad job")
'''

CONFIG = """
    app:
      name: metered
      allowed_packages: [mx]
      stop_timeout: 2
      watch:
        enabled: false
    components:
      meter:
        class: mx.Meter
        config:
          step: 1
      backup:
        class: mx.Meter
      admin:
        class: admin
    http:
      port: 0
"""


@pytest.fixture
def project(user_project: UserProject) -> Path:
    """Two Meter components (`meter`, `backup`) and the admin API; cwd is the project."""
    return user_project({"mx/__init__.py": METER, "conf/config.yaml": CONFIG})


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.get("/metrics")
        assert response.status_code == 200
        return response.text


def test_a_components_metrics_are_in_the_scrape_labelled_by_component(project: Path) -> None:
    """Counter, labelled gauge and histogram show under framework_component_, with a component label
    per component that registered the name (two components share each family)."""

    async def main() -> str:
        async with started_app(project / "conf") as app:
            return await scrape(app.instance("admin").url)

    text = asyncio.run(main())
    for component in ("meter", "backup"):
        labels = f'component="{component}"'
        assert f"framework_component_jobs_done_total{{{labels}}} 1.0" in text
        assert f'framework_component_open_jobs{{{labels},queue="fast"}} 3.0' in text
        assert f'framework_component_job_seconds_bucket{{{labels},le="0.1"}} 0.0' in text
        assert f'framework_component_job_seconds_bucket{{{labels},le="1.0"}} 1.0' in text
        assert f"framework_component_job_seconds_sum{{{labels}}} 0.5" in text
    assert text.count("# TYPE framework_component_jobs_done_total counter") == 1


def test_a_reload_that_rebuilds_a_component_keeps_its_metrics(project: Path) -> None:
    """A config change that restarts `meter` builds it anew: it registers the same names again without
    a clash and counts on from the values it had (1 + 5), not from zero."""

    async def main() -> tuple[str, str]:
        async with started_app(project / "conf") as app:
            url = app.instance("admin").url
            config = project / "conf" / "config.yaml"
            config.write_text(config.read_text().replace("step: 1", "step: 5"))
            outcome = await app.reload()
            assert outcome.status.value == "applied", outcome
            return await scrape(url), app.instance("meter").config["step"]

    text, step = asyncio.run(main())
    assert step == 5
    assert 'framework_component_jobs_done_total{component="meter"} 6.0' in text
    assert 'framework_component_job_seconds_count{component="meter"} 2.0' in text
    assert 'framework_component_jobs_done_total{component="backup"} 1.0' in text


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("components.meter.config.metric=jobs-done", "metric 'jobs-done': not a valid Prometheus metric name"),
        ("components.meter.config.metric=state", "clashes with the framework's own gauge framework_component_state"),
        ("components.meter.config.label=component", "the label 'component' is the framework's"),
    ],
)
def test_a_bad_metric_at_construction_is_the_component_build_error(
    project: Path, override: str, problem: str
) -> None:
    """An invalid name, a framework metric's name or a `component` label fails the build, naming the
    component, the metric and the config value that chose it."""

    async def main() -> None:
        async with started_app(project / "conf", override):
            pass

    with pytest.raises(ComponentBuildError) as caught:
        asyncio.run(main())
    assert caught.value.component == "meter"
    assert str(caught.value).startswith("component 'meter' could not be built: MetricError: component 'meter', ")
    assert problem in str(caught.value)
    key = override.partition("=")[0]
    assert any(line.startswith(f"{key} = ") for line in caught.value.origins), caught.value.origins


def test_the_bus_counts_per_subscriber_without_a_line_of_component_code(project: Path) -> None:
    """Events delivered, failed attempts, dead letters and handler durations, per subscriber: a
    component's subscriptions are counted under its name."""

    async def main() -> str:
        async with started_app(project / "conf") as app:
            for topic in ("jobs.ok", "jobs.ok", "jobs.bad"):
                await app.bus.publish(topic, {})
            while app.bus.statistics().dead_lettered < 2:  # each Meter dead-letters jobs.bad
                await asyncio.sleep(0.01)
            return await scrape(app.instance("admin").url)

    text = asyncio.run(main())
    for subscriber in ("meter", "backup"):
        labels = f'subscriber="{subscriber}"'
        assert f"framework_subscriber_events_delivered_total{{{labels}}} 2.0" in text
        assert f"framework_subscriber_handler_errors_total{{{labels}}} 2.0" in text  # first try + 1 retry
        assert f"framework_subscriber_events_dead_lettered_total{{{labels}}} 1.0" in text
        assert f"framework_subscriber_handler_duration_seconds_count{{{labels}}} 4.0" in text
        assert f'framework_subscriber_handler_duration_seconds_bucket{{le="+Inf",{labels}}} 4.0' in text
    assert "framework_events_dead_lettered_total 2.0" in text  # the bus-wide sum


def test_the_framework_families_a_component_may_not_take_are_the_ones_it_yields(project: Path) -> None:
    """FRAMEWORK_METRICS lists exactly the families under framework_component_ that /metrics yields."""

    async def main() -> dict[str, str]:
        async with started_app(project / "conf") as app:
            families = AppCollector(app, []).collect()
            return {f.name: f.type for f in families if f.name.startswith(PREFIX)}

    assert asyncio.run(main()) == {PREFIX + name: kind for name, kind in FRAMEWORK_METRICS.items()}


@pytest.mark.timeout(60)
def test_integrate_run_serves_component_and_subscriber_metrics(project: Path) -> None:
    """As a user runs it: `integrate run` with the admin API on port 0, scraped over HTTP."""
    with run_app(cwd=project) as running:
        url = running.wait_for("admin.started", after=0)["url"]
        response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'framework_component_jobs_done_total{component="meter"} 1.0' in text
    assert 'framework_component_open_jobs{component="backup",queue="fast"} 3.0' in text
    assert "# TYPE framework_subscriber_handler_duration_seconds histogram" in text
