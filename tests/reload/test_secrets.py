"""A running app's reloads never publish a secret: not in the outcome, the log, the history or
the bus event, whether the secret wins from the command line or fails to interpolate."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from framework.testing import edit_and_wait, run_app
from tests.admin.conftest import ADMIN
from tests.config.test_secrets import MARK, SECRETS, hydra_quoted
from tests.reload.conftest import ALPHA, BETA, CONFIG, make_project


@pytest.mark.parametrize("secret", list(SECRETS.values()), ids=list(SECRETS))
def test_reload_outcomes_history_and_events_never_hold_a_secret(tmp_path: Path, secret: str) -> None:
    """A file edit shadowed by a secret launch argument names the argument masked; a secret that
    fails to interpolate is rejected masked; nothing the app logs or serves holds either."""
    config = CONFIG.replace("  - components/beta\n", "  - components/beta\n  - components/admin\n")
    make_project(tmp_path, config=config, components__admin=ADMIN)
    alpha, beta = tmp_path / "conf/components/alpha.yaml", tmp_path / "conf/components/beta.yaml"
    with run_app(f"components.alpha.config.token={hydra_quoted(secret)}", cwd=tmp_path) as app:
        url = app.wait_for("admin.started", after=0)["url"]
        shadowed = edit_and_wait(app, lambda: alpha.write_text(ALPHA + "  token: file-token-2\n"))
        assert shadowed["shadowed"] == [
            {
                "key": "components.alpha.config.token",
                "file": "conf/components/alpha.yaml:6",
                "winner": "argument components.alpha.config.token=***",
                "layer": "command line",
            }
        ]
        rejected = edit_and_wait(app, lambda: beta.write_text(BETA + f'  token: "{MARK}-${{no.such.key}}"\n'))
        assert rejected["reasons"] == [
            "components.beta.config.token: InterpolationKeyError in the value of a secret key (masked)"
            " (got ***) [conf/components/beta.yaml:6]"
        ]
        served = {path: _get(url + path) for path in ("/config", "/config/history", "/events/recent?topic=config.%2A")}
        assert [e["type"] for e in json.loads(served["/events/recent?topic=config.%2A"])] == [
            "config.reloaded",
            "config.rejected",
        ]
    leaks = [text for text in [*app.text, *served.values()] if MARK in text]
    assert leaks == []


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())
