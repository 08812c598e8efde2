"""The projector: follows the event log and applies it to the read models, exactly once.

Exactly-once holds because each batch's rows and its tracking record (eventsourcing's
tracking table) are written in one transaction, and that transaction first checks that
the tracking position is still the one the batch started from. Two projectors running
the same read model therefore never both apply a batch: the second one's check fails
(PostgreSQL: it waits on the row lock, then sees the new position; SQLite: its snapshot
is stale and the write is refused), it rolls back, and continues from the new position.

PostgreSQL positions have gaps (rolled-back inserts consume ids); the projector never
assumes contiguity, it reads "everything after my position". The recorder's table lock
makes commit order equal position order, so nothing committed late is passed over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog
from eventsourcing.persistence import IntegrityError, Notification, OperationalError, Tracking

from contacthub.projections.base import PositionedEvent, Projection, tables_digest
from contacthub.projections.sql import POSTGRESQL, ReadStore, Sql

log = structlog.get_logger(__name__)


class FollowedLog(Protocol):
    """What the projector reads of the event log (adapters/store/eventlog.py's CustomerLog)."""

    dialect: str
    read_store: ReadStore
    factory: Any  # eventsourcing's infrastructure factory: the tracking recorder comes from it

    def head_position(self) -> int: ...

    def read_notifications(self, after: int, limit: int) -> Sequence[Notification]: ...

    def decode(self, stored: Sequence[Notification]) -> list[Any]: ...


class _PositionMoved(Exception):
    """Someone else advanced (or reset) this read model since the batch was read."""


class _NotReady(Exception):
    """A read model this one reads from has not applied the batch yet (another process is on it)."""


class Projector:
    def __init__(self, event_log: FollowedLog, projections: Sequence[Projection], batch_size: int = 2000) -> None:
        self.log = event_log
        self.store = event_log.read_store
        self.projections = list(projections)
        self.batch_size = batch_size
        self.tracker = event_log.factory.tracking_recorder()
        self._tracking_table = (
            f"{self.tracker.datastore.schema}.{self.tracker.tracking_table_name}"
            if event_log.dialect == POSTGRESQL
            else "tracking"
        )
        self.wake = threading.Event()
        with self.store.transaction(commit=True) as sql:
            for projection in self.projections:
                # Position 0 means "nothing applied yet"; having the row lets every batch lock it.
                sql.execute(
                    f"INSERT INTO {self._tracking_table} (application_name, notification_id) VALUES (?, 0) "
                    "ON CONFLICT (application_name) DO NOTHING",
                    (projection.name,),
                )

    # --- positions ----------------------------------------------------------------

    @property
    def tracking_table(self) -> str:
        """Where each read model's position is kept (application_name, notification_id)."""
        return self._tracking_table

    def position(self, name: str) -> int:
        return int(self.tracker.max_tracking_id(name) or 0)

    def positions(self) -> dict[str, int]:
        return {p.name: self.position(p.name) for p in self.projections}

    def live_digests(self) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
        """Each read model's position and table digests, read in one snapshot (the projector may go on meanwhile)."""
        with self.store.transaction(commit=False) as sql:
            if self.store.dialect == POSTGRESQL:
                sql.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            tracked = {
                r["application_name"]: int(r["notification_id"])
                for r in sql.execute(f"SELECT application_name, notification_id FROM {self._tracking_table}").all()
            }
            positions = {p.name: tracked.get(p.name, 0) for p in self.projections}
            digests = {p.name: tables_digest(sql, p) for p in self.projections}
        return positions, digests

    def caught_up_to(self) -> int:
        """The position every read model has reached."""
        return min(self.positions().values(), default=0)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every read model has applied `position`; False on timeout."""
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            if self.caught_up_to() >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.wake.set()
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)

    # --- applying the log ------------------------------------------------------------

    def run_once(self) -> int:
        """Apply the next batch to every read model; the number of events applied."""
        applied = 0
        read: dict[int, tuple[Sequence[Notification], list[PositionedEvent]]] = {}  # read models at one position share a read
        for projection in self.projections:
            applied += self._advance(projection, read)
        return applied

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        total = 0
        while True:
            applied = self.run_once()
            if applied == 0 and self.caught_up_to() >= self.log.head_position():
                return total
            total += applied
            if on_progress is not None:
                on_progress(applied)

    def run(self, stop: threading.Event, idle_wait: float = 0.2) -> None:
        """Follow the log until `stop` is set. A failing batch is logged and retried, never skipped."""
        log.info("projector_started", read_models=[p.name for p in self.projections])
        failures = 0
        while not stop.is_set():
            try:
                applied = self.run_once()
                failures = 0
            except Exception:
                failures += 1
                log.exception("projector_batch_failed", failures=failures)
                stop.wait(min(0.1 * 2**failures, 5.0))
                continue
            if applied == 0:
                self.wake.wait(idle_wait)
                self.wake.clear()
        log.info("projector_stopped")

    def _advance(self, projection: Projection, read: dict[int, tuple[Sequence[Notification], list[PositionedEvent]]]) -> int:
        start = self.position(projection.name)
        if start not in read:
            notifications = self.log.read_notifications(start, self.batch_size)
            read[start] = (notifications, list(zip((n.id for n in notifications), self.log.decode(notifications), strict=True)))
        notifications, events = read[start]
        if not notifications:
            return 0
        try:
            with self.store.transaction(commit=True) as sql:
                self._claim(sql, projection.name, start)
                for source in getattr(projection, "reads_from", ()):
                    row = sql.execute(
                        f"SELECT notification_id FROM {self._tracking_table} WHERE application_name = ?", (source,)
                    ).one()
                    if row is None or int(row["notification_id"]) < notifications[-1].id:
                        raise _NotReady
                projection.apply(sql, events)
                self.tracker._insert_tracking(sql.cursor, Tracking(projection.name, notifications[-1].id))
        except _NotReady:
            return 0  # applied later, once the read model it reads from has this batch
        except (_PositionMoved, IntegrityError, OperationalError) as exc:
            # Nothing of ours was committed. If another projector applied this batch first
            # (or a rebuild reset the position), carry on from wherever the position is now;
            # anything else is a real failure and must not pass for progress.
            if isinstance(exc, _PositionMoved) or self.position(projection.name) != start:
                log.info("projector_position_moved", read_model=projection.name, start=start)
                return 0
            raise
        return len(events)

    def _lock_tracking_row(self, sql: Sql, name: str) -> int | None:
        """Lock this read model's tracking row for the transaction; return its position."""
        if self.log.dialect == POSTGRESQL:
            statement = f"SELECT notification_id FROM {self._tracking_table} WHERE application_name = ? FOR UPDATE"
        else:
            # A write first takes SQLite's write lock (waiting for it rather than failing
            # later on a stale snapshot), so the position read next is the current one.
            sql.execute(
                f"UPDATE {self._tracking_table} SET notification_id = notification_id WHERE application_name = ?", (name,)
            )
            statement = f"SELECT notification_id FROM {self._tracking_table} WHERE application_name = ?"
        row = sql.execute(statement, (name,)).one()
        return None if row is None else int(row["notification_id"])

    def _claim(self, sql: Sql, name: str, start: int) -> None:
        if self._lock_tracking_row(sql, name) != start:
            raise _PositionMoved

    # --- rebuild ----------------------------------------------------------------------

    def reset(self) -> None:
        """Empty every read model and set its position back to 0, atomically."""
        with self.store.transaction(commit=True) as sql:
            for projection in self.projections:
                self._lock_tracking_row(sql, projection.name)
                for table, _ in projection.tables:
                    sql.execute(f"DELETE FROM {table}")
                sql.execute(
                    f"UPDATE {self._tracking_table} SET notification_id = 0 WHERE application_name = ?",
                    (projection.name,),
                )
        log.info("read_models_reset", read_models=[p.name for p in self.projections])
