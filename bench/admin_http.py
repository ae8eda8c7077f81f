"""`GET /health/ready` of the shipped app under event load against a bare FastAPI app, in one run.

Both are served by uvicorn on loopback in their own process; one httpx client (keep-alive,
fixed concurrency, a bounded number of requests) measures requests per second and p99
latency of each, alternating rounds and keeping each side's median round. The shipped app
runs its feed at a high rate meanwhile (``--interval``, ``--symbols``): the admin API shares
the event loop with the whole pipeline, which is the cost this measures.

Over the network both sides are paced by a client and a scheduler that share this 2-core
machine with whatever else runs, so the same figures are also taken where only the server's
own work counts: the CPU time one `GET /health/ready` costs each ASGI app, called in process
without a socket (ours with its middleware, the shipped app running behind it at its configured
pace).
"""

from __future__ import annotations

# Named admin_http.py, not http.py: every script in bench/ has this folder first on sys.path,
# where an http.py would shadow the standard library's `http` package.
import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
READY = "/health/ready"

# Measured before issue 18's change, with the code as it was (commit 46223a5), on this machine:
# the issue's figure over the network, and the in-process request cost (CPU µs per request).
BEFORE_ISSUE_18 = {
    "ratio_rps": 0.78,
    "request_path_us": {"app": 77.0, "bare_fastapi": 37.0, "ratio": 2.09},
    "measured": "before the change, as recorded constants (issue 18's table; bench run at 46223a5)",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare_api() -> Any:
    """The peer: a bare FastAPI app with the same endpoint."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    api = FastAPI()

    @api.get(READY)
    async def ready() -> Response:
        return Response(
            json.dumps({"status": "ready", "reasons": [], "status_detail": "healthy"}),
            media_type="application/json",
        )

    return api


def serve_bare(port: int) -> None:
    """The peer served by uvicorn with the same settings as ours."""
    import uvicorn

    uvicorn.run(
        bare_api(),
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        log_level="warning",
    )


def start_app(port: int, db: Path, interval: float, symbols: int) -> subprocess.Popen[bytes]:
    names = ",".join(f"SYM{i:02d}" for i in range(symbols))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "framework",
            "run",
            "--config-dir",
            str(REPO / "conf"),
            "logging.level=WARNING",
            f"http.port={port}",
            f"components.feed.config.interval={interval}",
            f"components.feed.config.symbols=[{names}]",
            f"components.storage.config.path={db}",
            "app.watch.enabled=false",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {process.returncode}")
        try:
            if httpx.get(url + READY, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready within {timeout} s")


async def hammer(url: str, requests: int, concurrency: int) -> dict[str, float]:
    """``requests`` GETs with ``concurrency`` keep-alive connections; rps and latency percentiles."""
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                began = time.perf_counter()
                response = await client.get(READY)
                latencies.append(time.perf_counter() - began)
                if response.status_code != 200:
                    raise SystemExit(f"{url}{READY} answered {response.status_code}: {response.text}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": requests / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
    }


async def cpu_per_request(asgi: Any, requests: int) -> float:
    """CPU µs one ``GET /health/ready`` costs ``asgi``, called directly (no socket, no client)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": READY, "raw_path": READY.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8765),
        "headers": [(b"host", b"127.0.0.1:8765"), (b"accept", b"*/*")],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    began = time.process_time()
    for _ in range(requests):
        await asgi(dict(scope), receive, send)
    elapsed = time.process_time() - began
    if set(statuses) != {200}:
        raise SystemExit(f"{READY} answered {sorted(set(statuses))} in process")
    return 1e6 * elapsed / requests


async def request_path(requests: int, rounds: int) -> dict[str, float]:
    """Median CPU µs per request of our admin API (the shipped app running) and of the bare
    app, in alternating rounds."""
    from framework.admin.api import create_admin_api
    from framework.testing import started_app

    with tempfile.TemporaryDirectory() as tmp:
        overrides = (
            f"components.storage.config.path={Path(tmp) / 'bench.sqlite3'}", "app.watch.enabled=false",
            "http.port=0", "logging.level=WARNING",
        )
        async with started_app(REPO / "conf", *overrides) as app:
            ours, peer = create_admin_api(app), bare_api()
            await cpu_per_request(ours, 300), await cpu_per_request(peer, 300)  # warm-up
            samples: tuple[list[float], list[float]] = ([], [])
            for _ in range(rounds):
                samples[0].append(await cpu_per_request(ours, requests))
                samples[1].append(await cpu_per_request(peer, requests))
    app_us, bare_us = statistics.median(samples[0]), statistics.median(samples[1])
    return {"app": round(app_us, 1), "bare_fastapi": round(bare_us, 1), "ratio": round(app_us / bare_us, 3)}


def published(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    match = re.search(r"^framework_events_published_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}


def run(requests: int, concurrency: int, rounds: int, interval: float, symbols: int) -> dict[str, object]:
    app_port, bare_port = free_port(), free_port()
    app_url, bare_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{bare_port}"
    with tempfile.TemporaryDirectory() as tmp:
        app, bare = start_app(app_port, Path(tmp) / "bench.sqlite3", interval, symbols), start_bare(bare_port)
        try:
            wait_ready(app_url, app)
            wait_ready(bare_url, bare)
            asyncio.run(hammer(app_url, 300, concurrency))  # warm-up, both sides
            asyncio.run(hammer(bare_url, 300, concurrency))
            ours, peer, event_rates = [], [], []
            for _ in range(rounds):
                before, began = published(app_url), time.perf_counter()
                ours.append(asyncio.run(hammer(app_url, requests, concurrency)))
                event_rates.append((published(app_url) - before) / (time.perf_counter() - began))
                peer.append(asyncio.run(hammer(bare_url, requests, concurrency)))
        finally:
            for process in (app, bare):
                process.send_signal(signal.SIGTERM)
            for process in (app, bare):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
    app_figures, bare_figures = median_round(ours), median_round(peer)
    app_figures["events_per_s"] = round(statistics.median(event_rates), 1)
    return {
        "bench": "http",
        "endpoint": READY,
        "requests_per_round": requests,
        "rounds": rounds,
        "concurrency": concurrency,
        "feed": {"interval": interval, "symbols": symbols},
        "app": app_figures,
        "bare_fastapi": bare_figures,
        "ratio_rps": round(app_figures["rps"] / bare_figures["rps"], 3),
        "ratio_p99": round(app_figures["p99_ms"] / bare_figures["p99_ms"], 3),
        "before_issue_18": BEFORE_ISSUE_18,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round and side")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.002, help="feed: seconds between ticks")
    parser.add_argument("--symbols", type=int, default=10, help="feed: symbols per tick")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    os.environ.pop("MARKET_ADMIN_TOKEN", None)
    result = run(args.requests, args.concurrency, args.rounds, args.interval, args.symbols)
    result["request_path_us"] = asyncio.run(request_path(2000, 9))
    for side in ("app", "bare_fastapi"):
        figures = result[side]
        assert isinstance(figures, dict)
        load = f", {figures['events_per_s']:.0f} events/s on the bus" if "events_per_s" in figures else ""
        print(
            f"{side:>12}: {figures['rps']:8.0f} req/s   p50 {figures['p50_ms']:6.2f} ms"
            f"   p99 {figures['p99_ms']:6.2f} ms{load}"
        )
    print(f"ratio (app / bare): {result['ratio_rps']:.2f}x req/s, {result['ratio_p99']:.2f}x p99"
          f" (before issue 18: {BEFORE_ISSUE_18['ratio_rps']:.2f}x req/s)")
    cost, before = result["request_path_us"], BEFORE_ISSUE_18["request_path_us"]
    assert isinstance(cost, dict) and isinstance(before, dict)
    print(
        f"in process, CPU per request: app {cost['app']:.1f} µs, bare {cost['bare_fastapi']:.1f} µs,"
        f" {cost['ratio']:.2f}x (before issue 18: {before['app']:.0f} µs vs {before['bare_fastapi']:.0f}, {before['ratio']:.2f}x)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
