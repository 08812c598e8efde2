"""What every read model provides to the projector."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from operator import itemgetter
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import orjson

from contacthub.contract import DOMAIN_EVENTS
from contacthub.domain.customer import Customer
from contacthub.domain.numbers import Holding
from contacthub.projections.sql import ReadStore, Sql

PositionedEvent = tuple[int, Customer.Event]

STORED_EVENTS: frozenset[type[Customer.Event]] = frozenset(DOMAIN_EVENTS.values())
"""Every event class a customer's log can hold (the event catalogue's): each read model handles or ignores each one."""


def family(base: type[Customer.Event]) -> frozenset[type[Customer.Event]]:
    """The stored event classes that are `base` or derive from it (every complaint step, say)."""
    return frozenset(cls for cls in STORED_EVENTS if issubclass(cls, base))


class Projection(Protocol):
    name: str
    """The tracking name: how far this read model has applied the log."""
    @property
    def tables(self) -> Sequence[tuple[str, str]]:
        """(table, primary-key columns) of every table the read model owns."""

    @property
    def reads_from(self) -> Sequence[str]:
        """Other read models whose tables `apply` reads: a batch waits until they have applied it."""

    def apply(self, sql: Sql, events: Sequence[PositionedEvent]) -> None:
        """Apply these events, in log order, inside the caller's transaction."""


Work = TypeVar("Work")
Handler = Callable[[Work, int, Any], None]
"""What one event does to a read model: (the batch's unit of work, the event's log position, the event)."""


class ReadModel(ABC, Generic[Work]):
    """How every read model applies a batch: one dispatch style, batch-oriented for speed.

    A subclass declares `handlers` (concrete event class -> handler) and `ignores` (the
    concrete event classes it deliberately leaves alone); every class in STORED_EVENTS is in
    exactly one of them. `apply` keeps the batch's events that have a handler, has `start`
    load the rows they touch (one query per table) into a unit of work, calls each event's
    handler on it in log order, and has `finish` write the result back (one statement per table).
    """

    handlers: ClassVar[Mapping[type[Customer.Event], Handler[Any]]]
    ignores: ClassVar[frozenset[type[Customer.Event]]]

    def apply(self, sql: Sql, events: Sequence[PositionedEvent]) -> None:
        handlers = self.handlers
        relevant = [(p, e) for p, e in events if type(e) in handlers]
        if not relevant:
            return
        work = self.start(sql, relevant)
        for position, event in relevant:
            handlers[type(event)](work, position, event)
        self.finish(sql, work)

    @abstractmethod
    def start(self, sql: Sql, relevant: Sequence[PositionedEvent]) -> Work:
        """A unit of work holding the stored rows these (handled) events touch."""

    @abstractmethod
    def finish(self, sql: Sql, work: Work) -> None:
        """Write the unit of work back, inside the caller's transaction."""


def row_tuples(columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows kept as dicts, as the tuples `Sql.insert_rows` and `Sql.upsert_rows` take (in `columns` order)."""
    values = itemgetter(*(name for name, _ in columns))
    if len(columns) == 1:
        return [(values(row),) for row in rows]
    return [values(row) for row in rows]


@lru_cache(maxsize=1 << 16)
def utc_text(moment: datetime) -> str:
    """How read models store a moment: ISO 8601 in UTC, fixed width, so text order is time order.

    Remembered: every read model formats the same events' moments (~2 us each; a hit costs
    a tenth of that)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def holdings_of(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Holding]]:
    """Stored holdings rows (msisdn, customer_id, held_from, released_at in utc_text; position, if kept) by number."""
    found: dict[str, list[Holding]] = {}
    for row in rows:
        released = row["released_at"]
        found.setdefault(row["msisdn"], []).append(Holding(
            row["msisdn"], row["customer_id"], datetime.fromisoformat(row["held_from"]),
            None if released is None else datetime.fromisoformat(released), int(row.get("position") or 0),
        ))
    return found


def local_time(utc: str | None, zone: tzinfo) -> str | None:
    """A stored UTC moment shown in the operator's time zone (RFC 3339 with offset)."""
    return None if utc is None else datetime.fromisoformat(utc).astimezone(zone).isoformat()


def contact_item(row: dict[str, Any], zone: tzinfo) -> dict[str, Any]:
    """A timeline row (rm_contact) as every read shows a touchpoint."""
    return {
        "event_id": row["event_id"],
        "position": int(row["position"]),
        "occurred_at": local_time(row["occurred_at"], zone),
        "recorded_at": local_time(row["recorded_at"], zone),
        "channel": row["channel"],
        "direction": row["direction"],
        "reason": row["reason"],
        "handled_by": row["handled_by"],
        "site": row["site"],
        "duration_s": int(row["duration_s"]),
        "outcome": row["outcome"],
        "order_id": row["order_id"],
        "complaint_id": row["complaint_id"],
    }


class ReadQueries:
    """What every set of read-model questions shares: the store, the operator's zone, "now"."""

    def __init__(self, store: ReadStore, zone: tzinfo, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.zone = zone
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def _local(self, utc: str | None) -> str | None:
        return local_time(utc, self.zone)

    def _report_rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query that adds up many rows (ReadStore.report)."""
        with self.store.report() as sql:
            return sql.execute(statement, params).all()


def table_digest(sql: Sql, table: str, key: str) -> str:
    """A digest of a table's whole content, in primary-key order: equal content, equal digest."""
    digest = hashlib.sha256()
    sql.execute(f"SELECT * FROM {table} ORDER BY {key}")
    for rows in sql.batches():
        for row in rows:
            digest.update(orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str))
    return digest.hexdigest()


def tables_digest(sql: Sql, projection: Projection) -> dict[str, str]:
    """A digest per table of one read model, read in the caller's transaction."""
    return {table: table_digest(sql, table, key) for table, key in projection.tables}


def projection_digest(store: ReadStore, projection: Projection) -> dict[str, str]:
    with store.transaction(commit=False) as sql:
        return tables_digest(sql, projection)
