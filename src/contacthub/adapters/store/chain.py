"""The event chain in the database: written with the events, read back to verify and export.

The formula and the verdicts are in domain/event_chain.py; this module only moves rows.
Links are written by the event log's recorders (sqlite.py, postgres.py) in the events' transaction;
`seal_existing_events` links the events stored before the chain existed, once, as part of
migration 0008.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import structlog
from eventsourcing.persistence import StoredEvent

from contacthub.domain.event_chain import (
    GENESIS,
    ChainHead,
    ChainLink,
    CustomerChain,
    Finding,
    StoredRecord,
    chain_hashes,
    extend_chain,
    verify_chain,
)
from contacthub.projections.sql import POSTGRESQL, SQLITE, ReadStore, Sql

EVENTS_TABLE = {SQLITE: "stored_events", POSTGRESQL: "contacthub_events"}
"""The eventsourcing library's table names for this application."""
POSITION = {SQLITE: "rowid", POSTGRESQL: "notification_id"}
CHAIN_COLUMNS = (("customer_id", "text"), ("version", "bigint"), ("position", "bigint"), ("hash", "text"))
CUSTOMERS_PER_READ = 500

log = structlog.get_logger(__name__)


def chain_rows(customer_id: str, links: Sequence[ChainLink]) -> list[tuple[str, int, int, str]]:
    return [(customer_id, link.version, link.position, link.hash) for link in links]


def previous_links(sql: Sql, firsts: dict[str, int]) -> dict[str, str]:
    """The stored link before each customer's first new version (GENESIS for version 1)."""
    wanted = [(customer, str(version - 1)) for customer, version in firsts.items() if version > 1]
    found = sql.select_joined(
        "event_chain", ("customer_id", "version"), wanted,
        on="t.customer_id = w.customer_id AND t.version = CAST(w.version AS BIGINT)",
    )
    previous = {customer: GENESIS for customer in firsts}
    previous.update({row["customer_id"]: row["hash"] for row in found})
    return previous


class ChainHeads:
    """The last link this process wrote per customer, so the next write need not read it back.

    Filled only after the transaction that wrote a link committed (a rolled-back link must
    never be chained from), and used only when it is the link right before the customer's
    first new version: if another process wrote in between, the versions do not match and
    the link is read from the table.
    """

    def __init__(self, maxsize: int = 200_000) -> None:
        self.maxsize = maxsize
        self._heads: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def before_many(self, firsts: dict[str, int]) -> dict[str, str]:
        """The link before each customer's first new version, where known without a query:
        GENESIS before version 1, else the head this process wrote if it is the one right before."""
        found: dict[str, str] = {}
        with self._lock:
            heads = self._heads
            for customer_id, version in firsts.items():
                if version == 1:
                    found[customer_id] = GENESIS
                    continue
                head = heads.get(customer_id)
                if head is not None and head[0] == version - 1:
                    found[customer_id] = head[1]
        return found

    def committed(self, heads: dict[str, tuple[int, str]]) -> None:
        with self._lock:
            for customer_id, head in heads.items():
                self._heads[customer_id] = head
                self._heads.move_to_end(customer_id)
            while len(self._heads) > self.maxsize:
                self._heads.popitem(last=False)


def link_new_events(
    sql: Sql,
    stored_events: Sequence[StoredEvent],
    positions: Sequence[int],
    heads: ChainHeads | None = None,
    written: dict[str, tuple[int, str]] | None = None,
) -> None:
    """Write the chain links of events being stored, inside their transaction (new_links)."""
    sql.insert_rows("event_chain", CHAIN_COLUMNS, new_links(sql, stored_events, positions, heads, written))


def new_links(
    sql: Sql,
    stored_events: Sequence[StoredEvent],
    positions: Sequence[int],
    heads: ChainHeads | None = None,
    written: dict[str, tuple[int, str]] | None = None,
) -> list[tuple[str, int, int, str]]:
    """The chain rows (customer_id, version, position, hash) of events being stored, computed
    inside their transaction once their log positions are known (each link covers its event's
    position): after the insert on SQLite, from the block of positions reserved before it on
    PostgreSQL. A previous link this process did not write itself is read from the table.
    The new heads go into `written`, for `heads.committed()` once the transaction has committed."""
    per_customer: dict[str, list[tuple[int, int, str, bytes]]] = {}
    for event, position in zip(stored_events, positions, strict=True):
        record = (event.originator_version, position, event.topic, event.state)
        customer = str(event.originator_id)
        records = per_customer.get(customer)
        if records is None:
            per_customer[customer] = [record]
        else:
            records.append(record)
    firsts: dict[str, int] = {}
    for customer, records in per_customer.items():
        if len(records) > 1:
            records.sort(key=itemgetter(0))
        firsts[customer] = records[0][0]
    known = heads.before_many(firsts) if heads is not None else {c: GENESIS for c, v in firsts.items() if v == 1}
    unknown = {customer: first for customer, first in firsts.items() if customer not in known}
    if unknown:
        known.update(previous_links(sql, unknown))
    rows: list[tuple[str, int, int, str]] = []
    for customer, records in per_customer.items():
        previous = known[customer]
        if previous == GENESIS and records[0][0] > 1:
            # Only a deleted link gets here; verification reports it. Storing must go on.
            log.warning("event_chain_link_missing", customer_id=customer, version=records[0][0] - 1)
        hashes = chain_hashes(previous, customer, records)
        rows += [(customer, record[0], record[1], link) for record, link in zip(records, hashes, strict=True)]
        if written is not None:
            written[customer] = (records[-1][0], hashes[-1])
    return rows


def _records(rows: Sequence[dict[str, Any]]) -> Iterator[tuple[str, StoredRecord]]:
    for r in rows:
        yield r["originator_id"], StoredRecord(int(r["originator_version"]), int(r["position"]), r["topic"], bytes(r["state"]))


def _events_table_exists(sql: Sql) -> bool:
    table = EVENTS_TABLE[sql.dialect]
    if sql.dialect == SQLITE:
        return sql.execute("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).one() is not None
    return bool(sql.execute("SELECT to_regclass(?) IS NOT NULL AS found", (table,)).one()["found"])  # type: ignore[index]


def seal_existing_events(sql: Sql) -> None:
    """Link every stored event that has no link yet (the events stored before migration 0008)."""
    if not _events_table_exists(sql):
        return  # a scratch store: read models only
    table = EVENTS_TABLE[sql.dialect]
    customers = [r["originator_id"] for r in sql.execute(f"SELECT DISTINCT originator_id FROM {table}").all()]
    for start in range(0, len(customers), CUSTOMERS_PER_READ):
        chunk = customers[start : start + CUSTOMERS_PER_READ]
        rows = _select_events(sql, chunk)
        per_customer: dict[str, list[StoredRecord]] = {}
        for customer, record in _records(rows):
            per_customer.setdefault(customer, []).append(record)
        links = [row for customer, records in per_customer.items()
                 for row in chain_rows(customer, extend_chain(GENESIS, customer, records))]
        sql.insert_rows("event_chain", CHAIN_COLUMNS, links, on_conflict="ON CONFLICT (customer_id, version) DO NOTHING")


def _select_events(sql: Sql, customers: Sequence[str]) -> list[dict[str, Any]]:
    table, position = EVENTS_TABLE[sql.dialect], POSITION[sql.dialect]
    columns = f"originator_id, originator_version, {position} AS position, topic, state"
    if sql.dialect == POSTGRESQL:
        return sql.execute(
            f"SELECT {columns} FROM {table} WHERE originator_id = ANY(?) ORDER BY originator_id, originator_version",
            (list(customers),),
        ).all()
    return sql.execute(
        f"SELECT {columns} FROM {table} WHERE originator_id IN ({sql.in_list(customers)}) "
        "ORDER BY originator_id, originator_version",
        list(customers),
    ).all()


@dataclass
class VerifyReport:
    customers: int = 0
    events: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


class EventChain:
    """Reads a customer's events together with their chain, in one read-only transaction."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def customer(self, customer_id: str) -> CustomerChain:
        return next(iter(self._chains([customer_id])), CustomerChain(customer_id, [], []))

    def _chains(self, customers: Sequence[str]) -> list[CustomerChain]:
        with self.store.transaction(commit=False) as sql:
            event_rows = _select_events(sql, customers)
            link_rows = sql.select_where_in("event_chain", "customer_id", list(customers))
        records: dict[str, list[StoredRecord]] = {}
        for customer, record in _records(event_rows):
            records.setdefault(customer, []).append(record)
        links: dict[str, list[ChainLink]] = {}
        for r in sorted(link_rows, key=lambda r: (r["customer_id"], int(r["version"]))):
            links.setdefault(r["customer_id"], []).append(ChainLink(int(r["version"]), int(r["position"]), r["hash"]))
        return [CustomerChain(c, records.get(c, []), links.get(c, [])) for c in customers if c in records or c in links]

    def customer_ids(self) -> list[str]:
        table = EVENTS_TABLE[self.store.dialect]
        rows = self.store.query(
            f"SELECT originator_id AS customer_id FROM {table} UNION SELECT customer_id FROM event_chain"
        )
        return sorted(r["customer_id"] for r in rows)

    def event_count(self) -> int:
        row = self.store.query_one(f"SELECT COUNT(*) AS n FROM {EVENTS_TABLE[self.store.dialect]}")
        return int(row["n"]) if row else 0

    def verify(
        self,
        customers: Sequence[str] | None = None,
        anchors: dict[str, ChainHead] | None = None,
        on_progress: Callable[[int], Any] = lambda _n: None,
    ) -> VerifyReport:
        """Walk every chain (or the given customers'), 500 customers per read."""
        anchors = anchors or {}
        # All customers: those in the log or the chain, and those an anchor knows but the
        # database has lost entirely.
        ids = list(customers) if customers is not None else sorted(set(self.customer_ids()) | anchors.keys())
        report = VerifyReport()
        for start in range(0, len(ids), CUSTOMERS_PER_READ):
            chunk = ids[start : start + CUSTOMERS_PER_READ]
            found = {c.customer_id: c for c in self._chains(chunk)}
            for customer_id in chunk:
                chain = found.get(customer_id, CustomerChain(customer_id, [], []))
                report.findings += verify_chain(customer_id, chain.records, chain.links, anchors.get(customer_id))
                report.customers += 1
                report.events += len(chain.records)
                on_progress(len(chain.records))
        return report

    def heads(self) -> list[ChainHead]:
        rows = self.store.query(
            "SELECT c.customer_id, c.version, c.hash FROM event_chain c JOIN "
            "(SELECT customer_id, MAX(version) AS version FROM event_chain GROUP BY customer_id) h "
            "ON h.customer_id = c.customer_id AND h.version = c.version ORDER BY c.customer_id"
        )
        return [ChainHead(r["customer_id"], int(r["version"]), r["hash"]) for r in rows]
