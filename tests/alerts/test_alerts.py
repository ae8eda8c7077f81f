"""Alert routing in a running app: a real HTTP server on loopback is the webhook; storms fold
into one alert, flaky webhooks are retried, severities filter, AlertSink components receive,
bad sink names are refused before anything starts, and routing changes on reload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framework import AlertSink, ComponentsError
from framework.alerts.sink import implements_alert_sink
from framework.app import App
from framework.assembly import assemble, load_config
from framework.config.compose import ConfigSource
from framework.testing import edit_and_reload, integrate, started_app
from tests.alerts.test_error_events import FAILING, SECRET
from tests.alerts.webhook_server import Receiver, webhook
from tests.conftest import UserProject
from tests.leaks import leaks

PAGER = '''

class Pager:
    """An AlertSink component: keeps what it is sent."""

    def __init__(self):
        self.alerts = []

    async def start(self):
        pass

    async def stop(self):
        pass

    async def send_alert(self, alert):
        self.alerts.append(alert)


class Mute:
    """A component without send_alert."""

    async def start(self):
        pass

    async def stop(self):
        pass
'''

BASE = f"""
app:
  name: alerting
  allowed_packages: [failing]
  watch: {{enabled: false}}
event_bus: {{max_retries: 0, retry_backoff: 0.01}}
components:
  worker:
    class: failing.Worker
    config: {{password: {json.dumps(SECRET)}}}
  pager: {{class: failing.Pager}}
  mute: {{class: failing.Mute}}
"""


def alerts_yaml(url: str, routes: str, retries: int = 3) -> str:
    return f"""
alerts:
  webhooks:
    - name: ops
      url: {url}
      timeout: 2
      retries: {retries}
      backoff: 0.01
  routes:
{routes}"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook() as found:
        yield found


def project(user_project: UserProject, config: str) -> Path:
    return user_project({"failing/__init__.py": FAILING + PAGER, "conf/config.yaml": config})


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


async def publish_failures(app: App, count: int) -> None:
    for number in range(count):
        await app.bus.publish("work.order", {"id": number})


async def until(condition: Any, what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_storm_of_fifty_failures_is_one_webhook_alert_with_count_fifty(
    user_project: UserProject, receiver: Receiver
) -> None:
    """50 handler failures within the window: one POST whose count is 50, naming the component,
    with the last event's payload, the password the handler quoted masked."""
    routes = '    - {topics: ["error.handler"], window: 1.0, sinks: [ops]}\n'
    root = project(user_project, BASE + alerts_yaml(receiver.url, routes))

    async def scenario() -> None:
        async with started_app(root / "conf") as app:
            await publish_failures(app, 50)
            await until(lambda: receiver.bodies, "the alert", 10)
            await asyncio.sleep(0.3)  # nothing more follows

    run(scenario())
    assert len(receiver.requests) == 1, receiver.requests
    alert = receiver.bodies[0]
    assert alert["count"] == 50 and alert["topic"] == "error.handler" and alert["route"] == "0"
    assert alert["severity"] == "error" and alert["components"] == ["worker"]
    assert 0 <= alert["last"] - alert["first"] < 1.0
    assert alert["event"]["cause"] == "RuntimeError: cannot log in as admin with ***"
    assert alert["event"]["kind"] == "handler" and alert["event"]["topic"] == "work.order"
    assert receiver.requests[0][0] == "/hooks/T0KEN-abc123"
    assert leaks(json.dumps(receiver.requests), SECRET) == []


def test_a_webhook_that_fails_twice_gets_the_alert_on_the_third_post(user_project: UserProject) -> None:
    """Two 500 answers, then 200: the same alert POSTed three times, delivered once."""
    routes = '    - {topics: ["error.dead_letter"], sinks: [ops]}\n'
    with webhook(failures=2) as flaky:
        root = project(user_project, BASE + alerts_yaml(flaky.url, routes))

        async def scenario() -> None:
            async with started_app(root / "conf") as app:
                await publish_failures(app, 1)
                await until(lambda: flaky.bodies, "the alert after retries")

        run(scenario())
    assert len(flaky.requests) == 3 and len(flaky.bodies) == 1
    assert [body for _, body in flaky.requests] == [flaky.bodies[0]] * 3  # one alert, tried again
    assert flaky.bodies[0]["event"]["reason"] == "handler_failed"


def test_min_severity_leaves_out_the_warnings_of_retried_attempts(
    user_project: UserProject, receiver: Receiver
) -> None:
    """With one retry each failing event is a warning then an error: a route from `error` takes
    the errors only; a route from `warning` both; `critical` none."""
    routes = (
        '    - {name: errors, topics: ["error.handler"], min_severity: error, sinks: [ops]}\n'
        '    - {name: everything, topics: ["error.handler"], min_severity: warning, sinks: [pager]}\n'
        '    - {name: pages, topics: ["error.**"], min_severity: critical, sinks: [pager]}\n'
    )
    root = project(user_project, BASE.replace("max_retries: 0", "max_retries: 1") + alerts_yaml(receiver.url, routes))

    async def scenario() -> list[Any]:
        async with started_app(root / "conf") as app:
            await publish_failures(app, 3)
            pager = app.instance("pager")
            await until(lambda: len(pager.alerts) >= 6 and len(receiver.bodies) >= 3, "the alerts")
            await asyncio.sleep(0.2)
            return list(pager.alerts)

    paged = run(scenario())
    assert [b["severity"] for b in receiver.bodies] == ["error"] * 3
    assert sorted(a["severity"] for a in paged) == ["error"] * 3 + ["warning"] * 3
    assert {a["route"] for a in paged} == {"everything"}


def test_an_alert_sink_component_receives_alerts(user_project: UserProject, receiver: Receiver) -> None:
    """A component with send_alert named among a route's sinks gets each alert as plain data."""
    assert implements_alert_sink(type("X", (), {"send_alert": lambda self, alert: None})) is None
    assert issubclass(type("Y", (), {"send_alert": lambda self, alert: None}), AlertSink)
    routes = '    - {topics: ["error.*"], min_severity: error, sinks: [pager, log]}\n'
    root = project(user_project, BASE + alerts_yaml(receiver.url, routes))

    async def scenario() -> list[Any]:
        async with started_app(root / "conf") as app:
            await publish_failures(app, 1)
            pager = app.instance("pager")
            await until(lambda: len(pager.alerts) >= 2, "two alerts")
            return list(pager.alerts)

    alerts = run(scenario())
    assert sorted(a["topic"] for a in alerts) == ["error.dead_letter", "error.handler"]
    assert all(a["count"] == 1 and a["components"] == ["worker"] for a in alerts)


@pytest.mark.parametrize(
    ("sinks", "expected"),
    [
        (
            "[log, nowhere]",
            "alerts.routes.0.sinks.1: is not a sink; accepted: 'log', a webhook of alerts.webhooks ('ops'),"
            " or an enabled component implementing AlertSink ('pager') (got 'nowhere') [conf/config.yaml:20]",
        ),
        (
            "[mute]",
            "alerts.routes.0.sinks.0: component 'mute' (Mute) is no AlertSink: it has no method"
            " send_alert(alert) (got 'mute') [conf/config.yaml:20]",
        ),
    ],
)
def test_a_sink_that_is_not_one_is_refused_before_anything_starts(
    user_project: UserProject, sinks: str, expected: str
) -> None:
    """The error names the key, the value, the file:line and what is accepted."""
    routes = f"    - {{topics: [\"error.**\"], sinks: {sinks}}}\n"
    root = project(user_project, BASE + alerts_yaml("https://hooks.example.com/T0KEN", routes))
    with pytest.raises(ComponentsError) as error:
        assemble(load_config(ConfigSource(root / "conf", "config", ())))
    assert [str(e) for e in error.value.errors] == [expected]


def test_alert_routing_changes_on_reload_and_a_bad_change_keeps_the_old(
    user_project: UserProject, receiver: Receiver
) -> None:
    """Sinks [ops] then [pager]: the next failure goes to the pager only. A route naming an
    unknown sink is rejected, and the pager still gets the failure after it."""
    config = root_config = BASE + alerts_yaml(receiver.url, '    - {topics: ["error.handler"], sinks: [ops]}\n')
    root = project(user_project, config)
    path = root / "conf/config.yaml"

    async def scenario() -> tuple[int, list[Any], Any, Any]:
        async with started_app(root / "conf") as app:
            await publish_failures(app, 1)
            await until(lambda: receiver.bodies, "the webhook's alert")
            applied = await edit_and_reload(app, path, root_config.replace("sinks: [ops]", "sinks: [pager]"))
            await publish_failures(app, 1)
            pager = app.instance("pager")
            await until(lambda: pager.alerts, "the pager's alert")
            rejected = await edit_and_reload(app, path, root_config.replace("sinks: [ops]", "sinks: [nowhere]"))
            await publish_failures(app, 1)
            await until(lambda: len(pager.alerts) >= 2, "the pager's second alert")
            return len(receiver.bodies), list(pager.alerts), applied, rejected

    posted, paged, applied, rejected = run(scenario())
    assert applied.ok and [c.key for c in applied.changes] == ["alerts.routes"]
    assert not rejected.ok and "alerts.routes.0.sinks.0: is not a sink" in rejected.reasons[0]
    assert posted == 1 and len(paged) == 2


def test_the_webhook_url_is_masked_by_show_explain_and_a_validation_error(user_project: UserProject) -> None:
    """`show` and `explain` print *** for the URL; a URL that breaks its pattern is refused
    naming the item's key, its value masked all through (the token rides in the path)."""
    routes = '    - {topics: ["error.**"], sinks: [ops]}\n'
    root = project(user_project, BASE + alerts_yaml("https://hooks.example.com/T0KEN", routes))
    shown = integrate("show", cwd=root)
    explained = integrate("explain", "alerts.webhooks", cwd=root)
    assert shown.returncode == 0 and "url: '***'" in shown.stdout and "T0KEN" not in shown.stdout
    assert '"url": "***"' in explained.stdout and "T0KEN" not in explained.stdout
    (root / "conf/config.yaml").write_text(BASE + alerts_yaml("ftp://hooks.example.com/T0KEN", routes))
    checked = integrate("check", cwd=root)
    assert checked.returncode == 2 and "T0KEN" not in checked.stderr
    assert r"alerts.webhooks.0.url: must match the pattern ^https?://\S+$ (got ***) [conf/config.yaml:" in checked.stderr


def test_a_webhook_name_taken_twice_or_by_a_component_is_refused(user_project: UserProject) -> None:
    """A sink name must say one thing: a second webhook `ops`, a webhook `log` and one named
    like a component are each refused at their key."""
    hooks = "".join(
        f"    - {{name: {name}, url: 'https://hooks.example.com/{name}'}}\n" for name in ("ops", "ops", "log", "pager")
    )
    config = BASE + f"alerts:\n  webhooks:\n{hooks}  routes:\n    - {{sinks: [log]}}\n"
    root = project(user_project, config)
    with pytest.raises(ComponentsError) as error:
        assemble(load_config(ConfigSource(root / "conf", "config", ())))
    assert [str(e).split(" (got")[0] for e in error.value.errors] == [
        "alerts.webhooks.1.name: is also another webhook's name; give each sink a name of its own",
        "alerts.webhooks.2.name: is also the log sink's name; give each sink a name of its own",
        "alerts.webhooks.3.name: is also a component's name; give each sink a name of its own",
    ]


@pytest.mark.redis
def test_on_redis_a_dead_letter_reaches_an_alert_sink(user_project: UserProject, prefix: str, redis_url: str) -> None:
    """The same routing on Redis Streams: the handler's failure, its dead letter and the alerts'
    own subscription all go through Redis, and the pager gets one alert per error kind."""
    routes = '    - {topics: ["error.*"], min_severity: error, sinks: [pager]}\n'
    root = project(user_project, BASE + alerts_yaml("https://hooks.example.com/T0KEN", routes))
    overrides = ("event_bus.backend=redis", f"event_bus.redis.url={redis_url}",
                 f"event_bus.redis.stream_prefix={prefix}", "event_bus.redis.signing_key=alerts-signing-key-0123456789")

    async def scenario() -> list[Any]:
        async with started_app(root / "conf", *overrides) as app:
            await publish_failures(app, 1)
            pager = app.instance("pager")
            await until(lambda: len(pager.alerts) >= 2, "two alerts over Redis")
            return list(pager.alerts)

    alerts = run(scenario())
    assert sorted(a["topic"] for a in alerts) == ["error.dead_letter", "error.handler"]
    assert all("cannot log in as admin with ***" in a["event"]["cause"] for a in alerts)
    assert leaks(json.dumps(alerts), SECRET) == []


def test_a_slow_webhook_never_holds_the_bus_up(user_project: UserProject) -> None:
    """Each POST takes the receiver 1 s and times out at 0.2 s: meanwhile 200 events are handled
    and their failures reported at the bus's pace; the sends still under way at stop are given
    up after event_bus.shutdown_timeout."""
    routes = '    - {topics: ["error.handler"], sinks: [ops]}\n'
    with webhook(delay=1.0) as slow:
        config = BASE.replace("retry_backoff: 0.01", "retry_backoff: 0.01, shutdown_timeout: 0.5")
        config += alerts_yaml(slow.url, routes, retries=0).replace("timeout: 2", "timeout: 0.2")
        root = project(user_project, config)

        async def scenario() -> int:
            async with started_app(root / "conf") as app:
                await publish_failures(app, 200)

                def routed() -> int:  # error events the router's own subscription has taken
                    return app.bus.statistics().subscribers["framework.alerts"].delivered

                await until(lambda: routed() == 200, "the router to take every error event", timeout=5)
                return len(slow.requests)

        posted = run(scenario())
        requests = len(slow.requests)
    assert posted < 100  # the router took all 200 with most POSTs (4 at a time, 0.2 s each) still to go
    assert 1 <= requests < 200  # the sends still waiting at stop were given up
