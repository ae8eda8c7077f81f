"""The web console's pages of an app of 300 components against the JSON they are built from.

A generated app (``_apps.make_app``) with the admin component runs in its own process; one
httpx client fetches ``/ui/config`` (the config tree, every leaf with its origin) and
``/ui/components`` (the SVG graph and every node's details), alternating with ``/config``,
the JSON API answer over the same data. The issue's bar: the config page renders in under a
second on this machine. Prints, last, JSON with the page-vs-API ratio and the medians in ms.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _apps import alternated_medians, make_app

from framework.testing import run_app

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 300
ADMIN = "\ncomponents:\n  admin:\n    class: admin\nhttp:\n  host: 127.0.0.1\n  port: {port}\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(client: httpx.Client, path: str) -> float:
    began = time.perf_counter()
    answer = client.get(path)
    answer.raise_for_status()
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        conf = make_app(root, COUNT)
        port = free_port()
        with (conf / "config.yaml").open("a") as config:
            config.write(ADMIN.format(port=port))
        with run_app("--config-dir", str(conf), cwd=root, timeout=120):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                page, api = alternated_medians(lambda: fetch(client, "/ui/config"), lambda: fetch(client, "/config"), 15)
                graph = sorted(fetch(client, "/ui/components") for _ in range(15))[7]
    result = {"components": COUNT, "ratio": round(page / api, 2), "config_page_ms": round(page * 1000, 1),
              "config_api_ms": round(api * 1000, 1), "components_page_ms": round(graph * 1000, 1),
              "config_page_under_1s": page < 1.0}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
