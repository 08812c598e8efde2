"""Contact quality and customer value: the facts the metrics endpoints add up.

Consumes (MetricsView.handlers): customer.registered, customer.tier_changed, contact.logged.
Ignores (MetricsView.ignores): customer.erased (the facts hold no personal data), order.placed,
service.activated, order.cancelled, order.jeopardy, complaint.opened and every complaint step.
Owns: rm_tier_history, rm_customer_value, rm_contact_fact, rm_contact_daily
(migrations/0006_metrics_view.sql, 0007_value_as_of.sql).

Each contact gets a verdict from the domain's rules (domain/contact_quality.py: issue
start, repeated, resolved at first contact, self-service contained, handled) and the
customer's tier at that moment. A late contact can change the verdicts of the customer's
contacts up to 7 days either side of it, and a late tier change the tier of every contact
after it; so for each customer a batch touches, the contacts near the new ones (all of
them after a tier change) are judged again from the stored facts, and wherever a verdict
changed, the daily totals are corrected by the difference. The totals therefore always
equal the sum of the current facts, whatever order the events arrived in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from contacthub.domain.contact_quality import (
    CONTAINMENT_WINDOW,
    REPEAT_WINDOW,
    TierChange,
    Touchpoint,
    judge,
    latest,
)
from contacthub.domain.customer import Customer
from contacthub.projections.base import PositionedEvent, ReadModel, family, row_tuples, utc_text
from contacthub.projections.sql import Sql

Row = dict[str, Any]
T, N, F = "text", "bigint", "double precision"

FACT_COLUMNS = (
    ("event_id", T), ("customer_id", T), ("occurred_at", T), ("day", T), ("channel", T), ("direction", T),
    ("reason", T), ("handled_by", T), ("outcome", T), ("duration_s", N), ("tier", T), ("inbound", N),
    ("self_service", N), ("assisted", N), ("issue_start", N), ("repeated", N), ("fcr", N), ("contained", N),
    ("handled", N),
)
DAILY_KEY = ("day", "channel", "reason", "tier")
DAILY_SUMS = (
    "contacts", "inbound", "handled", "handled_s", "issues", "fcr", "repeated", "self_service", "contained", "assisted",
)
HISTORY_COLUMNS = (("customer_id", T), ("effective_at", T), ("event_id", T), ("tier", T), ("arpu", F))
HISTORY_SPAN_COLUMNS = (*HISTORY_COLUMNS, ("superseded_at", T), ("arpu_in_force", F))
VALUE_COLUMNS = (("customer_id", T), ("tier", T), ("arpu", F), ("effective_at", T))


def _touchpoint(row: Row) -> Touchpoint:
    return Touchpoint(
        event_id=row["event_id"],
        occurred_at=datetime.fromisoformat(row["occurred_at"]),
        channel=row["channel"],
        direction=row["direction"],
        reason=row["reason"],
        handled_by=row["handled_by"],
        outcome=row["outcome"],
        duration_s=int(row["duration_s"]),
    )


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



Span = tuple[str, str]
"""A stretch of event time as two stored (UTC text) moments, both included."""
Reach = tuple[dict[str, Span], dict[str, Span], Span | None, Span | None]


def _reach(arriving: Sequence[Touchpoint]) -> Reach:
    """Where new contacts reach among a customer's stored contacts (see MetricsView._rejudge).

    judged: per reason of the new customer contacts, the span whose issue and repeat verdicts
    they can change (7 days either side); needed: what judging those needs (14 days either
    side); box: any reason within 24 hours of new assisted or self-service contacts (what
    containment needs); sessions: the span of self-service sessions whose containment new
    assisted contacts can change.
    """
    reason_span: dict[str, tuple[datetime, datetime]] = {}
    for t in arriving:
        if t.inbound:
            low, high = reason_span.get(t.reason, (t.occurred_at, t.occurred_at))
            reason_span[t.reason] = (min(low, t.occurred_at), max(high, t.occurred_at))
    assisted = [t.occurred_at for t in arriving if t.assisted]
    both = [t.occurred_at for t in arriving if t.assisted or t.self_service]
    box = (utc_text(min(both) - CONTAINMENT_WINDOW), utc_text(max(both) + CONTAINMENT_WINDOW)) if both else None
    judged = {r: (utc_text(a - REPEAT_WINDOW), utc_text(b + REPEAT_WINDOW)) for r, (a, b) in reason_span.items()}
    needed = {r: (utc_text(a - 2 * REPEAT_WINDOW), utc_text(b + 2 * REPEAT_WINDOW)) for r, (a, b) in reason_span.items()}
    sessions = (utc_text(min(assisted) - CONTAINMENT_WINDOW), utc_text(max(assisted))) if assisted else None
    return judged, needed, box, sessions


def _neighbourhood(arriving: Sequence[Touchpoint], reach: Reach) -> list[tuple[str, str, str]]:
    """(reason, or '' for any, from, to): the stored contacts a customer's new contacts need
    loaded, the new contacts themselves included (should one be stored already)."""
    _, needed, box, _ = reach
    spans = [(reason, low, high) for reason, (low, high) in needed.items()]
    if box is not None:
        spans.append(("", *box))
    spans += [(t.reason, utc_text(t.occurred_at), utc_text(t.occurred_at)) for t in arriving]
    return spans


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
    uow.new_contacts[e.originator_id].append(
        Touchpoint(
            event_id=e.event_id, occurred_at=e.occurred_at, channel=e.channel, direction=e.direction,
            reason=e.reason, handled_by=e.handled_by, outcome=e.outcome, duration_s=e.duration_s,
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
        Customer.Erased, Customer.OrderPlaced, Customer.ServiceActivated, Customer.OrderCancelled,
        Customer.OrderJeopardy, Customer.ComplaintOpened, *family(Customer.ComplaintStep),
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

        histories: dict[str, list[TierChange]] = defaultdict(list)
        in_force: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        for row in sql.select_where_in("rm_tier_history", "customer_id", customers):
            histories[row["customer_id"]].append(
                TierChange(
                    effective_at=datetime.fromisoformat(row["effective_at"]), event_id=row["event_id"],
                    tier=row["tier"], arpu=None if row["arpu"] is None else float(row["arpu"]),
                )
            )
            key = (row["customer_id"], row["effective_at"], row["event_id"])
            in_force[key] = (row["superseded_at"], None if row["arpu_in_force"] is None else float(row["arpu_in_force"]))
        for history in histories.values():
            history.sort(key=lambda h: h.key)
        self._write_values(sql, retiered, histories, in_force)

        stored: dict[str, dict[str, Row]] = defaultdict(dict)
        for row in sql.select_where_in("rm_contact_fact", "customer_id", retiered):
            stored[row["customer_id"]][row["event_id"]] = row
        # The others: only the stored contacts their new contacts can affect or that judging those needs.
        reaches = {c: _reach(new_contacts[c]) for c in sorted(set(new_contacts) - set(retiered))}
        windows = [
            (customer_id, reason, low, high)
            for customer_id, reach in reaches.items()
            for reason, low, high in _neighbourhood(new_contacts[customer_id], reach)
        ]
        for row in sql.select_joined(
            "rm_contact_fact", ("customer_id", "reason", "low", "high"), windows,
            "t.customer_id = w.customer_id AND t.occurred_at >= w.low AND t.occurred_at <= w.high "
            "AND (w.reason = '' OR t.reason = w.reason)",
        ):
            stored[row["customer_id"]][row["event_id"]] = row

        retiered_set = set(retiered)
        changed: list[Row] = []
        deltas: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * len(DAILY_SUMS))
        for customer_id in customers:
            old = stored.get(customer_id, {})
            arriving = [t for t in new_contacts.get(customer_id, []) if t.event_id not in old]
            if customer_id in retiered_set:
                # A tier change can reach every contact after it: judge them all, whole.
                context = [_touchpoint(r) for r in old.values()] + arriving
                verdicts = judge(context, histories[customer_id]) if context else {}
                updates = [(t, "all") for t in context]
            else:
                reach = reaches[customer_id] if len(arriving) == len(new_contacts[customer_id]) else _reach(arriving)
                updates, verdicts = self._rejudge(old, arriving, histories[customer_id], reach)
            for t, part in updates:
                v = verdicts[t.event_id]
                before = old.get(t.event_id)
                fact = dict(before) if before is not None else {
                    "event_id": t.event_id, "customer_id": customer_id, "occurred_at": utc_text(t.occurred_at),
                    "day": t.occurred_at.astimezone(self.zone).date().isoformat(), "channel": t.channel,
                    "direction": t.direction, "reason": t.reason, "handled_by": t.handled_by, "outcome": t.outcome,
                    "duration_s": t.duration_s,
                }
                if part in ("all", "reason", "both"):
                    fact.update(issue_start=int(v.issue_start), repeated=int(v.repeated), fcr=int(v.first_contact_resolved))
                if part in ("all", "containment", "both"):
                    fact["contained"] = int(v.contained)
                if part == "all":
                    fact.update(
                        tier=v.tier, inbound=int(v.inbound), self_service=int(v.self_service), assisted=int(v.assisted),
                        handled=int(v.handled),
                    )
                if before is not None and _same(before, fact):
                    continue
                changed.append(fact)
                if before is not None:
                    daily, amounts = _contribution(before)
                    deltas[daily] = [d - a for d, a in zip(deltas[daily], amounts)]
                daily, amounts = _contribution(fact)
                deltas[daily] = [d + a for d, a in zip(deltas[daily], amounts)]

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

    @staticmethod
    def _rejudge(
        old: dict[str, Row], arriving: list[Touchpoint], history: list[TierChange], reach: Reach
    ) -> tuple[list[tuple[Touchpoint, str]], dict[str, Any]]:
        """Which stored verdicts new contacts can change, judged on just the context they need.

        A new customer contact can change the issue and repeat verdicts of the customer's
        contacts on its reason within 7 days of it (judging those needs 14 days); a new
        assisted contact can change the containment of self-service sessions in the 24
        hours before it (judging those needs 24 hours either side). Only those parts are
        rewritten; the new contacts get every part.
        """
        if not arriving:
            return [], {}
        judged, needed, box, sessions = reach
        context_rows = []
        parts: dict[str, str] = {}
        for row in old.values():
            at, reason = row["occurred_at"], row["reason"]
            span = needed.get(reason)
            if (span is not None and span[0] <= at <= span[1]) or (box is not None and box[0] <= at <= box[1]):
                context_rows.append(row)
            part = ""
            span = judged.get(reason)
            if span is not None and int(row["inbound"]) and span[0] <= at <= span[1]:
                part = "reason"
            if sessions is not None and int(row["self_service"]) and sessions[0] <= at <= sessions[1]:
                part = "both" if part else "containment"
            if part:
                parts[row["event_id"]] = part
        context = [_touchpoint(r) for r in context_rows] + arriving
        verdicts = judge(context, history)
        touched = {t.event_id: t for t in context}
        updates = [(touched[e], part) for e, part in parts.items()] + [(t, "all") for t in arriving]
        return updates, verdicts

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
