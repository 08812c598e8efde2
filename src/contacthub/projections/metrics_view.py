"""Contact quality and customer value: the facts the metrics endpoints add up.

Consumes (MetricsView.handlers): customer.registered, customer.tier_changed, contact.logged.
Ignores (MetricsView.ignores): customer.erased (the facts hold no personal data), customer.msisdn_added,
customer.msisdn_released, order.placed,
service.activated, order.cancelled, order.jeopardy, complaint.opened and every complaint step, and the merges (customer.merged, customer.unmerged
and their survivor's side): each touchpoint is judged among its own record's (docs/metrics.md, merged customers).
Owns: rm_tier_history, rm_customer_value, rm_contact_fact, rm_contact_daily
(migrations/0006_metrics_view.sql, 0007_value_as_of.sql).

Each contact gets a verdict from the domain's rules (domain/contact_quality.py: issue
start, repeated, resolved at first contact, self-service contained, handled) and the
customer's tier at that moment. A late contact can change the verdicts of the customer's
contacts up to 7 days either side of it, and a late tier change the tier of every contact
after it; so for each customer a batch touches, the contacts near the new ones are judged
again from the stored facts, in one SQL statement per batch (`_judging_statement`), the
contacts after a tier change get their tier again, and wherever a fact changed, the daily
totals are corrected by the difference. The totals therefore always
equal the sum of the current facts, whatever order the events arrived in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from contacthub.domain.contact_quality import (
    CONTAINMENT_WINDOW,
    NOT_HANDLED,
    REPEAT_WINDOW,
    TierChange,
    Touchpoint,
    latest,
)
from contacthub.domain.customer import Customer
from contacthub.domain.numbers import is_unidentified_party
from contacthub.domain.vocabulary import Outcome
from contacthub.projections.base import PositionedEvent, ReadModel, family, row_tuples, utc_text
from contacthub.projections.sql import POSTGRESQL, Sql

Row = dict[str, Any]
T, N, F = "text", "bigint", "double precision"

FACT_COLUMNS = (
    ("event_id", T), ("customer_id", T), ("occurred_at", T), ("day", T), ("channel", T), ("direction", T),
    ("reason", T), ("handled_by", T), ("outcome", T), ("duration_s", N), ("tier", T), ("inbound", N),
    ("self_service", N), ("assisted", N), ("issue_start", N), ("repeated", N), ("fcr", N), ("contained", N),
    ("handled", N), ("site", T),
)
DAILY_KEY = ("day", "channel", "reason", "tier")
DAILY_SUMS = (
    "contacts", "inbound", "handled", "handled_s", "issues", "fcr", "repeated", "self_service", "contained", "assisted",
)
RESOLVED = Outcome.RESOLVED.value
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)
HISTORY_COLUMNS = (("customer_id", T), ("effective_at", T), ("event_id", T), ("tier", T), ("arpu", F))
HISTORY_SPAN_COLUMNS = (*HISTORY_COLUMNS, ("superseded_at", T), ("arpu_in_force", F))
VALUE_COLUMNS = (("customer_id", T), ("tier", T), ("arpu", F), ("effective_at", T))


def _contribution(fact: Row) -> tuple[tuple[str, ...], tuple[int, ...]]:
    key = tuple(fact[k] for k in DAILY_KEY)
    handled = int(fact["handled"])
    return key, (
        1, int(fact["inbound"]), handled, int(fact["duration_s"]) if handled else 0, int(fact["issue_start"]),
        int(fact["fcr"]), int(fact["repeated"]), int(fact["self_service"]), int(fact["contained"]),
        int(fact["assisted"]),
    )


def _same(a: Row, b: Row) -> bool:
    return all(a[c] == b[c] for c, _ in FACT_COLUMNS)


def _tier_in_force(history: list[Row], moment: str) -> str:
    """contact_quality.tier_at on stored rows: the tier of the last entry at or before `moment`
    (stored UTC text, whose order is time order), else the first entry's; `history` in key order."""
    index = bisect_right(history, moment, key=lambda h: h["effective_at"]) - 1
    return str(history[max(index, 0)]["tier"])


def _account(
    before: Row | None, fact: Row, changed: list[Row], deltas: dict[tuple[str, ...], list[int]]
) -> None:
    """Keep `fact` to be written, and move the daily totals by its difference from `before`
    (None: a contact not stored yet). An unchanged fact is neither written nor counted."""
    if before is not None and _same(before, fact):
        return
    changed.append(fact)
    if before is not None:
        daily, amounts = _contribution(before)
        deltas[daily] = [d - a for d, a in zip(deltas[daily], amounts)]
    daily, amounts = _contribution(fact)
    deltas[daily] = [d + a for d, a in zip(deltas[daily], amounts)]



@dataclass
class UnitOfWork:
    """What one batch brings: tier history rows, and each customer's new contacts in log order."""

    history_rows: list[tuple[Any, ...]] = field(default_factory=list)
    new_contacts: dict[str, list[Touchpoint]] = field(default_factory=lambda: defaultdict(list))


# --- what each event does to the view -------------------------------------------------------


def _registered(uow: UnitOfWork, position: int, e: Customer.Registered) -> None:
    uow.history_rows.append((e.customer_id, utc_text(e.occurred_at), e.event_id, e.tier, None))


def _tier_changed(uow: UnitOfWork, position: int, e: Customer.TierChanged) -> None:
    uow.history_rows.append((e.originator_id, utc_text(e.occurred_at), e.event_id, e.tier, e.arpu))


def _contact_logged(uow: UnitOfWork, position: int, e: Customer.ContactLogged) -> None:
    if is_unidentified_party(e.originator_id):
        return  # nobody's yet: counted once it joins a customer (the same contact, recorded on them)
    uow.new_contacts[e.originator_id].append(
        Touchpoint(
            event_id=e.event_id, occurred_at=e.occurred_at, channel=e.channel, direction=e.direction,
            reason=e.reason, handled_by=e.handled_by, outcome=e.outcome, duration_s=e.duration_s, site=e.site,
        )
    )


class MetricsView(ReadModel[UnitOfWork]):
    name = "metrics_view"
    reads_from: tuple[str, ...] = ()
    tables = (
        ("rm_tier_history", "customer_id, effective_at, event_id"),
        ("rm_customer_value", "customer_id"),
        ("rm_contact_fact", "event_id"),
        ("rm_contact_daily", "day, channel, reason, tier"),
    )
    handlers = {
        Customer.Registered: _registered,
        Customer.TierChanged: _tier_changed,
        Customer.ContactLogged: _contact_logged,
    }
    ignores = frozenset({
        Customer.Erased, Customer.MsisdnAdded, Customer.MsisdnReleased, Customer.OrderPlaced, Customer.ServiceActivated, Customer.OrderCancelled,
        Customer.OrderJeopardy, Customer.ComplaintOpened, *family(Customer.ComplaintStep),
        Customer.UnidentifiedCaller, Customer.ContactIdentified, Customer.OrderStepConflict,
        Customer.ComplaintStepConflict,
        Customer.Merged, Customer.Unmerged, Customer.DuplicateMerged, Customer.DuplicateUnmerged,
    })

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone

    def start(self, sql: Sql, relevant: Sequence[PositionedEvent]) -> UnitOfWork:
        # What the batch's contacts need loaded depends on what they are: `finish` loads it.
        return UnitOfWork()

    def finish(self, sql: Sql, uow: UnitOfWork) -> None:
        history_rows, new_contacts = uow.history_rows, uow.new_contacts
        sql.insert_rows("rm_tier_history", HISTORY_COLUMNS, history_rows, "ON CONFLICT DO NOTHING")
        retiered = sorted({r[0] for r in history_rows})
        customers = sorted(set(retiered) | set(new_contacts))

        stored_history: dict[str, list[Row]] = defaultdict(list)
        for row in sql.select_where_in("rm_tier_history", "customer_id", customers):
            stored_history[row["customer_id"]].append(row)
        for rows in stored_history.values():
            rows.sort(key=lambda r: (r["effective_at"], r["event_id"]))

        deltas: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * len(DAILY_SUMS))
        if retiered:
            self._retier(sql, retiered, stored_history, history_rows, deltas)
        changed: list[Row] = []
        if new_contacts:
            self._judge_near_new(sql, sorted(new_contacts), stored_history, new_contacts, changed, deltas)

        sql.upsert_rows("rm_contact_fact", FACT_COLUMNS, row_tuples(FACT_COLUMNS, changed), "event_id")
        # Additive, so partitions applied by several processes commute; in key order, so two
        # of them upserting the same days lock the rows in the same order (no deadlock).
        moved = sorted((*key, *amounts) for key, amounts in deltas.items() if any(amounts))
        sums = ", ".join(f"{c} = rm_contact_daily.{c} + excluded.{c}" for c in DAILY_SUMS)
        sql.insert_rows(
            "rm_contact_daily", tuple((k, T) for k in DAILY_KEY) + tuple((s, N) for s in DAILY_SUMS), moved,
            f"ON CONFLICT (day, channel, reason, tier) DO UPDATE SET {sums}",
        )
        emptied = sorted(key for key, amounts in deltas.items() if amounts[0] < 0)
        if emptied:
            # A contact moved to another tier: its old row may now count nothing. Only rows
            # this batch touched (and so holds locked) are looked at.
            for row in sql.select_joined(
                "rm_contact_daily", DAILY_KEY, emptied,
                "t.day = w.day AND t.channel = w.channel AND t.reason = w.reason AND t.tier = w.tier AND t.contacts = 0",
            ):
                sql.execute(
                    "DELETE FROM rm_contact_daily WHERE day = ? AND channel = ? AND reason = ? AND tier = ? AND contacts = 0",
                    tuple(row[k] for k in DAILY_KEY),
                )

    def _new_fact(self, customer_id: str, t: Touchpoint, tier: str) -> Row:
        """A new contact's row, before its verdicts that depend on other contacts."""
        return {
            "event_id": t.event_id, "customer_id": customer_id, "occurred_at": utc_text(t.occurred_at),
            "day": t.occurred_at.astimezone(self.zone).date().isoformat(), "channel": t.channel,
            "direction": t.direction, "reason": t.reason, "handled_by": t.handled_by, "outcome": t.outcome,
            "duration_s": t.duration_s, "tier": tier, "inbound": int(t.inbound), "self_service": int(t.self_service),
            "assisted": int(t.assisted), "handled": int(t.outcome not in NOT_HANDLED), "site": t.site,
        }

    def _retier(
        self, sql: Sql, retiered: list[str], stored_history: dict[str, list[Row]],
        new_history: list[tuple[Any, ...]], deltas: dict[tuple[str, ...], list[int]],
    ) -> None:
        """A tier change sets the tier of the customer's contacts from its moment to the next
        change (before the first entry, the first entry's tier counts): it changes no other
        verdict. The stored contacts it can reach get their tier again from the history; the
        rows that changed are written at once, so what follows in the batch reads them."""
        histories: dict[str, list[TierChange]] = {}
        in_force: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        for customer_id in retiered:
            history = histories[customer_id] = []
            for row in stored_history[customer_id]:
                history.append(
                    TierChange(
                        effective_at=datetime.fromisoformat(row["effective_at"]), event_id=row["event_id"],
                        tier=row["tier"], arpu=None if row["arpu"] is None else float(row["arpu"]),
                    )
                )
                key = (customer_id, row["effective_at"], row["event_id"])
                arpu_in_force = row["arpu_in_force"]
                in_force[key] = (row["superseded_at"], None if arpu_in_force is None else float(arpu_in_force))
            history.sort(key=lambda h: h.key)
        self._write_values(sql, retiered, histories, in_force)

        # From the earliest new entry on; from the start when it is the customer's first entry.
        reach: dict[str, str] = {}
        for customer_id, effective_at, *_ in new_history:
            first = stored_history[customer_id][0]["effective_at"]
            moment = "" if effective_at <= first else effective_at
            reach[customer_id] = min(reach.get(customer_id, moment), moment)
        changed: list[Row] = []
        for row in sql.select_joined(
            "rm_contact_fact", ("customer_id", "low"), sorted(reach.items()),
            "t.customer_id = w.customer_id AND t.occurred_at >= w.low",
        ):
            tier = _tier_in_force(stored_history[row["customer_id"]], row["occurred_at"])
            if tier != row["tier"]:
                _account(row, {**row, "tier": tier}, changed, deltas)
        sql.upsert_rows("rm_contact_fact", FACT_COLUMNS, row_tuples(FACT_COLUMNS, changed), "event_id")

    def _judge_near_new(
        self, sql: Sql, customers: list[str], stored_history: dict[str, list[Row]],
        new_contacts: dict[str, list[Touchpoint]], changed: list[Row], deltas: dict[tuple[str, ...], list[int]],
    ) -> None:
        """The batch's new contacts, judged in one statement (after `_retier`, whose rows it reads).

        A new contact can change the issue and repeat verdicts of the customer's contacts on its
        reason within 7 days of it, and the containment of self-service sessions in the 24
        hours before it; judging a contact needs the contacts 7 days either side. So for each
        customer the statement reads the stored contacts from 14 days before its first new
        contact to 14 days after its last, puts the new ones among them, and judges them all
        with window functions (the rules of domain/contact_quality.py, restated in SQL; the
        property tests hold the two equal); it answers the new contacts' verdicts and those of
        stored contacts within 7 days of the new ones that changed. Only those come back to Python.
        """
        new_rows: list[tuple[Any, ...]] = []
        reach: list[tuple[str, str, str, str, str]] = []
        facts: dict[str, Row] = {}
        for customer_id in customers:
            arriving = new_contacts[customer_id]
            history = stored_history[customer_id]
            for t in arriving:
                tier = _tier_in_force(history, utc_text(t.occurred_at))
                fact = facts[t.event_id] = self._new_fact(customer_id, t, tier)
                new_rows.append((
                    t.event_id, customer_id, (t.occurred_at - EPOCH) // MICROSECOND, t.reason, fact["inbound"],
                    fact["self_service"], fact["assisted"], t.outcome,
                ))
            first = min(t.occurred_at for t in arriving)
            last = max(t.occurred_at for t in arriving)
            reach.append((
                customer_id, utc_text(first - 2 * REPEAT_WINDOW), utc_text(last + 2 * REPEAT_WINDOW),
                utc_text(first - REPEAT_WINDOW), utc_text(last + REPEAT_WINDOW),
            ))
        statement, params = self._judging_statement(sql, reach, new_rows)
        for row in sql.execute(statement, params).all():
            verdicts = {part: row[f"judged_{part}"] for part in ("issue_start", "repeated", "fcr", "contained")}
            if row["new"]:
                fact = facts[row["judged_event_id"]]
                fact.update(verdicts)
                _account(None, fact, changed, deltas)
            else:
                before = {name: row[name] for name, _ in FACT_COLUMNS}
                _account(before, {**before, **verdicts}, changed, deltas)

    @staticmethod
    def _judging_statement(
        sql: Sql, reach: list[tuple[str, str, str, str, str]], new_rows: list[tuple[Any, ...]]
    ) -> tuple[str, list[Any]]:
        reach_cte, reach_params = sql.given_rows(
            "reach", (("customer_id", T), ("low", T), ("high", T), ("near_low", T), ("near_high", T)), reach
        )
        new_cte, new_params = sql.given_rows(
            "arriving",
            (("event_id", T), ("customer_id", T), ("at_us", N), ("reason", T), ("inbound", N), ("self_service", N),
             ("assisted", N), ("outcome", T)),
            new_rows,
        )
        repeat_us = REPEAT_WINDOW // MICROSECOND
        contain_us = CONTAINMENT_WINDOW // MICROSECOND
        event_order = sql.codepoint_order("event_id")
        near = "f.customer_id = r.customer_id AND f.occurred_at >= r.low AND f.occurred_at <= r.high"
        if sql.dialect == POSTGRESQL:
            # LATERAL makes PostgreSQL look each customer up by index: joined plainly, it may
            # estimate the given rows badly and scan (and sort) the whole table every batch.
            stored_near = f"CROSS JOIN LATERAL (SELECT * FROM rm_contact_fact f WHERE {near} OFFSET 0) f"
            not_stored = (
                "LEFT JOIN LATERAL (SELECT 1 AS found FROM rm_contact_fact s WHERE s.event_id = a.event_id LIMIT 1) d "
                "ON true WHERE d.found IS NULL"
            )
        else:
            stored_near = f"JOIN rm_contact_fact f ON {near}"
            not_stored = "WHERE NOT EXISTS (SELECT 1 FROM rm_contact_fact s WHERE s.event_id = a.event_id)"
        statement = f"""
            WITH {reach_cte}, {new_cte},
            context AS (
                SELECT f.event_id, f.customer_id, {sql.micros("f.occurred_at")} AS at_us, f.reason, f.inbound,
                       f.self_service, f.assisted, f.outcome, 0 AS new,
                       f.issue_start AS was_issue_start, f.repeated AS was_repeated, f.fcr AS was_fcr,
                       f.contained AS was_contained,
                       CASE WHEN f.occurred_at >= r.near_low AND f.occurred_at <= r.near_high THEN 1 ELSE 0 END AS near
                FROM reach r {stored_near}
                UNION ALL
                SELECT a.event_id, a.customer_id, a.at_us, a.reason, a.inbound, a.self_service, a.assisted,
                       a.outcome, 1, 0, 0, 0, 0, 1
                FROM arriving a {not_stored}
            ),
            neighbours AS (
                SELECT c.*,
                       LAG(at_us) OVER same_reason AS before_us,
                       LEAD(at_us) OVER same_reason AS after_us,
                       MIN(CASE WHEN assisted = 1 THEN at_us END) OVER later AS assisted_us
                FROM context c
                WINDOW same_reason AS (PARTITION BY customer_id, reason, inbound ORDER BY at_us, {event_order}),
                       later AS (PARTITION BY customer_id ORDER BY at_us, {event_order}
                                 ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
            ),
            judged AS (
                SELECT event_id, new, outcome, was_issue_start, was_repeated, was_fcr, was_contained,
                       CASE WHEN inbound = 1 AND (before_us IS NULL OR before_us < at_us - {repeat_us})
                            THEN 1 ELSE 0 END AS issue_start,
                       CASE WHEN inbound = 1 AND after_us <= at_us + {repeat_us} THEN 1 ELSE 0 END AS repeated,
                       CASE WHEN self_service = 1 AND (assisted_us IS NULL OR assisted_us > at_us + {contain_us})
                            THEN 1 ELSE 0 END AS contained
                FROM neighbours
                WHERE near = 1
            ),
            verdicts AS (
                SELECT *,
                       CASE WHEN issue_start = 1 AND repeated = 0 AND outcome = '{RESOLVED}' THEN 1 ELSE 0 END AS fcr
                FROM judged
            ),
            moved AS (
                SELECT event_id, new, issue_start, repeated, fcr, contained FROM verdicts
                WHERE new = 1 OR was_issue_start <> issue_start OR was_repeated <> repeated OR was_fcr <> fcr
                   OR was_contained <> contained
            )
            SELECT v.event_id AS judged_event_id, v.new, v.issue_start AS judged_issue_start,
                   v.repeated AS judged_repeated, v.fcr AS judged_fcr, v.contained AS judged_contained, f.*
            FROM moved v LEFT JOIN rm_contact_fact f ON v.new = 0 AND f.event_id = v.event_id
        """
        return statement, [*reach_params, *new_params]

    def _write_values(
        self, sql: Sql, customers: Sequence[str], histories: dict[str, list[TierChange]],
        stored: dict[tuple[str, str, str], tuple[Any, Any]],
    ) -> None:
        """Each re-tiered customer's current value, and on each history row when it was
        superseded and the ARPU in force from it (so a value as of any day is one range scan)."""
        rows = []
        spans = []
        for customer_id in customers:
            history = histories[customer_id]
            arpu_in_force = None
            for entry, following in zip(history, [*history[1:], None], strict=True):
                arpu_in_force = entry.arpu if entry.arpu is not None else arpu_in_force
                superseded_at = None if following is None else utc_text(following.effective_at)
                key = (customer_id, utc_text(entry.effective_at), entry.event_id)
                if stored.get(key) != (superseded_at, arpu_in_force):
                    spans.append((*key, entry.tier, entry.arpu, superseded_at, arpu_in_force))
            now = latest(history)
            priced = [h for h in history if h.arpu is not None]
            arpu = latest(priced).arpu if priced else None  # registration gives a tier, not an ARPU
            rows.append((customer_id, now.tier, arpu, utc_text(now.effective_at)))
        sql.upsert_rows("rm_customer_value", VALUE_COLUMNS, rows, "customer_id")
        sql.upsert_rows(
            "rm_tier_history", HISTORY_SPAN_COLUMNS, spans, "customer_id, effective_at, event_id",
            update=("superseded_at", "arpu_in_force"),
        )
