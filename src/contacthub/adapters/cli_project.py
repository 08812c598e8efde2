"""`contacthub project` and `contacthub rebuild` with several workers: the read models split by customer.

`--workers N` keeps the read models in N partitions (projections/runner.py) and runs one
child process per partition (`contacthub project --partition i/N`), supervising them: a
child that dies is started again (it carries on from its tracking position, exactly once),
SIGINT/SIGTERM stop them all. `--partition i/N` alone runs one partition, for spreading
the partitions over several machines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from contacthub.adapters.cli_support import _Failure, _hub
from contacthub.config import Settings

log = structlog.get_logger(__name__)

SUPERVISOR_ENV = "CONTACTHUB_PROJECTOR_SUPERVISOR"
"""Set by the supervisor for its workers: its process id, so a worker stops when it is gone."""

RESTART_PAUSE_S = 1.0
"""How long the supervisor waits before starting a worker that died (growing to 30 s if it keeps dying)."""


def parse_partition(text: str) -> tuple[int, int]:
    """`i/N` -> (i, N), with 0 <= i < N."""
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise _Failure(f"--partition: expected i/N (e.g. 0/2), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise _Failure(f"--partition: {text!r} names no partition (i must be 0 to N-1, N at least 1)")
    return i, n


def settle(settings: Settings, partitions: int, *, reset: bool = False) -> int:
    """Keep the read models in `partitions` partitions (emptied first when `reset`); the log head."""
    with _hub(settings, partitions=None if reset else partitions, only_partitions=()) as hub:
        if reset:
            hub.projector.reset(partitions=partitions)
        return int(hub.event_log.head_position())


def run_partition(settings: Settings, index: int, partitions: int, stop: threading.Event, *, until_caught_up: bool) -> None:
    """Apply one partition of every read model: follow the log until stopped, or until caught up.

    A worker started by a supervisor stops when the supervisor is gone (killed, say): a new
    supervisor starts its own workers, and orphans would only compete with them.
    """
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor is not None:
        threading.Thread(target=_stop_when_orphaned, args=(int(supervisor), stop), daemon=True).start()
    with _hub(settings, partitions=partitions, only_partitions=(index,)) as hub:
        if until_caught_up:
            hub.projector.catch_up()
        else:
            hub.projector.run(stop)


def _stop_when_orphaned(supervisor: int, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        if os.getppid() != supervisor:
            log.warning("projector_worker_orphaned", supervisor=supervisor)
            stop.set()


def _worker_command(index: int, partitions: int, until_caught_up: bool) -> list[str]:
    command = [sys.executable, "-m", "contacthub.adapters.cli", "project", "--partition", f"{index}/{partitions}"]
    return command + (["--until-caught-up"] if until_caught_up else [])


def supervise(
    partitions: int, stop: threading.Event, *, until_caught_up: bool,
    on_tick: Callable[[], Any] | None = None,
) -> bool:
    """Run a worker process per partition until `stop` (or, `until_caught_up`, until each exits 0).

    A worker that exits otherwise is started again after a pause. True when every worker
    finished cleanly (or was stopped).
    """
    workers: dict[int, subprocess.Popen[bytes]] = {}
    failures = dict.fromkeys(range(partitions), 0)
    restart_at: dict[int, float] = {}
    finished: set[int] = set()
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    for i in range(partitions):
        workers[i] = subprocess.Popen(_worker_command(i, partitions, until_caught_up), env=env)
    log.info("projector_workers_started", partitions=partitions, pids=[w.pid for w in workers.values()])
    try:
        while not stop.is_set() and len(finished) < partitions:
            for i, worker in list(workers.items()):
                code = worker.poll()
                if code is None:
                    continue
                del workers[i]
                if code == 0 and until_caught_up:
                    finished.add(i)
                    continue
                failures[i] += 1
                if until_caught_up and failures[i] > 5:
                    log.error("projector_worker_gave_up", partition=f"{i}/{partitions}", exit_code=code)
                    return False
                pause = min(RESTART_PAUSE_S * 2 ** (failures[i] - 1), 30.0)
                log.warning("projector_worker_exited", partition=f"{i}/{partitions}", exit_code=code,
                            restart_in_s=pause)
                restart_at[i] = time.monotonic() + pause
            for i, at in list(restart_at.items()):
                if time.monotonic() >= at:
                    del restart_at[i]
                    workers[i] = subprocess.Popen(_worker_command(i, partitions, until_caught_up), env=env)
                    log.info("projector_worker_restarted", partition=f"{i}/{partitions}", pid=workers[i].pid)
            if on_tick is not None:
                on_tick()
            stop.wait(0.2)
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers.values():
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        log.info("projector_workers_stopped", partitions=partitions)
    return stop.is_set() or len(finished) == partitions
