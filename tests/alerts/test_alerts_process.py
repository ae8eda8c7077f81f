"""Alerts as a user meets them, through `integrate run` in a subprocess: the README's example run
as written, routing edited in the YAML of a running app, and no secret in what it logs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from framework.testing import edit_and_wait, run_app
from tests.alerts.test_error_events import FAILING, SECRET
from tests.alerts.webhook_server import Receiver, webhook
from tests.conftest import UserProject
from tests.leaks import leaks
from tests.readme import README

SECTION = README.read_text().split("### Error events and alerts", 1)[1].split("\n### ", 1)[0]
DYNAMIC = {"first", "last", "time", "correlation_id"}  # a run's own times and ids


def shown(kind: str) -> str:
    found = re.search(rf"```{kind}\n(.*?)```", SECTION, re.DOTALL)
    assert found is not None, f"the README's alerts section lost its {kind} block"
    return found.group(1)


def test_the_readme_alert_reaches_a_webhook_as_shown(tmp_path: Path) -> None:
    """The README's YAML added to the shipped conf/config.yaml, its command run as written with
    OPS_WEBHOOK naming a real local server: the server receives the JSON the README shows
    (times and ids are the run's own), and the launch fails as a bad journal path makes it."""
    repo = README.parent
    shutil.copytree(repo / "conf", tmp_path / "conf")
    with (tmp_path / "conf/config.yaml").open("a") as config:
        config.write("\n" + shown("yaml"))
    export, command = [line.split("  #")[0].strip() for line in shown("bash").splitlines()]
    assert export.startswith("export OPS_WEBHOOK=") and command.startswith("integrate run ")
    with webhook(path="/services/T0KEN") as receiver:
        env = {**os.environ, "OPS_WEBHOOK": receiver.url, "PYTHONPATH": str(repo),
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=60)
        bodies = receiver.wait_for(1)
    assert result.returncode == 1 and "error: component 'journal' failed to start" in result.stderr
    expected = json.loads(shown("json"))
    assert len(bodies) == 1 and set(bodies[0]) == set(expected)
    got = bodies[0]
    assert {k: v for k, v in got.items() if k not in DYNAMIC | {"event"}} == {
        k: v for k, v in expected.items() if k not in DYNAMIC | {"event"}
    }
    assert {k: v for k, v in got["event"].items() if k not in DYNAMIC} == {
        k: v for k, v in expected["event"].items() if k not in DYNAMIC
    }
    assert "T0KEN" not in result.stderr and "alert 'failures': error.start" in result.stderr


TICKER = '''

class Ticker:
    """Publishes work.tick every 50 ms: the worker fails on each, so errors keep coming."""

    publishes = ["work.*"]

    def __init__(self, bus, tasks):
        self.bus, self.tasks = bus, tasks

    async def start(self):
        self.tasks.spawn(self.tick(), name="ticker")

    async def stop(self):
        pass

    async def tick(self):
        import asyncio
        while True:
            await self.bus.publish("work.tick", {})
            await asyncio.sleep(0.05)
'''

CONFIG = f"""
app:
  name: alerting
  allowed_packages: [failing]
  watch: {{step_ms: 20, settle_ms: 60}}
event_bus: {{max_retries: 0}}
components:
  worker:
    class: failing.Worker
    config: {{password: {json.dumps(SECRET)}}}
  ticker: {{class: failing.Ticker}}
"""


def alerts(first: Receiver, second: Receiver, sink: str) -> str:
    return f"""
alerts:
  webhooks:
    - {{name: first, url: "{first.url}", backoff: 0.01}}
    - {{name: second, url: "{second.url}", backoff: 0.01}}
  routes:
    - {{topics: ["error.handler"], window: 0.3, sinks: [{sink}]}}
"""


def test_editing_alerts_in_a_running_app_moves_the_alerts_and_a_bad_edit_keeps_them(
    user_project: UserProject,
) -> None:
    """Alerts go to the first webhook; the YAML edited to the second, the next ones go there;
    an edit naming no sink is rejected (naming the key) and they keep going there. The
    webhooks' URLs and the password the handler quotes appear nowhere in the log."""
    with webhook(path="/one/T0KEN-1") as first, webhook(path="/two/T0KEN-2") as second:
        root = user_project({"failing/__init__.py": FAILING + TICKER, "conf/config.yaml": CONFIG})
        path = root / "conf/config.yaml"
        path.write_text(CONFIG + alerts(first, second, "first"))
        with run_app(cwd=root) as app:
            alert = first.wait_for(1)[0]
            applied = edit_and_wait(app, lambda: path.write_text(CONFIG + alerts(first, second, "second")))
            before = len(first.bodies)
            second.wait_for(2)
            rejected = edit_and_wait(app, lambda: path.write_text(CONFIG + alerts(first, second, "third")))
            count = len(second.bodies)
            second.wait_for(count + 2)
            app.stop()
            log = "\n".join(app.text)
    assert alert["topic"] == "error.handler" and alert["count"] >= 1 and alert["components"] == ["worker"]
    assert alert["event"]["cause"] == "RuntimeError: cannot log in as admin with ***"
    assert applied["outcome"] == "applied" and rejected["event"] == "config.rejected"
    assert any("alerts.routes.0.sinks.0: is not a sink" in r for r in rejected["reasons"]), rejected
    assert len(first.bodies) <= before + 1  # at most the window open at the edit, sent then
    assert "T0KEN" not in log and leaks(log, SECRET) == []


def test_a_webhook_that_cannot_be_reached_is_logged_masked_and_the_app_runs_on(user_project: UserProject) -> None:
    """Nothing listens at the URL: each alert is logged as not delivered, with no URL in the line,
    and the app keeps handling events and stops cleanly."""
    with webhook() as closed:
        url = closed.url.replace("/hooks/", "/nobody/")
    root = user_project({"failing/__init__.py": FAILING + TICKER, "conf/config.yaml": CONFIG + f"""
alerts:
  webhooks:
    - {{name: gone, url: "{url}", retries: 1, backoff: 0.01, timeout: 0.5}}
  routes:
    - {{topics: ["error.handler"], window: 0.2, sinks: [gone]}}
"""})
    with run_app(cwd=root) as app:
        line = app.wait_for("alert.webhook_failed")
        assert app.stop() == 0
    assert line["message"].startswith("webhook 'gone': alert 'error.handler' not delivered after 2 attempt(s): ConnectError")
    log = "\n".join(app.text)
    assert "T0KEN" not in log and url.split("/nobody/")[0] not in log
