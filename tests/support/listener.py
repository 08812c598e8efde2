"""A real HTTP server that receives webhook requests, for the delivery tests.

It keeps every request (path, headers, raw body) in arrival order, answers each with the status
the test chose (`fail_next(n)`: n answers of 500 first; `slow_s`: a delay before answering), and
can be stopped mid-way and started again on the same port (a receiver that crashed and came back).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> Any:
        return orjson.loads(self.body)


class Listener:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures_left = 0
        self.slow_s = 0.0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/listener") -> str:
        return f"http://{self.host}{path}"

    def fail_next(self, count: int) -> None:
        with self.lock:
            self.failures_left = count

    def start(self) -> Listener:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if listener.slow_s:
                    time.sleep(listener.slow_s)
                with listener.lock:
                    status = 500 if listener.failures_left > 0 else 204
                    listener.failures_left = max(0, listener.failures_left - 1)
                    listener.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.answered < 300]

    def wait_until(self, condition: Callable[[Listener], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition(self):
                return
            time.sleep(0.02)
        raise AssertionError(f"the listener did not get what was expected within {timeout_s} s: "
                             f"{[(r.path, r.answered, r.headers.get('x-contacthub-event-id')) for r in self.received]}")
