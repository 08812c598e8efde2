"""The risk watcher's decisions (services/risk_watch.py), on a stand-in for the snapshot store: when it counts again.

The snapshot itself, its answers and when they are served: tests/integration/test_risk_snapshot.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from contacthub.config import ConfigurationError, Settings
from contacthub.projections.risk_queries import SnapshotHead
from contacthub.services.risk_watch import RiskWatcher
from support.clock import ManualClock

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)


class Snapshots:
    """What RiskQueries stores, in memory; `counted` lists the (as_of, position) of every count."""

    def __init__(self, head: SnapshotHead | None = None) -> None:
        self.head = head
        self.counted: list[tuple[datetime, int]] = []
        self.cleared = 0

    def snapshot_head(self) -> SnapshotHead | None:
        return self.head

    def refresh_snapshot(self, as_of: datetime, position: int) -> int | None:
        self.counted.append((as_of, position))
        self.head = SnapshotHead(as_of, position, "book", 3)
        return 3

    def clear_snapshot(self) -> None:
        self.head = None
        self.cleared += 1


def watcher(snapshots: Snapshots, clock: ManualClock, position: list[int], current: list[bool] | None = None,
            every_s: float = 60) -> RiskWatcher:
    return RiskWatcher(snapshots, clock, timedelta(seconds=every_s), read_models_position=lambda: position[0],
                       read_models_current=lambda: (current or [True])[0])


def test_the_first_pass_counts_then_once_the_snapshot_is_as_old_as_the_setting() -> None:
    clock, snapshots = ManualClock(T0), Snapshots()
    w = watcher(snapshots, clock, [40])
    first = w.run_once()
    assert (first.refreshed, first.at_risk, first.as_of, first.position) == (True, 3, T0, 40)
    clock.advance(seconds=59.9)
    assert w.run_once().reason == "fresh"
    clock.advance(seconds=0.1)
    assert w.run_once().refreshed
    assert snapshots.counted == [(T0, 40), (T0 + timedelta(seconds=60), 40)]


def test_a_new_process_counts_again_even_when_the_stored_snapshot_is_young() -> None:
    """After `contacthub rebuild` or a new release, the snapshot stored before is not trusted."""
    clock = ManualClock(T0)
    snapshots = Snapshots(SnapshotHead(T0 - timedelta(seconds=5), 40, "book", 1))
    assert watcher(snapshots, clock, [40]).run_once().refreshed


def test_a_snapshot_ahead_of_the_read_models_is_dropped_and_counted_again_once_they_are_current() -> None:
    clock = ManualClock(T0)
    snapshots = Snapshots(SnapshotHead(T0, 900, "book", 1))
    position, current = [0], [False]  # a rebuild: the read models start again from 0
    w = watcher(snapshots, clock, position, current)
    assert w.run_once().reason == "catching up"
    assert (snapshots.head, snapshots.cleared, snapshots.counted) == (None, 1, [])
    position[0], current[0] = 900, True
    assert w.run_once().refreshed and snapshots.counted == [(T0, 900)]


def test_off_counts_nothing() -> None:
    snapshots = Snapshots()
    assert watcher(snapshots, ManualClock(T0), [1], every_s=0).run_once().reason == "off"
    assert snapshots.counted == []


def test_the_setting() -> None:
    assert Settings().risk_refresh_s == 60
    assert Settings.from_env({"CONTACTHUB_RISK_REFRESH_S": "0"}).risk_refresh_s == 0
    assert Settings.from_env({"CONTACTHUB_RISK_REFRESH_S": "2.5"}).risk_refresh_s == 2.5
    for bad in ("-1", "nan", "86401"):
        with pytest.raises(ConfigurationError, match="CONTACTHUB_RISK_REFRESH_S"):
            Settings.from_env({"CONTACTHUB_RISK_REFRESH_S": bad})
