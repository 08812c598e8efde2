"""ContactHub's own processes for the fault tests: the API server and the projector, started
as `contacthub serve` / `contacthub project` would be in production, and killed with SIGKILL.

`ChannelClient` posts batches the way a well-behaved channel does: the same event_ids on
every retry, until the batch is acknowledged (2xx) or the caller gives up on it.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from support.pgserver import free_port


class ContactHubProcess:
    """One `contacthub <command>` process; its output goes to a log file the test can show."""

    def __init__(self, command: Sequence[str], database_url: str, log_dir: Path, name: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.command = [sys.executable, "-m", "contacthub.adapters.cli", *command]
        self.env = {
            **os.environ,
            "CONTACTHUB_DATABASE_URL": database_url,
            "CONTACTHUB_LOG_FORMAT": "json",
            "CONTACTHUB_SLA_WATCH_INTERVAL_S": "0",
            **(env or {}),
        }
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, connections and transactions are cut where they stand."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ApiServer(ContactHubProcess):
    def __init__(self, database_url: str, log_dir: Path, name: str = "api", *, projector: bool = True,
                 env: Mapping[str, str] | None = None, workers: int = 1) -> None:
        self.port = free_port()
        super().__init__(["serve", "--port", str(self.port), "--projector" if projector else "--no-projector",
                          *(["--workers", str(workers)] if workers != 1 else [])],
                         database_url, log_dir, name, env)

    def start(self, timeout: float = 30.0) -> None:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not answer /health within {timeout} s:\n{self.log_tail()}")


class ProjectorProcess(ContactHubProcess):
    def __init__(self, database_url: str, log_dir: Path, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(["project"], database_url, log_dir, "projector", env)


@dataclass
class Reply:
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    body: Any = None


def retryable(reply: Reply) -> bool:
    """What a channel may retry unchanged: no answer, 503, or a 409 that says the conflict was a race."""
    if reply.status in (0, 503):
        return True
    if reply.status == 409 and isinstance(reply.body, dict):
        return all("retry" in item.get("message", "") for item in reply.body.get("errors", []))
    return False


@dataclass
class ChannelClient:
    """Posts to one server over a keep-alive connection; reconnects after any transport failure."""

    port: int
    key: str
    timeout: float = 30.0
    statuses: dict[int, int] = field(default_factory=dict)
    """Every answer seen, by status (0: transport failure)."""
    _connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        payload = None if body is None else orjson.dumps(body)
        headers = {"Authorization": f"Bearer {self.key}"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        reply = Reply(0)
        # A kept-alive connection the server has since closed (its idle timeout) fails at
        # once with no answer; like any HTTP client, send once more on a fresh connection.
        for fresh in (self._connection is None, True):
            try:
                if self._connection is None:
                    self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self._connection.request(method, path, body=payload, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                stale = isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if fresh or not stale:
                    break
            else:
                reply = Reply(response.status, orjson.loads(raw) if raw else None)
                break
        self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1
        return reply

    def post_until_acknowledged(self, events: list[dict[str, Any]], *, give_up_after: float = 60.0,
                                pause: float = 0.05) -> Reply:
        """Post one batch, retrying it unchanged after a transport failure or a retryable answer; anything else fails the test."""
        deadline = time.monotonic() + give_up_after
        while True:
            reply = self.request("POST", "/v1/events", {"events": events})
            if 200 <= reply.status < 300:
                return reply
            if not retryable(reply):
                raise AssertionError(f"the batch was refused for good: {reply.status} {reply.body}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the batch was not acknowledged within {give_up_after} s; last answer {reply}")
            time.sleep(pause)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
