"""Separate ContactHub instances (as separate servers would be) doing one thing at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings


def race(
    settings: Settings,
    clock: Callable[[], Any],
    count: int,
    one_pass: Callable[[ContactHub], object],
    prepare: Callable[[ContactHub], None] = lambda hub: None,
) -> None:
    """`count` hubs on the same database run `one_pass` together, released by one barrier."""
    rivals = [build(settings, clock=clock) for _ in range(count)]
    for rival in rivals:
        prepare(rival)
    try:
        barrier = threading.Barrier(count)

        def run(hub: ContactHub) -> None:
            barrier.wait()
            one_pass(hub)

        threads = [threading.Thread(target=run, args=(r,)) for r in rivals]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for r in rivals:
            r.close()
