"""Fleet rollout latency: one `fleet set` to every instance's ACK, beside the same change made
the old way, file by file.

    python bench/fleet.py [INSTANCES] [ROUNDS]     (defaults 20 and 20; needs Redis, Linux /proc)

Last, as the issue asks, the bus's publish and consume rates on a local Redis Cluster (started
here, as bench/cluster.py does) beside one Redis server, in the same run.

Redis: BENCH_REDIS_URL (default 127.0.0.1:6379). INSTANCES shipped-app processes (`integrate run`
in folders of their own, each with a copy of `conf/` and `components/`, the admin API off, the
Redis bus under a stream prefix of this run, the fleet's default heartbeat of 1 s unless
BENCH_FLEET_HEARTBEAT says otherwise) join one fleet, BATCH at a time. Then, on the same
instances with the same bus:
- files (the peer): each round rewrites `components.feed.config.interval` in every instance's
  `conf/profile/default.yaml`; the time runs from the first write until every instance has
  published `config.reloaded` (read with XREAD from the bus's stream, entries verified).
- fleet: each round is one `fleet set components.feed.config.interval=...`, in-process but built
  as the CLI builds it (the same check, which composes the config with the proposed overlay,
  and the same Controller); the time runs from `Controller.run` until it returns with an ACK
  from every instance. Reported beside it: the instances' own apply times (their answers'
  `duration_ms`), the controller's check, and the reloads the instances' heartbeats ran after a
  round to "catch up" with the version the order had already applied.
The file rounds run first (once the overlay holds the key, it wins over the files); each path
starts with one untimed round, and the values alternate so every round changes something. Each
round starts once the instances' CPU use is back to its idle level (the apps' own work, taken
before the first round) and every instance is a fleet member again; the CPU each instance spent
on a round beyond that idle level, after-effects included, is reported too (about +-10 ms of
noise: the idle level wanders). Goal (the issue): fleet p99 under 500 ms for 20 instances on a
2-core machine, and the fleet path no slower (p50) than the files. The last line is JSON. The
instances are stopped with SIGTERM, their folders removed, and every key of the run's fleet and
bus prefix deleted.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from loguru import logger
from redis.asyncio import Redis

from framework.config.compose import ConfigSource
from framework.events.signing import Signer
from framework.fleet.channel import Channel
from framework.fleet.commands import changer, check_overlay, fleet_of, open_store
from framework.fleet.records import Outcome
from framework.fleet.rollout import Controller, Plan, Report

REPO = Path(__file__).resolve().parents[1]
URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
INTERVAL = "components.feed.config.interval"
FILE_VALUES, FLEET_VALUES = (0.25, 0.3), (0.2, 0.35)  # never equal: each round is a change
BATCH = 4  # instances started at once: 20 start-ups together starve 2 cores
QUIET_MARGIN = 0.25  # cores above the idle load that still count as quiet between rounds
QUIET_MAX = 15.0  # seconds a round waits at most for the instances to be quiet
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROUND_TIMEOUT = 30.0
GOAL_P99_MS = 500.0
HEARTBEAT = float(os.environ.get("BENCH_FLEET_HEARTBEAT", "1.0"))  # the fleet section's default
TTL = max(5.0, 2.5 * HEARTBEAT)  # 5.0 is the default; it must exceed twice the heartbeat


@dataclass
class Run:
    """One run's fleet: its name (also the bus's stream prefix), keys, folders and processes."""

    root: Path
    name: str = field(default_factory=lambda: f"fbench-{secrets.token_hex(4)}")
    fleet_key: str = field(default_factory=lambda: secrets.token_hex(16))
    bus_key: str = field(default_factory=lambda: secrets.token_hex(16))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, instance: str | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "MARKET__FLEET__ENABLED": "true",
            "MARKET__FLEET__NAME": self.name,
            "MARKET__FLEET__URL": URL,
            "MARKET__FLEET__SIGNING_KEY": self.fleet_key,
            "MARKET__FLEET__HEARTBEAT": str(HEARTBEAT),
            "MARKET__FLEET__TTL": str(TTL),
            "MARKET_BUS_KEY": self.bus_key,
        }
        if instance:
            env["MARKET__FLEET__INSTANCE"] = instance
        return env

    def folder(self, name: str) -> Path:
        """A folder with its own copy of the shipped conf/ and components/ (made on first use)."""
        folder = self.root / name
        if not folder.exists():
            shutil.copytree(REPO / "conf", folder / "conf")
            shutil.copytree(REPO / "components", folder / "components")
        return folder


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- the instances ---


def start(run: Run, count: int) -> None:
    """Start ``count`` instances, BATCH at a time, and wait until all are live fleet members."""
    names = [f"i{n:02d}" for n in range(count)]
    for first in range(0, count, BATCH):
        batch = names[first : first + BATCH]
        for name in batch:
            folder = run.folder(name)
            with (folder / "run.log").open("wb") as log:  # a file, not a pipe: nothing to drain
                run.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "framework", "run", "--log-format", "json",
                     "components.admin.enabled=false", "event_bus=redis",
                     f"event_bus.redis.stream_prefix={run.name}"],
                    cwd=folder, env=run.env(name), stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=log,
                )
        _wait(functools.partial(_all_started, run, batch), f"instances {batch} to start", 90)
    _wait(lambda: set(members(run)) == set(names), f"all {count} instances to be fleet members", 30)


def _all_started(run: Run, names: list[str]) -> bool:
    return all(_started(run, name) for name in names)


def _started(run: Run, name: str) -> bool:
    log = run.root / name / "run.log"
    if run.processes[name].poll() is not None:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise RuntimeError(f"instance {name} exited with {run.processes[name].returncode}:\n{tail}")
    return '"event": "app.started"' in log.read_text()


def _wait(ready: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(0.1)


def members(run: Run) -> dict[str, dict[str, Any]]:
    """The live members as the fleet's store holds them (``fleet:{name}:members`` and each key)."""
    client = redis.Redis.from_url(URL)
    try:
        found: Any = client.zrange(f"fleet:{{{run.name}}}:members", 0, -1)
        names = [n.decode() for n in found]
        texts = client.mget([f"fleet:{{{run.name}}}:member:{n}" for n in names]) if names else []
    finally:
        client.close()
    return {n: json.loads(t) for n, t in zip(names, texts, strict=True) if t}


def stop(run: Run) -> None:
    """SIGTERM to every instance, then wait for each (kill after 15 s)."""
    for process in run.processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in run.processes.values():
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def delete_keys(run: Run) -> int:
    """Delete the run's fleet keys and its bus prefix's keys; how many there were."""
    client = redis.Redis.from_url(URL)
    deleted = 0
    try:
        for pattern in (f"fleet:{{{run.name}}}:*", f"{run.name}:*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for first in range(0, len(keys), 500):
                deleted += int(client.delete(*keys[first : first + 500]))
    finally:
        client.close()
    return deleted


# --- between rounds: wait until the instances are idle again ---


def cpu_seconds(run: Run) -> float:
    """User + system CPU time the instances have used so far (Linux: /proc)."""
    total = 0
    for process in run.processes.values():
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


async def cpu_rate(run: Run, seconds: float) -> float:
    """Cores the instances keep busy over the next ``seconds``."""
    before = cpu_seconds(run)
    await asyncio.sleep(seconds)
    return (cpu_seconds(run) - before) / seconds


class Meter:
    """Between rounds: waits until the instances are quiet again, and says what a round cost."""

    def __init__(self, run: Run, idle: float) -> None:
        self.run, self.idle = run, idle  # idle: cores the running apps keep busy on their own
        self.dropouts = 0  # instances missing from the fleet's member list after a round
        self._cpu, self._began = 0.0, 0.0

    async def quiet(self) -> None:
        """Wait until the instances use no more CPU than at idle and all are fleet members, so
        each round starts from the same state whatever the last one left running."""
        deadline = time.monotonic() + QUIET_MAX
        while await cpu_rate(self.run, 0.5) > self.idle + QUIET_MARGIN and time.monotonic() < deadline:
            pass
        names = set(self.run.processes)
        self.dropouts += len(names - set(members(self.run)))
        while set(members(self.run)) != names:
            if time.monotonic() > deadline + ROUND_TIMEOUT:
                raise TimeoutError(f"instances {sorted(names - set(members(self.run)))} left the fleet")
            await asyncio.sleep(0.1)

    def begin(self) -> None:
        self._cpu, self._began = cpu_seconds(self.run), time.monotonic()

    async def end(self) -> float:
        """Once quiet again: the CPU ms each instance spent on the round, beyond its idle work."""
        await self.quiet()
        spent = cpu_seconds(self.run) - self._cpu - self.idle * (time.monotonic() - self._began)
        return spent / len(self.run.processes) * 1000


@dataclass
class Sample:
    """One path's figures over its rounds, in ms."""

    latencies: list[float] = field(default_factory=list)  # per round: the start -> every instance done
    instance_ms: list[float] = field(default_factory=list)  # the instances' own reload durations
    cpu_ms: list[float] = field(default_factory=list)  # per round: CPU per instance, after-effects included
    check_ms: list[float] = field(default_factory=list)  # the controller's check (fleet only)
    catch_ups: list[float] = field(default_factory=list)  # heartbeat catch-up reloads (fleet only)


# --- the peer: one file per instance ---


async def file_rounds(run: Run, rounds: int, meter: Meter) -> Sample:
    """Rewrite every instance's profile, wait for every config.reloaded; ``rounds`` times."""
    profiles = [run.folder(name) / "conf" / "profile" / "default.yaml" for name in run.processes]
    original = profiles[0].read_text()
    texts = [re.sub(r"interval: [0-9.]+", f"interval: {value}", original) for value in FILE_VALUES]
    client = Redis.from_url(URL)
    stream, signer = f"{run.name}:config.reloaded", Signer(run.bus_key)
    sample = Sample()
    try:
        await meter.quiet()
        for i in range(rounds + 1):  # round 0 is a warm-up
            after = await _last_id(client, stream)
            meter.begin()
            started = time.perf_counter()
            for path in profiles:
                path.write_text(texts[i % 2])
            events = await _reloaded(client, signer, stream, after, len(profiles))
            elapsed = (time.perf_counter() - started) * 1000
            cpu_ms = await meter.end()
            if i:
                sample.latencies.append(elapsed)
                sample.instance_ms.extend(float(e["duration_ms"]) for e in events)
                sample.cpu_ms.append(cpu_ms)
    finally:
        await client.aclose()
    return sample


async def _last_id(client: Redis, stream: str) -> str:
    entries: Any = await client.xrevrange(stream, count=1)
    return entries[0][0].decode() if entries else "0-0"


async def _reloaded(client: Redis, signer: Signer, stream: str, after: str, count: int) -> list[Mapping[str, Any]]:
    """The data of the next ``count`` verified, applied config.reloaded events after ``after``."""
    found: list[Mapping[str, Any]] = []
    deadline = time.monotonic() + ROUND_TIMEOUT
    while len(found) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{len(found)}/{count} instances published config.reloaded within {ROUND_TIMEOUT:g} s")
        reply: Any = await client.xread({stream: after}, block=max(1, int(left * 1000)))
        for entry_id, fields in reply[0][1] if reply else []:
            after = entry_id
            data = _opened(signer, stream, entry_id, fields)
            if data.get("outcome") == "applied":
                found.append(data)
    return found


def _opened(signer: Signer, stream: str, entry_id: Any, fields: Mapping[bytes, bytes]) -> Mapping[str, Any]:
    envelope, _, why = signer.open_value(fields.get(b"e"), stream)
    if envelope is None:
        raise RuntimeError(f"entry {entry_id!r} on {stream}: {why}")
    return dict(envelope.data)


async def catch_ups(run: Run, after: str) -> list[float]:
    """The durations of the reloads the instances' heartbeats ran to catch up since ``after``."""
    client = Redis.from_url(URL)
    stream, signer = f"{run.name}:config.reloaded", Signer(run.bus_key)
    try:
        entries: Any = await client.xrange(stream, min=f"({after}" if after != "0-0" else "-")
    finally:
        await client.aclose()
    opened = [_opened(signer, stream, entry_id, fields) for entry_id, fields in entries]
    return [float(d["duration_ms"]) for d in opened if d.get("trigger") == "fleet catch-up"]


# --- ours: one fleet set ---


async def fleet_rounds(run: Run, rounds: int, meter: Meter) -> Sample:
    """``fleet set`` as the CLI runs it, to every ACK; ``rounds`` times."""
    launch = ConfigSource(config_dir=run.folder("controller") / "conf", environ=run.env())
    settings, base = fleet_of(launch)  # as `integrate fleet set` reads its fleet from --config-dir
    sample = Sample()
    check = _timed(functools.partial(check_overlay, launch, base), sample.check_ms)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    store = open_store(settings)
    try:
        controller = Controller(store, Channel(store, settings.signing_key or "", who), settings.history_size)
        await meter.quiet()
        for i in range(rounds + 1):  # round 0 is a warm-up
            change = changer("set", [f"{INTERVAL}={FLEET_VALUES[i % 2]}"])
            meter.begin()
            started = time.perf_counter()
            report = await controller.run(Plan(change, "set", who, timeout=ROUND_TIMEOUT), check)
            elapsed = (time.perf_counter() - started) * 1000
            _require_acks(report, i, len(run.processes))
            cpu_ms = await meter.end()
            if i:
                sample.latencies.append(elapsed)
                sample.instance_ms.extend(a.duration_ms for a in report.answers.values())
                sample.cpu_ms.append(cpu_ms)
            else:
                sample.check_ms.clear()
    finally:
        await store.aclose()
    return sample


def _timed(check: Callable[[Mapping[str, Any]], frozenset[str]], times: list[float]) -> Callable[..., frozenset[str]]:
    """``check``, appending how long each call took (ms) to ``times``."""

    def timed(values: Mapping[str, Any]) -> frozenset[str]:
        started = time.perf_counter()
        try:
            return check(values)
        finally:
            times.append((time.perf_counter() - started) * 1000)

    return timed


def _require_acks(report: Report, round_: int, count: int) -> None:
    """Every instance ACKed: a member missing from the fleet's list counts as a failure too."""
    acks = [a for a in report.answers.values() if a.outcome is Outcome.ACK]
    if len(acks) != count or not report.ok:
        others = {n: (a.outcome.value, a.reasons) for n, a in report.answers.items() if a.outcome is not Outcome.ACK}
        raise RuntimeError(f"fleet round {round_}: {len(acks)}/{count} ACKs; no answer: {report.missing}; others: {others}")


# --- the run ---


def figures(count: int, rounds: int, files: Sample, fleet: Sample, meter: Meter) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bench": "fleet",
        "instances": count,
        "rounds": rounds,
        "fleet_p50_ms": round(statistics.median(fleet.latencies), 1),
        "fleet_p99_ms": round(percentile(fleet.latencies, 99), 1),
        "files_p50_ms": round(statistics.median(files.latencies), 1),
        "files_p99_ms": round(percentile(files.latencies, 99), 1),
        "instance_apply_median_ms": round(statistics.median(fleet.instance_ms), 1),
        "instance_apply_max_ms": round(max(fleet.instance_ms), 1),
        "instance_file_reload_median_ms": round(statistics.median(files.instance_ms), 1),
        "instance_cpu_fleet_ms": round(statistics.median(fleet.cpu_ms), 1),
        "instance_cpu_files_ms": round(statistics.median(files.cpu_ms), 1),
        "controller_check_median_ms": round(statistics.median(fleet.check_ms), 1),
        "catch_up_reloads": len(fleet.catch_ups),
        "catch_up_median_ms": round(statistics.median(fleet.catch_ups), 1) if fleet.catch_ups else None,
        "member_dropouts": meter.dropouts,
        "idle_cores": round(meter.idle, 2),
    }
    result["fleet_vs_files_p50"] = round(result["fleet_p50_ms"] / result["files_p50_ms"], 2)
    result["goal_p99_ms"] = GOAL_P99_MS
    result["goal_met"] = result["fleet_p99_ms"] < GOAL_P99_MS and result["fleet_vs_files_p50"] <= 1.0
    return result


def table(result: dict[str, Any]) -> str:
    catch_up = str(result["catch_up_reloads"])
    if result["catch_up_median_ms"] is not None:
        catch_up += f" (median {result['catch_up_median_ms']} ms each)"
    return "\n".join([
        f"{result['instances']} instances, {result['rounds']} rounds (ms)           p50      p99",
        f"  fleet set -> every ACK                  {result['fleet_p50_ms']:8.1f} {result['fleet_p99_ms']:8.1f}",
        f"  file edits -> every config.reloaded     {result['files_p50_ms']:8.1f} {result['files_p99_ms']:8.1f}",
        f"  fleet / files (p50)                     {result['fleet_vs_files_p50']:8.2f}x",
        f"  instance: apply an overlay (median/max) {result['instance_apply_median_ms']:8.1f} {result['instance_apply_max_ms']:8.1f}",
        f"  instance: reload edited files (median)  {result['instance_file_reload_median_ms']:8.1f}",
        f"  instance CPU per change (median): fleet {result['instance_cpu_fleet_ms']:.1f}, files {result['instance_cpu_files_ms']:.1f}",
        f"  controller: check the values (median)   {result['controller_check_median_ms']:8.1f}",
        f"  heartbeat catch-up reloads after rounds: {catch_up}",
        f"  instances that dropped out of the member list between rounds: {result['member_dropouts']}",
        f"  instances at idle: {result['idle_cores']} cores busy of {os.cpu_count()}",
        f"  goal: fleet p99 < {GOAL_P99_MS:g} ms and no slower than files: {'met' if result['goal_met'] else 'missed'}",
    ])


async def measure(run: Run, count: int, rounds: int) -> dict[str, Any]:
    await asyncio.sleep(2)  # the bus's consumer groups rebalance after the last joined
    meter = Meter(run, await cpu_rate(run, 3.0))
    files = await file_rounds(run, rounds, meter)
    client = Redis.from_url(URL)
    try:
        mark = await _last_id(client, f"{run.name}:config.reloaded")
    finally:
        await client.aclose()
    fleet = await fleet_rounds(run, rounds, meter)
    fleet.catch_ups = await catch_ups(run, mark)
    return figures(count, rounds, files, fleet, meter)


def main(count: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        run = Run(Path(tmp))
        try:
            started = time.perf_counter()
            start(run, count)
            print(f"{count} instances joined fleet '{run.name}' in {time.perf_counter() - started:.1f} s", flush=True)
            return asyncio.run(measure(run, count, rounds))
        finally:
            stop(run)
            delete_keys(run)


def cluster_bench_table(figures: dict[str, Any]) -> list[str]:
    import cluster as cluster_bench

    return list(cluster_bench.table(figures))


async def bus_on_cluster(events: int) -> dict[str, Any]:
    """The bus's publish and consume rates on a local Redis Cluster beside one Redis server
    (``bench/cluster.py``'s figures, measured in this run)."""
    import cluster as cluster_bench  # bench/cluster.py, beside this file

    with cluster_bench.LocalCluster() as url:
        return await cluster_bench.figures(url, events)


if __name__ == "__main__":
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, int(sys.argv[2]) if len(sys.argv) > 2 else 20)
    print(table(result))
    result["bus_on_cluster"] = asyncio.run(bus_on_cluster(10_000))
    print("The bus on a local Redis Cluster (3 masters, 3 replicas) beside one Redis server (events/s):")
    print("\n".join(f"  {line}" for line in cluster_bench_table(result["bus_on_cluster"])))
    print(json.dumps(result))
