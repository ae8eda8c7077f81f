"""A throwaway Redis Cluster on loopback: 3 masters and 3 replicas, real ``redis-server`` processes.

Tests (``tests/events/conftest.py``'s ``redis_cluster`` fixture) and ``bench/cluster.py`` start
one with ``LocalCluster``; it lives in a temporary directory (no persistence) and its processes
are killed when it stops. Plain Python, no pytest: a benchmark imports it too.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

PORTS = tuple(range(7101, 7107))  # 3 masters, then their replicas, as --cluster create pairs them
READY_TIMEOUT = 20.0  # seconds for the nodes to answer and the cluster to agree it is ok


def missing_tools() -> str | None:
    """Why no cluster can be started here (``redis-server`` or ``redis-cli`` not found), or None."""
    absent = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    return f"{' and '.join(absent)} not found on PATH" if absent else None


class LocalCluster:
    """Six ``redis-server`` processes on ``ports``, joined into one cluster; a context manager.

    ``url`` names the first node; a cluster client finds the others from it.
    """

    def __init__(self, ports: tuple[int, ...] = PORTS) -> None:
        self.ports = ports
        self.url = f"redis://127.0.0.1:{ports[0]}/0"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._directory: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> str:
        """Start the nodes, create the cluster, wait until every node says it is ok; the URL.

        RuntimeError (with what the tools printed) when a step fails; nothing is left running.
        """
        self._directory = tempfile.TemporaryDirectory(prefix="redis-cluster-")
        try:
            for port in self.ports:
                self._processes.append(self._node(Path(self._directory.name), port))
            self._wait(lambda client: client.ping(), "answer PING")
            self._create()
            self._wait(_cluster_ok, "report cluster_state:ok")
            # A replica that never finished its first sync would not take over from a master
            # that dies: ready means every replica has its link to its master up.
            self._wait(_replica_linked, "have its replication link up")
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Kill every node (no shutdown save: nothing is persisted) and delete their directory."""
        for process in self._processes:
            if process.poll() is None:
                process.kill()
        for process in self._processes:
            process.wait(10)
        self._processes.clear()
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port``, as a crash would (its replica takes over its slots)."""
        process = self._processes[self.ports.index(port)]
        process.kill()
        process.wait(10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _node(self, directory: Path, port: int) -> subprocess.Popen[bytes]:
        # A port already taken fails here, in the node's log, not as a confusing cluster later.
        log = directory / f"{port}.log"
        return subprocess.Popen(
            [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
                "--cluster-node-timeout", "2000", "--dir", str(directory),
                "--save", "", "--appendonly", "no", "--logfile", str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _create(self) -> None:
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        result = subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{result.stdout}{result.stderr}")

    def _wait(self, check: object, what: str) -> None:
        """Poll every node until ``check(client)`` is true for all of them."""
        deadline = time.monotonic() + READY_TIMEOUT
        pending = list(self.ports)
        while pending:
            port = pending[0]
            self._require_running()
            client = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=1)
            try:
                ready = bool(check(client))  # type: ignore[operator]
            except (redis.RedisError, OSError):
                ready = False
            finally:
                client.close()
            if ready:
                pending.pop(0)
            elif time.monotonic() > deadline:
                raise RuntimeError(f"Redis Cluster node 127.0.0.1:{port} did not {what} in {READY_TIMEOUT} s")
            else:
                time.sleep(0.05)

    def _require_running(self) -> None:
        for port, process in zip(self.ports, self._processes, strict=True):
            if process.poll() is not None:
                log = Path(self._directory.name if self._directory else ".") / f"{port}.log"
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"redis-server on port {port} exited ({process.returncode}):\n{text[-2000:]}")


def _replica_linked(client: redis.Redis) -> bool:
    info = client.info("replication")
    return info.get("role") != "slave" or info.get("master_link_status") == "up"


def _cluster_ok(client: redis.Redis) -> bool:
    info = client.execute_command("CLUSTER INFO")  # redis-py parses it into a dict
    return bool(info.get("cluster_state") == "ok")
