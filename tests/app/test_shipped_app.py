"""The shipped market pipeline, run as a user runs it: `integrate run` in a subprocess."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framework.testing import integrate

REPO = Path(__file__).resolve().parents[2]


def log_events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def run_app(db: Path, *overrides: str, duration: float = 3) -> subprocess.CompletedProcess[str]:
    return integrate(
        "run",
        "--log-format",
        "json",
        "profile=fast",
        f"app.duration={duration}",
        f"components.storage.config.path={db}",
        *overrides,
        cwd=REPO,
        timeout=60,
    )


def test_prices_signals_and_trades_flow(tmp_path: Path) -> None:
    """A short run shows prices, signals and trades in its log, and trades land in SQLite."""
    result = run_app(tmp_path / "m.sqlite3")
    assert result.returncode == 0, result.stderr
    messages = [e["message"] for e in log_events(result.stderr)]
    assert any(m.startswith("prices ") for m in messages)
    assert any(m.startswith("signal ") for m in messages)
    traded = [e for e in log_events(result.stderr) if "trade_id" in e]
    assert traded, "no trade in the log"
    with sqlite3.connect(tmp_path / "m.sqlite3") as db:
        ids = {row[0] for row in db.execute("SELECT id FROM trades")}
        journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert {e["trade_id"] for e in traded} <= ids
    assert journal == "wal"  # storage commits through a write-ahead log (one fsync per commit)


def test_risk_limits_are_consulted(tmp_path: Path) -> None:
    """With a position limit of one order, further orders the same way are refused."""
    result = run_app(tmp_path / "m.sqlite3", "components.risk.config.max_position=1", duration=4)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "m.sqlite3") as db:
        positions = db.execute(
            "SELECT symbol, SUM(CASE side WHEN 'buy' THEN quantity ELSE -quantity END) FROM trades GROUP BY symbol"
        ).fetchall()
    assert all(abs(q) <= 1 for _, q in positions)


def test_killed_app_recovers_positions_without_losing_or_duplicating_trades(tmp_path: Path) -> None:
    """SIGKILL mid-run, then restart: positions come back from SQLite, every logged trade kept once."""
    db = tmp_path / "m.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "framework",
            "run",
            "--log-format",
            "json",
            "profile=fast",
            f"components.storage.config.path={db}",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    logged: list[str] = []
    deadline = time.monotonic() + 30
    while len(logged) < 5 and time.monotonic() < deadline:
        line = process.stderr.readline()
        if '"trade_id"' in line:
            logged.append(json.loads(line)["trade_id"])
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert len(logged) >= 5
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM trades")]
        expected = dict(
            conn.execute(
                "SELECT symbol, SUM(CASE side WHEN 'buy' THEN quantity ELSE -quantity END) FROM trades GROUP BY symbol"
            ).fetchall()
        )
    assert set(logged) <= set(ids) and len(ids) == len(set(ids))
    restarted = run_app(db, duration=0.5)
    assert restarted.returncode == 0, restarted.stderr
    recovered = [e for e in log_events(restarted.stderr) if e["message"].startswith("recovered positions")]
    assert recovered and recovered[0]["positions"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("components.fead.config.interval=1", "did you mean 'components.feed.config.interval'?"),
        (
            "components.feed.config.symbols=BTCUSDT",
            "components.feed.config.symbols: must be of type list (got 'BTCUSDT')",
        ),
        (
            "components.analyzer.config.fast_window=-1",
            "components.analyzer.config.fast_window: must be >= 1 (got -1)",
        ),
        (
            "components.risk.config.max_position=0",
            "components.risk.config.max_position: must be >= 1e-06 (got 0)",
        ),
    ],
)
def test_newcomer_mistakes_are_explained(override: str, expected: str) -> None:
    """Typical walkthrough mistakes fail at launch with the key, the value and the fix."""
    result = integrate("run", override, cwd=REPO, timeout=60)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_windows_valid_alone_but_not_together_are_refused_before_anything_starts(tmp_path: Path) -> None:
    """fast_window >= slow_window: each is valid alone; the analyzer's validate_config refuses
    them together. `check` and `run` both say so like a schema problem, at the key with its
    origin, exit 2, and nothing starts (the constructor-error path: tests/app/test_build_errors.py)."""
    expected = (
        "components.analyzer.config.fast_window: must be smaller than slow_window (20) (got 30)"
        " [argument components.analyzer.config.fast_window=30]"
    )
    checked = integrate("check", "components.analyzer.config.fast_window=30", cwd=REPO, timeout=60)
    result = integrate(
        "run", "components.analyzer.config.fast_window=30", f"components.storage.config.path={tmp_path / 'm.db'}",
        cwd=REPO, timeout=60,
    )
    for outcome in (checked, result):
        assert outcome.returncode == 2, outcome.stderr
        assert expected in outcome.stderr and "Traceback" not in outcome.stderr
    assert "running" not in result.stderr and not (tmp_path / "m.db").exists()
    assert f"# integrate check components.analyzer.config.fast_window=30 ->\n#   {expected.strip()}" in (
        REPO / "README.md"
    ).read_text()  # what the README's example shows


def test_unwritable_sqlite_file_fails_start_cleanly(tmp_path: Path) -> None:
    """A database path that cannot be written stops the launch naming the path."""
    result = run_app(Path("/proc/no-such-dir/m.sqlite3"))
    assert result.returncode == 1
    assert "component 'storage' failed to start" in result.stderr
    assert "cannot open SQLite database '/proc/no-such-dir/m.sqlite3'" in result.stderr
