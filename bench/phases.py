"""Where projection catch-up spends its time, per phase (bench/run.py and bench/profile_projection.py)."""

from __future__ import annotations

import time
from typing import Any


def timed_phases(projector: Any) -> dict[str, float]:
    """Time the projector's phases from now on: reading the log, decoding, each read model's
    `apply`; what is left of a catch-up is locking, tracking and commits. Returns the (live) totals."""
    seconds: dict[str, float] = {}

    def wrap(name: str, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started

        return timed

    projector.log.read_notifications = wrap("read", projector.log.read_notifications)
    projector.log.decode = wrap("decode", projector.log.decode)
    for projection in projector.projections:
        projection.apply = wrap(projection.name, projection.apply)
    return seconds
