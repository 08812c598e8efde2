"""`contacthub serve`: the HTTP API in one process, or in several worker processes on one port.

One process (`--workers 1`, the default): the server, its embedded projector and its
watchers in one process, as always.

Several (`--workers N`, or CONTACTHUB_WORKERS): this process (the parent) runs the projector
and the watchers, once whatever N is, and supervises N worker processes. Each worker builds
its own ContactHub and runs a uvicorn server on its own listening socket bound to the port
with SO_REUSEPORT, so the kernel spreads new connections evenly over the workers (with one
shared socket, the worker that woke first took a whole burst of new connections and kept
them, keep-alive, while the others idled). A worker that dies is replaced; one that cannot
start (exit code 3) stops the server. A worker that records events wakes the parent's
projector at once (SIGUSR1), as the server's own ingest does in one process; without that the
projector would find them within its idle wait (0.2 s). Every answer of a worker carries
`X-ContactHub-Worker: <pid>`. SIGINT or SIGTERM stops the workers (each finishes the requests
it holds), then the projector and the watchers. A worker whose parent is gone stops itself.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from contextlib import suppress
from typing import Any

import structlog

from contacthub.adapters.cli_support import _Failure, _hub, _settings
from contacthub.config import Settings

log = structlog.get_logger(__name__)

WORKER_HEADER = "X-ContactHub-Worker"
"""The pid of the worker process that answered (with --workers above 1)."""
WAKE_SIGNAL = signal.SIGUSR1
STARTUP_FAILURE = 3
"""A worker's exit code when it could not start serving (uvicorn's): restarting it would fail alike."""
SUPERVISE_EVERY_S = 0.5


def serve(host: str, port: int, projector: bool | None, workers: int | None) -> None:
    import uvicorn

    settings = _settings()
    count = settings.workers if workers is None else workers
    if count <= 1:
        from contacthub.adapters.http.app import create_app
        from contacthub.adapters.http.server import server_options

        with _hub(settings) as hub:
            app = create_app(hub, run_projector=projector)
            log.info("serving", url=f"http://{host}:{port}", database=hub.event_log.dialect)
            uvicorn.run(app, host=host, port=port, **server_options(settings))
        return
    _serve_workers(settings, host, port, projector, count)


def _listening_socket(host: str, port: int, listen: bool) -> socket.socket:
    """A TCP socket bound to the port with SO_REUSEPORT (each worker has its own; the kernel balances them)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise _Failure("--workers above 1 needs SO_REUSEPORT (Linux)")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise _Failure(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if listen:
        sock.listen(2048)
    return sock


def _serve_workers(settings: Settings, host: str, port: int, projector: bool | None, count: int) -> None:
    from contacthub.adapters.http.app import background_work

    # Bound, never listening: the port is checked and held, and the parent takes no connection.
    held = _listening_socket(host, port, listen=False)
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads, connections or locks copied
    stop = threading.Event()
    with held, _hub(settings) as hub:  # the hub also applies pending migrations, once, before any worker starts
        embedded = settings.embedded_projector if projector is None else projector
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        signal.signal(WAKE_SIGNAL, lambda *_: (hub.projector.wake.set(), hub.hub_delivery.wake.set()))

        def start() -> Any:
            worker = spawn.Process(target=_worker_main, args=(host, port, os.getpid()), name="contacthub-worker")
            worker.start()
            return worker

        with background_work(hub, projector=embedded, watch_interval_s=settings.sla_watch_interval_s,
                             deliver=settings.deliver_webhooks):
            workers = [start() for _ in range(count)]
            log.info("serving", url=f"http://{host}:{port}", database=hub.event_log.dialect, workers=count,
                     pids=[w.pid for w in workers], embedded_projector=embedded,
                     sla_watch_interval_s=settings.sla_watch_interval_s)
            failed = False
            while not stop.wait(SUPERVISE_EVERY_S):
                for i, worker in enumerate(workers):
                    if worker.is_alive():
                        continue
                    if worker.exitcode == STARTUP_FAILURE:
                        log.error("worker_failed_to_start", pid=worker.pid)
                        failed = True
                        stop.set()
                        break
                    log.warning("worker_died", pid=worker.pid, exit_code=worker.exitcode)
                    workers[i] = start()
            for worker in workers:
                if worker.is_alive():
                    with suppress(ProcessLookupError):
                        os.kill(worker.pid, signal.SIGTERM)  # uvicorn's graceful shutdown
            deadline = time.monotonic() + 30
            for worker in workers:
                worker.join(max(0.0, deadline - time.monotonic()))
                if worker.is_alive():
                    worker.kill()
                    worker.join(5)
        log.info("server_stopped", workers=count)
    if failed:
        raise _Failure("a worker could not start; see the log above")


def _worker_main(host: str, port: int, parent: int) -> None:
    """A worker process: its own socket on the port, a uvicorn server over `worker_app`, until SIGTERM/SIGINT."""
    import uvicorn

    try:
        sock = _listening_socket(host, port, listen=True)
    except _Failure as failure:
        failure.show()
        sys.exit(STARTUP_FAILURE)
    threading.Thread(target=_stop_when_orphaned, args=(parent,), name="parent-watch", daemon=True).start()
    from contacthub.adapters.http.server import server_options

    config = uvicorn.Config(f"{__name__}:worker_app", factory=True, **server_options(_settings()))
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _stop_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    log.warning("worker_orphaned", parent=parent)
    os.kill(os.getpid(), signal.SIGTERM)


class _WakeParent(threading.Event):
    """A worker's projector `wake`: the projector runs in the parent process, so wake that one (WAKE_SIGNAL)."""

    def __init__(self, parent: int) -> None:
        super().__init__()
        self.parent = parent

    def set(self) -> None:
        if os.getppid() == self.parent:  # never signal whoever inherits an orphan
            with suppress(ProcessLookupError):
                os.kill(self.parent, WAKE_SIGNAL)


def worker_app() -> Any:
    """A worker process's app (its uvicorn server calls it): its own ContactHub; no projector, no watchers."""
    from contacthub.adapters.http.app import create_app
    from contacthub.bootstrap import build

    settings = _settings()
    hub = build(settings)
    hub.projector.wake = _WakeParent(os.getppid())
    app = create_app(hub, run_projector=False, run_sla_watcher=False, run_delivery=False, close_hub=True)
    app.add_middleware(_AnsweredBy, pid=os.getpid())
    return app


class _AnsweredBy:
    """ASGI middleware: every answer names the worker process that gave it."""

    def __init__(self, app: Any, pid: int) -> None:
        self.app = app
        self.header = (WORKER_HEADER.lower().encode(), str(pid).encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, named)
