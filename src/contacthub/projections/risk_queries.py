"""Churn-risk signals, counted from the read models over the look-back window (domain/churn_risk.py).

The at-risk list "now" is also kept as a snapshot (`rm_risk_now`, one row per customer at
risk, and `rm_risk_now_head`: the moment it was counted for, the log position the read
models had applied by then, and the rule book it was judged with). The risk watcher
(services/risk_watch.py) refreshes it; `at_risk()` without `as_of` answers from it while
it is fresh and otherwise counts the window itself. Both judge with the same SQL
(`_AT_RISK`), so the snapshot answers exactly what the live count answered at its moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contacthub.domain.churn_risk import (
    EVIDENCE_COUNTS,
    VALUED_TIERS,
    RiskEvidence,
    RiskFlag,
    RiskRule,
    RiskRules,
    risk_flags,
    rule_book,
)
from contacthub.domain.complaint import OPEN_STATUSES
from contacthub.projections.base import ReadQueries, utc_text
from contacthub.projections.sql import POSTGRESQL, ReadStore, Sql

_OPEN = tuple(sorted(s.value for s in OPEN_STATUSES))
# Each rule's count, for the customers selected by {who}; `?` parameters: start, end (+ who's).
# A duplicate linked to its primary (complaint.linked) is the same issue: counted once, on the primary.
_COMPLAINTS = ("SELECT customer_id, COUNT(*) AS n FROM rm_complaint WHERE opened_at >= ? AND opened_at < ? "
               "AND primary_id IS NULL {who} GROUP BY customer_id")
_BREACHES = (
    "SELECT customer_id, COUNT(*) AS n FROM rm_complaint WHERE deadline_at >= ? AND deadline_at < ? AND primary_id IS NULL "
    f"AND (first_sla_met = 0 OR (first_sla_met IS NULL AND status IN ({','.join(repr(s) for s in _OPEN)}))) "
    "{who} GROUP BY customer_id"
)
_UNRESOLVED = (
    "SELECT customer_id, COUNT(*) AS n FROM rm_contact_fact WHERE occurred_at >= ? AND occurred_at < ? "
    "AND inbound = 1 AND outcome <> 'resolved' {who} GROUP BY customer_id"
)
_CALLS = (
    "SELECT customer_id, COUNT(*) AS n FROM rm_contact_fact WHERE occurred_at >= ? AND occurred_at < ? "
    "AND inbound = 1 AND channel = 'hotline' {who} GROUP BY customer_id"
)


# One customer's counts and tier, in one statement; params: (start, end, customer_id) x 4, customer_id.
_ONE_CUSTOMER = "SELECT " + ", ".join(
    f"(SELECT COALESCE(SUM(n), 0) FROM ({statement.format(who='AND customer_id = ?')}) AS {name}_rows) AS {name}"
    for name, statement in (("complaints", _COMPLAINTS), ("sla_breaches", _BREACHES),
                            ("unresolved_contacts", _UNRESOLVED), ("service_calls", _CALLS))
) + ", (SELECT tier FROM rm_customer_value WHERE customer_id = ?) AS tier"



def _identity_statement(records: int) -> str:
    """_ONE_CUSTOMER over several records of one person (merged); params: (start, end, *records) x 4, survivor."""
    who = f"AND customer_id IN ({','.join('?' * records)})"
    return "SELECT " + ", ".join(
        f"(SELECT COALESCE(SUM(n), 0) FROM ({statement.format(who=who)}) AS {name}_rows) AS {name}"
        for name, statement in (("complaints", _COMPLAINTS), ("sla_breaches", _BREACHES),
                                ("unresolved_contacts", _UNRESOLVED), ("service_calls", _CALLS))
    ) + ", (SELECT tier FROM rm_customer_value WHERE customer_id = ?) AS tier"


ANY = "*"
"""In rm_risk_now_totals: the count for any tier, or any rule (tiers are plain words: domain/vocabulary.py)."""
_EVIDENCE_COLUMNS = ("customer_id", "tier", *EVIDENCE_COUNTS, "flags")
_SNAPSHOT_TYPES = (("customer_id", "text"), ("tier", "text"), *((name, "bigint") for name in EVIDENCE_COUNTS),
                   ("flags", "bigint"))


def flag_out(flag: RiskFlag) -> dict[str, Any]:
    return asdict(flag)


@dataclass(frozen=True)
class SnapshotHead:
    """What a stored at-risk snapshot describes: the moment it was counted for, the log position the
    read models had applied by then (at least), the rule book it was judged with, how many are at risk."""

    as_of: datetime
    position: int
    basis: str
    customers: int


@dataclass(frozen=True)
class SnapshotUse:
    """When `at_risk()` without `as_of` answers from the snapshot: while it is at most `max_age` old,
    was judged with this rule book, and `read_models_position()` has not gone back below its position
    (a rebuild empties the read models and applies the log again: until it has passed the
    snapshot's position, and afterwards until the watcher counts again, the live count answers)."""

    max_age: timedelta
    read_models_position: Callable[[], int]


class RiskQueries(ReadQueries):
    def __init__(
        self, store: ReadStore, zone: ZoneInfo, clock: Callable[[], datetime] | None = None, rules: RiskRules | None = None
    ) -> None:
        super().__init__(store, zone, clock)
        self.rules = rules or RiskRules()
        self.snapshot_use: SnapshotUse | None = None
        """None: every at-risk list is counted live (bootstrap sets it from CONTACTHUB_RISK_REFRESH_S)."""
        self._judged = _AT_RISK.format(flags=" + ".join(f"(CASE WHEN {_fires(r)} THEN 1 ELSE 0 END)"
                                                        for r in rule_book(self.rules)))
        # The rule book as it is judged in SQL, with its numbers: a snapshot judged by another one is not served.
        self.basis = hashlib.sha256(f"{self.rules!r}\n{self._judged}".encode()).hexdigest()[:16]

    def _window(self, as_of: datetime | None) -> tuple[datetime, str, str]:
        end = as_of or self.clock()
        return end, utc_text(end - timedelta(days=self.rules.window_days)), utc_text(end)

    def for_customer(self, customer_id: str, as_of: datetime | None = None, sql: Sql | None = None,
                     records: Sequence[str] = ()) -> dict[str, Any]:
        """The customer's churn-risk block: the flags that fire now (or at `as_of`).

        One statement (each rule's count and the tier as scalar subqueries): the 360-degree
        view reads it in its own snapshot, and on PostgreSQL every statement is a round trip.
        """
        end, start, stop = self._window(as_of)
        if sql is None:
            with self.store.transaction(commit=False) as own:
                return self.for_customer(customer_id, as_of, own, records)
        if len(records) > 1:  # a merged person: the evidence of all its records, the survivor's tier
            row = sql.execute(_identity_statement(len(records)), (start, stop, *records) * 4 + (customer_id,)).one() or {}
        else:
            row = sql.execute(_ONE_CUSTOMER, (start, stop, customer_id) * 4 + (customer_id,)).one() or {}
        evidence = RiskEvidence(tier=row.get("tier") or "ordinary", **{name: int(row.get(name) or 0) for name in EVIDENCE_COUNTS})
        flags = risk_flags(evidence, self.rules)
        return {
            "at_risk": bool(flags),
            "as_of": end.astimezone(self.zone).isoformat(),
            "window_days": self.rules.window_days,
            "flags": [flag_out(f) for f in flags],
        }

    def at_risk(
        self, as_of: datetime | None = None, tier: str | None = None, rule: str | None = None, page: int = 1,
        page_size: int = 50, *, min_position: int | None = None,
    ) -> dict[str, Any]:
        """Every customer with at least one flag, most flags first.

        Counted, judged, sorted and paged in SQL (the rule book evaluated there), so only the
        page's customers are read into the service, however many are at risk. Without `as_of`,
        answered from the snapshot when it is fresh (`snapshot_use`) and has applied
        `min_position`: then `as_of` is the snapshot's moment and `position` its log position.
        """
        if as_of is None and self.snapshot_use is not None:
            served = self._from_snapshot(self.snapshot_use, tier, rule, page, page_size, min_position)
            if served is not None:
                return served
        end, start, stop = self._window(as_of)
        where, filters = self._where(tier, rule)
        with self.store.report() as sql:
            rows, total = self._live_page(sql, start, stop, where, filters, page, page_size)
        return self._answer(end, rows, total, page, page_size)

    def _where(self, tier: str | None, rule: str | None) -> tuple[str, list[Any]]:
        where = ["flags > 0"]
        params: list[Any] = []
        if tier is not None:
            where.append("tier = ?")
            params.append(tier)
        if rule is not None:
            where.append(next(_fires(r) for r in rule_book(self.rules) if r.name == rule))
        return " AND ".join(where), params

    def _live_page(
        self, sql: Sql, start: str, stop: str, where: str, filters: list[Any], page: int, page_size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the customers the window's evidence flags, and how many match in all."""
        params = (start, stop) * 3
        rows = sql.execute(
            f"{self._judged} SELECT *, COUNT(*) OVER () AS total FROM judged WHERE {where} "
            "ORDER BY flags DESC, customer_id LIMIT ? OFFSET ?",
            (*params, *filters, page_size, (page - 1) * page_size),
        ).all()
        if rows:
            return rows, int(rows[0]["total"])
        # past the last page: the count alone
        row = sql.execute(f"{self._judged} SELECT COUNT(*) AS n FROM judged WHERE {where}", (*params, *filters)).one()
        return rows, 0 if row is None else int(row["n"])

    def _answer(self, end: datetime, rows: list[dict[str, Any]], total: int, page: int, page_size: int) -> dict[str, Any]:
        customers = []
        for row in rows:
            evidence = RiskEvidence(tier=row["tier"], **{name: int(row[name]) for name in EVIDENCE_COUNTS})
            customers.append(
                {"customer_id": row["customer_id"], "tier": row["tier"],
                 "flags": [flag_out(f) for f in risk_flags(evidence, self.rules)]}
            )
        return {
            "as_of": end.astimezone(self.zone).isoformat(),
            "window_days": self.rules.window_days,
            "valued_tiers": sorted(VALUED_TIERS),
            "total": total,
            "page": page,
            "page_size": page_size,
            "customers": customers,
        }

    # --- the snapshot -------------------------------------------------------------------------

    def _from_snapshot(
        self, use: SnapshotUse, tier: str | None, rule: str | None, page: int, page_size: int, min_position: int | None
    ) -> dict[str, Any] | None:
        """The page from the snapshot, or None when it may not answer (missing, stale, another rule book,
        behind `min_position`, or ahead of the read models: they were rebuilt since)."""
        if tier == ANY:
            return None
        reached = use.read_models_position()
        where, filters = self._where(tier, rule)
        with self.store.transaction(commit=False) as sql:
            if self.store.dialect == POSTGRESQL:  # the head and the rows from one snapshot, whatever a refresh commits
                sql.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            head = _head(sql)
            if head is None or head.basis != self.basis or not head.position <= reached:
                return None
            if min_position is not None and head.position < min_position:
                return None
            if not timedelta(0) <= self.clock() - head.as_of <= use.max_age:
                return None
            # The page along the index (flags DESC, customer_id); the count as stored at the refresh.
            rows = sql.execute(
                f"SELECT * FROM rm_risk_now WHERE {where} ORDER BY flags DESC, customer_id LIMIT ? OFFSET ?",
                (*filters, page_size, (page - 1) * page_size),
            ).all()
            counted = sql.execute("SELECT customers FROM rm_risk_now_totals WHERE tier = ? AND rule = ?",
                                  (tier or ANY, rule or ANY)).one()
            total = 0 if counted is None else int(counted["customers"])
        return {**self._answer(head.as_of, rows, total, page, page_size), "position": head.position}

    def snapshot_head(self) -> SnapshotHead | None:
        with self.store.transaction(commit=False) as sql:
            return _head(sql)

    def refresh_snapshot(self, as_of: datetime, position: int) -> int | None:
        """Count and judge the window ending at `as_of` (the live SQL, one read-only statement), then
        replace the snapshot with it in one transaction, unless a later one is stored meanwhile.

        `position`: what the read models had applied before counting (a lower bound of what the
        count saw). The count runs outside the writing transaction, so SQLite's single writer
        (the projector, ingest) is held only while the rows are written. Returns how many
        customers are at risk, or None when a later snapshot was already stored.
        """
        end, start, stop = self._window(as_of)
        with self.store.report() as sql:
            rows = [
                (row["customer_id"], row["tier"], *(int(row[name]) for name in (*EVIDENCE_COUNTS, "flags")))
                for row in sql.execute(
                    f"{self._judged} SELECT {', '.join(_EVIDENCE_COLUMNS)} FROM judged WHERE flags > 0", (start, stop) * 3
                ).all()
            ]
        with self.store.transaction(commit=True) as sql:
            _lock_snapshot(sql)  # refreshes from two watchers (two processes) one after the other
            stored = _head(sql)
            if stored is not None and stored.as_of > end:
                return None
            sql.execute("DELETE FROM rm_risk_now")
            sql.insert_rows("rm_risk_now", _SNAPSHOT_TYPES, rows)
            sql.execute("DELETE FROM rm_risk_now_totals")
            sql.insert_rows("rm_risk_now_totals", (("tier", "text"), ("rule", "text"), ("customers", "bigint")),
                            self._totals(sql))
            sql.execute("DELETE FROM rm_risk_now_head")
            sql.execute(
                "INSERT INTO rm_risk_now_head (id, as_of, position, basis, customers) VALUES (1, ?, ?, ?, ?)",
                (utc_text(end), position, self.basis, len(rows)),
            )
        return len(rows)

    def _totals(self, sql: Sql) -> list[tuple[str, str, int]]:
        """How many of the stored rows each filter matches (tier, rule; ANY for either unset), counted in SQL with
        the very conditions the page's WHERE uses."""
        book = rule_book(self.rules)
        by_tier = sql.execute(
            "SELECT tier, COUNT(*) AS n, "
            + ", ".join(f"SUM(CASE WHEN {_fires(r)} THEN 1 ELSE 0 END) AS {r.name}" for r in book)
            + " FROM rm_risk_now GROUP BY tier"
        ).all()
        totals: dict[tuple[str, str], int] = {}
        for row in by_tier:
            for tier in (row["tier"], ANY):
                for rule, n in ((ANY, row["n"]), *((r.name, row[r.name]) for r in book)):
                    totals[tier, rule] = totals.get((tier, rule), 0) + int(n)
        return [(tier, rule, n) for (tier, rule), n in sorted(totals.items())]

    def clear_snapshot(self) -> None:
        """Drop the snapshot (the read models it was counted from are gone); the live count answers until the next."""
        with self.store.transaction(commit=True) as sql:
            _lock_snapshot(sql)
            sql.execute("DELETE FROM rm_risk_now_head")
            sql.execute("DELETE FROM rm_risk_now_totals")
            sql.execute("DELETE FROM rm_risk_now")


def _head(sql: Sql) -> SnapshotHead | None:
    row = sql.execute("SELECT as_of, position, basis, customers FROM rm_risk_now_head WHERE id = 1").one()
    if row is None:
        return None
    return SnapshotHead(datetime.fromisoformat(row["as_of"]), int(row["position"]), row["basis"], int(row["customers"]))


def _lock_snapshot(sql: Sql) -> None:
    if sql.dialect == POSTGRESQL:
        sql.execute("LOCK TABLE rm_risk_now_head IN EXCLUSIVE MODE")  # readers (ACCESS SHARE) are not blocked
    else:
        sql.execute("UPDATE rm_risk_now_head SET id = id WHERE 0")  # takes SQLite's write lock now


def _fires(rule: RiskRule) -> str:
    """The rule as a SQL condition on the `evidence` columns (names and numbers from the rule book only)."""
    condition = f"{rule.counts} >= {int(rule.threshold)}"
    if rule.tiers is not None:
        if not all(t.isalnum() for t in rule.tiers):
            raise ValueError(f"rule {rule.name}: tier names must be plain words to be written into SQL")
        condition += f" AND tier IN ({', '.join(repr(t) for t in sorted(rule.tiers))})"
    return f"({condition})"


_AT_RISK = (
    "WITH contacts AS ("
    "SELECT customer_id, SUM(CASE WHEN outcome <> 'resolved' THEN 1 ELSE 0 END) AS unresolved_contacts, "
    "SUM(CASE WHEN channel = 'hotline' THEN 1 ELSE 0 END) AS service_calls "
    "FROM rm_contact_fact WHERE occurred_at >= ? AND occurred_at < ? AND inbound = 1 GROUP BY customer_id), "
    f"opened AS ({_COMPLAINTS.format(who='')}), "
    f"missed AS ({_BREACHES.format(who='')}), "
    "who AS (SELECT customer_id FROM contacts UNION SELECT customer_id FROM opened UNION SELECT customer_id FROM missed), "
    "evidence AS (SELECT who.customer_id, COALESCE(v.tier, 'ordinary') AS tier, "
    "COALESCE(o.n, 0) AS complaints, COALESCE(m.n, 0) AS sla_breaches, "
    "COALESCE(c.unresolved_contacts, 0) AS unresolved_contacts, COALESCE(c.service_calls, 0) AS service_calls "
    "FROM who LEFT JOIN contacts c ON c.customer_id = who.customer_id "
    "LEFT JOIN opened o ON o.customer_id = who.customer_id LEFT JOIN missed m ON m.customer_id = who.customer_id "
    "LEFT JOIN rm_customer_value v ON v.customer_id = who.customer_id), "
    "judged AS (SELECT evidence.*, {flags} AS flags FROM evidence)"
)
"""Each customer's evidence in the window and how many rules fire; params: (start, stop) x 3."""
