"""A real HTTP server on loopback that plays a webhook: it records each POSTed JSON body and can
answer 500 to the first few, as a flaky receiver does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """What the server saw: every request's path and JSON body, failed ones included."""

    def __init__(self, failures: int, delay: float = 0.0) -> None:
        self.failures = failures  # answer 500 to this many requests first
        self.delay = delay  # seconds each answer takes (a slow receiver)
        self.requests: list[tuple[str, Any]] = []
        self.bodies: list[Any] = []  # the bodies answered 200
        self.lock = threading.Lock()
        self.url = ""

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        """The bodies once ``count`` were accepted; AssertionError naming what came after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.bodies) >= count:
                    return list(self.bodies)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.bodies)} alert(s) received, not {count}; requests: {self.requests}")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with receiver.lock:
                receiver.requests.append((self.path, body))
            time.sleep(receiver.delay)
            with receiver.lock:
                fail = receiver.failures > 0
                receiver.failures -= fail
                if not fail:
                    receiver.bodies.append(body)
            self.send_response(500 if fail else 200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
            pass

    return Handler


@contextmanager
def webhook(failures: int = 0, path: str = "/hooks/T0KEN-abc123", delay: float = 0.0) -> Iterator[Receiver]:
    """A receiver listening on an ephemeral loopback port; ``receiver.url`` ends with ``path``
    (a token in the path, as chat webhooks carry theirs)."""
    receiver = Receiver(failures, delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
