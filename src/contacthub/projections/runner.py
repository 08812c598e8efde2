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

Partitions. The read models can be split by customer into N partitions (a CRC-32 of the
customer id, modulo N), each with its own tracking row (`customer_view@0/2`, ...; with one
partition the row keeps the read model's plain name). A *lane* is one read model's
partition. Every event belongs to exactly one customer and every row of a read model to
the customer of its events, so lanes never write the same row, except the additive daily
totals (`rm_contact_daily`), whose upserts commute. N processes (`contacthub project
--workers N`, on one machine or several) then share the work, each taking its lanes; a
projector that takes them all (the server's embedded one) applies every partition in turn.
How many partitions there are is stored in the tracking rows themselves: every projector
follows what is stored, and only a rebuild (`reset(partitions=N)`), or a re-split when all
lanes stand at the same position, changes it. A read waits for every lane (`caught_up_to`).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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


def partition_of(customer_id: str, partitions: int) -> int:
    """The partition a customer's events and rows belong to, of `partitions`."""
    return zlib.crc32(customer_id.encode()) % partitions if partitions > 1 else 0


def lane_name(read_model: str, index: int, partitions: int) -> str:
    """The tracking name of one partition of a read model (the plain name when there is one partition)."""
    return read_model if partitions == 1 else f"{read_model}@{index}/{partitions}"


@dataclass(frozen=True)
class Lane:
    """One partition of one read model: what a tracking row records the position of."""

    projection: Projection
    index: int
    partitions: int

    @property
    def name(self) -> str:
        return lane_name(self.projection.name, self.index, self.partitions)

    def source(self, read_model: str) -> str:
        """The same partition of a read model this one reads from."""
        return lane_name(read_model, self.index, self.partitions)


class PartitioningMismatch(ValueError):
    """The read models are stored in another number of partitions than asked for."""

    def __init__(self, stored: int, wanted: int) -> None:
        super().__init__(
            f"the read models are kept in {stored} partition(s), not {wanted}, and their partitions stand at "
            f"different positions: run the projector with {stored} worker(s) until it has caught up, "
            f"or rebuild with `contacthub rebuild --workers {wanted}`"
        )
        self.stored = stored
        self.wanted = wanted


class _PositionMoved(Exception):
    """Someone else advanced (or reset) this read model since the batch was read."""


class _NotReady(Exception):
    """A read model this one reads from has not applied the batch yet (another process is on it)."""


class Projector:
    """Applies the log to the read models, lane by lane.

    `partitions`: how many partitions the read models should be kept in (None: whatever is
    stored, one when nothing is). `only`: the partitions this projector applies (None: all);
    a projector applying some partitions still answers `caught_up_to` for all of them.
    """

    def __init__(
        self,
        event_log: FollowedLog,
        projections: Sequence[Projection],
        batch_size: int = 2000,
        *,
        partitions: int | None = None,
        only: Iterable[int] | None = None,
    ) -> None:
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
        self._only = None if only is None else frozenset(only)
        self.wake = threading.Event()
        self.partitions = self._settle_partitions(partitions)
        if self._only is not None and not self._only <= set(range(self.partitions)):
            raise ValueError(f"partitions {sorted(self._only)} asked for, but there are {self.partitions}")

    # --- partitions ---------------------------------------------------------------------

    def _stored_lanes(self, sql: Sql) -> dict[str, int]:
        """Every tracking row of these read models, in any partitioning: name -> position."""
        names = [p.name for p in self.projections]
        conditions = " OR ".join("application_name = ? OR application_name LIKE ?" for _ in names)
        rows = sql.execute(
            f"SELECT application_name, notification_id FROM {self._tracking_table} WHERE {conditions}",
            [v for name in names for v in (name, f"{name}@%")],
        ).all()
        return {r["application_name"]: int(r["notification_id"]) for r in rows}

    @staticmethod
    def _partitions_in(stored: dict[str, int]) -> int:
        counts = {int(name.rsplit("/", 1)[1]) if "@" in name else 1 for name in stored}
        return max(counts, default=1)

    def _settle_partitions(self, wanted: int | None) -> int:
        """Adopt the stored partitioning (creating it when there is none); re-split when asked and possible."""
        with self.store.transaction(commit=True) as sql:
            self._lock_tracking_table(sql)
            stored = self._stored_lanes(sql)
            have = self._partitions_in(stored)
            complete = all(
                lane_name(p.name, i, have) in stored for p in self.projections for i in range(have)
            )
            target = wanted or have
            if target < 1:
                raise ValueError("partitions must be at least 1")
            if stored and complete and target != have:
                positions = set(stored.values())
                if len(positions) != 1:
                    raise PartitioningMismatch(have, target)
                self._write_lanes(sql, target, positions.pop())
                log.info("read_models_repartitioned", partitions=target, was=have)
            elif not complete:
                # None stored yet (or a read model new since): position 0 means "nothing applied
                # yet"; having the row lets every batch lock it.
                target = have if stored else target
                for projection in self.projections:
                    for i in range(target):
                        sql.execute(
                            f"INSERT INTO {self._tracking_table} (application_name, notification_id) VALUES (?, 0) "
                            "ON CONFLICT (application_name) DO NOTHING",
                            (lane_name(projection.name, i, target),),
                        )
        return target

    def _write_lanes(self, sql: Sql, partitions: int, position: int) -> None:
        """Replace every tracking row of these read models by `partitions` lanes at `position`."""
        for projection in self.projections:
            sql.execute(
                f"DELETE FROM {self._tracking_table} WHERE application_name = ? OR application_name LIKE ?",
                (projection.name, f"{projection.name}@%"),
            )
            for i in range(partitions):
                sql.execute(
                    f"INSERT INTO {self._tracking_table} (application_name, notification_id) VALUES (?, ?)",
                    (lane_name(projection.name, i, partitions), position),
                )

    def _lock_tracking_table(self, sql: Sql) -> None:
        """Serialise partitioning changes (and a rebuild) with every projector's batches."""
        if self.log.dialect == POSTGRESQL:
            # EXCLUSIVE waits for every batch holding its tracking row (FOR UPDATE) and holds
            # the next ones back; plain reads of the positions go on.
            sql.execute(f"LOCK TABLE {self._tracking_table} IN EXCLUSIVE MODE")
        else:  # the write lock, taken now rather than at the first write
            sql.execute(f"UPDATE {self._tracking_table} SET notification_id = notification_id WHERE 0")

    def lanes(self) -> list[Lane]:
        """The lanes this projector applies, in the stored partitioning."""
        return [
            Lane(projection, i, self.partitions)
            for i in range(self.partitions)
            if self._only is None or i in self._only
            for projection in self.projections
        ]

    def _refresh_partitions(self) -> None:
        """Someone re-split or rebuilt the read models in another number of partitions: follow it."""
        with self.store.transaction(commit=False) as sql:
            stored = self._stored_lanes(sql)
        have = self._partitions_in(stored)
        if have != self.partitions:
            log.info("projector_follows_partitions", partitions=have, was=self.partitions)
            self.partitions = have
            if self._only is not None:
                self._only = frozenset(i for i in self._only if i < have)

    # --- positions ----------------------------------------------------------------

    @property
    def tracking_table(self) -> str:
        """Where each read model's position is kept (application_name, notification_id)."""
        return self._tracking_table

    def position(self, name: str) -> int:
        """How far a read model has applied the log: the least of its lanes (or one lane, by its tracking name)."""
        with self.store.transaction(commit=False) as sql:
            stored = self._stored_lanes(sql)
        if name in stored:
            return stored[name]
        mine = [at for lane, at in stored.items() if lane.split("@", 1)[0] == name]
        return min(mine, default=0)

    def positions(self) -> dict[str, int]:
        with self.store.transaction(commit=False) as sql:
            return self._positions(sql)

    def _positions(self, sql: Sql) -> dict[str, int]:
        stored = self._stored_lanes(sql)
        found: dict[str, int] = {}
        for lane, at in stored.items():
            name = lane.split("@", 1)[0]
            found[name] = min(found.get(name, at), at)
        return {p.name: found.get(p.name, 0) for p in self.projections}

    def lane_positions(self) -> dict[str, dict[int, int]]:
        """Per read model, each partition's position (one partition: {0: position})."""
        with self.store.transaction(commit=False) as sql:
            return self._by_partition(self._stored_lanes(sql))

    def _by_partition(self, stored: dict[str, int]) -> dict[str, dict[int, int]]:
        result: dict[str, dict[int, int]] = {p.name: {} for p in self.projections}
        for lane, at in stored.items():
            name, _, part = lane.partition("@")
            if name in result:
                result[name][int(part.split("/")[0]) if part else 0] = at
        return result

    def live_digests(self) -> tuple[dict[str, dict[int, int]], dict[str, dict[str, str]]]:
        """Each read model's lane positions and table digests, read in one snapshot (the projector may go on meanwhile)."""
        with self.store.transaction(commit=False) as sql:
            if self.store.dialect == POSTGRESQL:
                sql.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            positions = self._by_partition(self._stored_lanes(sql))
            digests = {p.name: tables_digest(sql, p) for p in self.projections}
        return positions, digests

    def caught_up_to(self) -> int:
        """The position every read model has reached, in every partition (one query)."""
        with self.store.transaction(commit=False) as sql:
            return self.caught_up_to_in(sql)

    def caught_up_to_in(self, sql: Sql) -> int:
        """The same, read in the given transaction: on a standby, how far its copy of the read models has got."""
        return min(self._stored_lanes(sql).values(), default=0)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every read model has applied `position` in every partition; False on timeout."""
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
        """Apply the next batch to every lane of this projector; how far (in events read) the furthest lane moved."""
        moved = 0
        read: dict[int, Sequence[Notification]] = {}  # lanes at one position share a read ...
        decoded: dict[tuple[int, int], list[PositionedEvent]] = {}  # ... and a partition's decoding
        with self.store.transaction(commit=False) as sql:
            stored = self._stored_lanes(sql)
        lanes = self.lanes()
        if any(lane.name not in stored for lane in lanes):
            self._refresh_partitions()
            return 0
        for lane in lanes:
            moved = max(moved, self._advance(lane, stored[lane.name], read, decoded))
        return moved

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Apply the log to this projector's lanes until they reach its end; the events read."""
        total = 0
        while True:
            applied = self.run_once()
            if applied == 0 and self._lanes_at_head():
                return total
            total += applied
            if on_progress is not None:
                on_progress(applied)

    def _lanes_at_head(self) -> bool:
        head = self.log.head_position()
        with self.store.transaction(commit=False) as sql:
            stored = self._stored_lanes(sql)
        return all(stored.get(lane.name, 0) >= head for lane in self.lanes())

    def run(self, stop: threading.Event, idle_wait: float = 0.2) -> None:
        """Follow the log until `stop` is set. A failing batch is logged and retried, never skipped."""
        log.info("projector_started", read_models=[p.name for p in self.projections], partitions=self.partitions,
                 only=None if self._only is None else sorted(self._only))
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

    def _advance(
        self, lane: Lane, start: int, read: dict[int, Sequence[Notification]],
        decoded: dict[tuple[int, int], list[PositionedEvent]],
    ) -> int:
        if start not in read:
            read[start] = self.log.read_notifications(start, self.batch_size)
        notifications = read[start]
        if not notifications:
            return 0
        if (start, lane.index) not in decoded:
            mine = notifications
            if lane.partitions > 1:
                mine = [n for n in notifications if partition_of(str(n.originator_id), lane.partitions) == lane.index]
            decoded[start, lane.index] = list(zip((n.id for n in mine), self.log.decode(mine), strict=True))
        events = decoded[start, lane.index]
        end = notifications[-1].id
        try:
            with self.store.transaction(commit=True) as sql:
                self._claim(sql, lane.name, start)
                for source in getattr(lane.projection, "reads_from", ()):
                    row = sql.execute(
                        f"SELECT notification_id FROM {self._tracking_table} WHERE application_name = ?",
                        (lane.source(source),),
                    ).one()
                    if row is None or int(row["notification_id"]) < end:
                        raise _NotReady
                lane.projection.apply(sql, events)
                self.tracker._insert_tracking(sql.cursor, Tracking(lane.name, end))
        except _NotReady:
            return 0  # applied later, once the read model it reads from has this batch
        except (_PositionMoved, IntegrityError, OperationalError) as exc:
            # Nothing of ours was committed. If another projector applied this batch first
            # (or a rebuild reset the position), carry on from wherever the position is now;
            # anything else is a real failure and must not pass for progress.
            if isinstance(exc, _PositionMoved) or self._lane_position(lane.name) != start:
                log.info("projector_position_moved", read_model=lane.name, start=start)
                return 0
            raise
        return len(notifications)

    def _lane_position(self, name: str) -> int | None:
        with self.store.transaction(commit=False) as sql:
            row = sql.execute(
                f"SELECT notification_id FROM {self._tracking_table} WHERE application_name = ?", (name,)
            ).one()
        return None if row is None else int(row["notification_id"])

    def _lock_tracking_row(self, sql: Sql, name: str) -> int | None:
        """Lock this lane's tracking row for the transaction; return its position."""
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

    def reset(self, partitions: int | None = None) -> None:
        """Empty every read model and set every lane back to 0, atomically; `partitions` re-splits them."""
        target = partitions or self.partitions
        with self.store.transaction(commit=True) as sql:
            self._lock_tracking_table(sql)
            for projection in self.projections:
                for table, _ in projection.tables:
                    sql.execute(f"DELETE FROM {table}")
            self._write_lanes(sql, target, 0)
        self.partitions = target
        log.info("read_models_reset", read_models=[p.name for p in self.projections], partitions=target)
