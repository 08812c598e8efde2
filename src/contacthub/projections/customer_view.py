"""The 360-degree customer view.

Consumes (CustomerView.handlers): customer.registered, customer.tier_changed,
customer.msisdn_added, customer.msisdn_released, contact.logged, order.placed,
service.activated, order.cancelled, customer.erased, caller.unidentified, contact.identified, order.conflict,
customer.merged, customer.unmerged.
Ignores (CustomerView.ignores): order.jeopardy (journey_view.py), complaint.opened and every
complaint step (complaint_view.py), customer.duplicate_merged and customer.duplicate_unmerged (the
survivor's side of what rm_merge keeps from the duplicate's).
Owns: rm_customer, rm_msisdn_holding, rm_order, rm_contact, rm_channel_count, rm_unidentified_party,
rm_merge (migrations/0002_customer_view.sql, 0015_numbers_over_time.sql, 0016_unknown_callers.sql,
0019_merged_customers.sql).

rm_merge holds each duplicate record merged into a survivor now, keyed by the duplicate (whose
stream records the merge, so one partition writes its row). Every other row stays under the
record it was stored on: the unified view is put together when it is read.

An unidentified party's touchpoints (a number's unknown callers, docs/events.md §3.13) are
rm_contact rows under the party's id, counted in no rm_channel_count, until each joins a
customer (contact.identified): then the row goes, and the same contact.logged on the customer
writes theirs.

rm_msisdn_holding keeps every holding of every number (domain/numbers.py): a lookup by number
answers for any moment. Its rows are keyed by customer, so the partitions of a number's
successive holders never write the same row.

A batch of events is applied as a unit of work (base.ReadModel): the rows it touches are
read in one query per table, changed in memory in log order, and written back with one
statement per table. That keeps catch-up fast without giving up log-order semantics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from contacthub.domain.customer import Customer
from contacthub.domain.numbers import is_unidentified_party
from contacthub.domain.personal_data import ERASED
from contacthub.domain.vocabulary import OrderStatus
from contacthub.projections.base import PositionedEvent, ReadModel, family, row_tuples, utc_text
from contacthub.projections.sql import Sql

Row = dict[str, Any]

T, N, F = "text", "bigint", "double precision"
CUSTOMER_COLUMNS = (
    ("customer_id", T), ("name", T), ("segment", T), ("tier", T), ("arpu", F), ("msisdns", T),
    ("registered_at", T), ("erased_at", T),
)
ORDER_COLUMNS = (
    ("order_id", T), ("customer_id", T), ("status", T), ("services", T), ("activated", T),
    ("placed_at", T), ("last_activated_at", T), ("cancelled_at", T), ("cancel_reason", T),
)
HOLDING_COLUMNS = (("msisdn", T), ("customer_id", T), ("held_from", T), ("released_at", T), ("position", N))
PENDING_COLUMNS = (("event_id", T), ("customer_id", T), ("order_id", T), ("step_type", T), ("occurred_at", T),
                   ("recorded_at", T), ("position", N))
CONFLICT_COLUMNS = (("event_id", T), ("customer_id", T), ("order_id", T), ("step_event_id", T), ("step_type", T),
                    ("reason", T), ("occurred_at", T), ("recorded_at", T), ("position", N))
MERGE_COLUMNS = (("duplicate_id", T), ("survivor_id", T), ("merged_at", T), ("position", N))
PARTY_COLUMNS = (("party_id", T), ("msisdn", T), ("opened_at", T), ("position", N))
CONTACT_COLUMNS = (
    ("position", N), ("customer_id", T), ("event_id", T), ("occurred_at", T), ("recorded_at", T), ("channel", T),
    ("direction", T), ("reason", T), ("handled_by", T), ("site", T), ("duration_s", N), ("outcome", T),
    ("order_id", T), ("complaint_id", T),
)


@dataclass
class UnitOfWork:
    """The rows one batch touches, as they will be after the batch."""

    customers: dict[str, Row] = field(default_factory=dict)
    orders: dict[str, Row] = field(default_factory=dict)
    holdings: dict[tuple[str, str, str], list[Any]] = field(default_factory=dict)
    """Holdings started in this batch: (msisdn, customer, held from) -> [released at (None: still held), position]."""
    releases: list[tuple[str, str, str]] = field(default_factory=list)
    """Holdings stored by earlier batches that this batch ends: (msisdn, customer, released at)."""
    contacts: list[tuple[Any, ...]] = field(default_factory=list)
    parties: list[tuple[Any, ...]] = field(default_factory=list)
    """Unidentified parties opened: (party id, msisdn, opened at, position)."""
    identified: list[tuple[str, str]] = field(default_factory=list)
    """Unidentified parties' touchpoints stored by earlier batches that joined a customer: (party, event id)."""
    channel_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    erased: list[str] = field(default_factory=list)
    pending: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Steps of orders not placed yet, by event id: the row rm_pending_step gets."""
    placed: list[tuple[str, str]] = field(default_factory=list)
    """Orders placed in this batch: (customer, order), whose pending steps stored earlier are linked now."""
    conflicts: list[tuple[Any, ...]] = field(default_factory=list)
    merges: dict[str, tuple[Any, ...] | None] = field(default_factory=dict)
    """Duplicates merged (their rm_merge row) or unmerged (None) by this batch, by duplicate id."""


# --- what each event does to the view (pure: rows in, rows out) -------------------------


def _registered(uow: UnitOfWork, position: int, e: Customer.Registered) -> None:
    uow.customers[e.customer_id] = {
        "customer_id": e.customer_id,
        "name": e.name,
        "segment": e.segment,
        "tier": e.tier,
        "arpu": None,
        "msisdns": orjson.dumps(list(e.msisdns)).decode(),
        "registered_at": utc_text(e.occurred_at),
        "erased_at": None,
    }
    held_from = utc_text(e.occurred_at)
    for number in e.msisdns:
        uow.holdings[(number, e.customer_id, held_from)] = [None, position]


def _msisdn_added(uow: UnitOfWork, position: int, e: Customer.MsisdnAdded) -> None:
    row = uow.customers[e.originator_id]
    row["msisdns"] = orjson.dumps([*orjson.loads(row["msisdns"]), e.msisdn]).decode()
    uow.holdings[(e.msisdn, e.originator_id, utc_text(e.occurred_at))] = [None, position]


def _msisdn_released(uow: UnitOfWork, position: int, e: Customer.MsisdnReleased) -> None:
    row = uow.customers[e.originator_id]
    row["msisdns"] = orjson.dumps([m for m in orjson.loads(row["msisdns"]) if m != e.msisdn]).decode()
    released_at = utc_text(e.occurred_at)
    for key, (released, _) in uow.holdings.items():
        if key[:2] == (e.msisdn, e.originator_id) and released is None:
            uow.holdings[key][0] = released_at
            return
    uow.releases.append((e.msisdn, e.originator_id, released_at))


def _erased(uow: UnitOfWork, position: int, e: Customer.Erased) -> None:
    if is_unidentified_party(e.originator_id):  # a number's unknown callers forgotten: their timeline goes
        uow.contacts = [c for c in uow.contacts if c[1] != e.originator_id]
        uow.parties = [p for p in uow.parties if p[0] != e.originator_id]
        uow.erased.append(e.originator_id)
        return
    # The rows a rebuild would write once the key is gone: no name, no numbers, held or former.
    row = uow.customers[e.originator_id]
    row["name"] = ERASED
    row["msisdns"] = "[]"
    row["erased_at"] = utc_text(e.occurred_at)
    for key in [k for k in uow.holdings if k[1] == e.originator_id]:
        del uow.holdings[key]
    for order in uow.orders.values():
        if order["customer_id"] == e.originator_id and order["cancel_reason"] is not None:
            order["cancel_reason"] = ERASED
    uow.erased.append(e.originator_id)


def _tier_changed(uow: UnitOfWork, position: int, e: Customer.TierChanged) -> None:
    row = uow.customers[e.originator_id]
    row["tier"] = e.tier
    row["arpu"] = e.arpu


def _contact_logged(uow: UnitOfWork, position: int, e: Customer.ContactLogged) -> None:
    # Touches only the timeline and the per-channel counters: the customer's contact count
    # and latest contact are read from those, so the busiest event writes the fewest rows.
    occurred = utc_text(e.occurred_at)
    uow.contacts.append(
        (
            position, e.originator_id, e.event_id, occurred, utc_text(e.timestamp), e.channel, e.direction,
            e.reason, e.handled_by, e.site, e.duration_s, e.outcome, e.order_id, e.complaint_id,
        )
    )
    if is_unidentified_party(e.originator_id):
        return  # an unknown caller's touchpoint: on the number's party's timeline, counted by nobody yet
    key = (e.originator_id, e.channel)
    uow.channel_counts[key] = uow.channel_counts.get(key, 0) + 1


def _unidentified_caller(uow: UnitOfWork, position: int, e: Customer.UnidentifiedCaller) -> None:
    uow.parties.append((e.originator_id, e.msisdn, utc_text(e.occurred_at), position))


def _contact_identified(uow: UnitOfWork, position: int, e: Customer.ContactIdentified) -> None:
    # Off the party's timeline: the customer who took the number has it now (the same contact.logged).
    before = len(uow.contacts)
    uow.contacts = [c for c in uow.contacts if (c[1], c[2]) != (e.originator_id, e.contact_event_id)]
    if len(uow.contacts) == before:
        uow.identified.append((e.originator_id, e.contact_event_id))


def _order_placed(uow: UnitOfWork, position: int, e: Customer.OrderPlaced) -> None:
    uow.orders[e.order_id] = {
        "order_id": e.order_id,
        "customer_id": e.originator_id,
        "status": OrderStatus.IN_PROGRESS.value,
        "services": orjson.dumps(list(e.services)).decode(),
        "activated": "[]",
        "placed_at": utc_text(e.occurred_at),
        "last_activated_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
    }
    # Its steps that came before it are linked now (recorded again after it, or as order.conflict).
    for event_id, step in list(uow.pending.items()):
        if step[1:3] == (e.originator_id, e.order_id):
            del uow.pending[event_id]
    uow.placed.append((e.originator_id, e.order_id))


def _pending(uow: UnitOfWork, position: int, e: Customer.ServiceActivated | Customer.OrderCancelled) -> None:
    # A step before its order (a late reference): nothing to change yet; listed until the order is placed.
    uow.pending[e.event_id] = (e.event_id, e.originator_id, e.order_id, e.TOPIC, utc_text(e.occurred_at),
                               utc_text(e.timestamp), position)


def _order_conflict(uow: UnitOfWork, position: int, e: Customer.OrderStepConflict) -> None:
    uow.conflicts.append((e.event_id, e.originator_id, e.order_id, e.step_event_id, e.step_type, e.reason,
                          utc_text(e.occurred_at), utc_text(e.timestamp), position))


def _service_activated(uow: UnitOfWork, position: int, e: Customer.ServiceActivated) -> None:
    row = uow.orders.get(e.order_id)
    if row is None or row["customer_id"] != e.originator_id:
        _pending(uow, position, e)
        return
    activated = orjson.loads(row["activated"]) + [e.service]
    services = orjson.loads(row["services"])
    row["activated"] = orjson.dumps([s for s in services if s in activated]).decode()
    occurred = utc_text(e.occurred_at)
    if row["last_activated_at"] is None or occurred > row["last_activated_at"]:
        row["last_activated_at"] = occurred
    if row["cancelled_at"] is not None:
        return  # dated before the cancellation, delivered after it: the order stays cancelled, as in event time
    row["status"] = (
        OrderStatus.ACTIVATED.value if set(activated) >= set(services) else OrderStatus.PARTIALLY_ACTIVATED.value
    )


def _order_cancelled(uow: UnitOfWork, position: int, e: Customer.OrderCancelled) -> None:
    row = uow.orders.get(e.order_id)
    if row is None or row["customer_id"] != e.originator_id:
        _pending(uow, position, e)
        return
    row["status"] = OrderStatus.CANCELLED.value
    row["cancelled_at"] = utc_text(e.occurred_at)
    row["cancel_reason"] = e.reason


def _merged(uow: UnitOfWork, position: int, e: Customer.Merged) -> None:
    uow.merges[e.originator_id] = (e.originator_id, e.survivor_id, utc_text(e.occurred_at), position)


def _unmerged(uow: UnitOfWork, position: int, e: Customer.Unmerged) -> None:
    uow.merges[e.originator_id] = None


_ORDER_STEPS = (Customer.ServiceActivated, Customer.OrderCancelled)
_CUSTOMER_STEPS = (Customer.TierChanged, Customer.MsisdnAdded, Customer.MsisdnReleased, Customer.Erased)


class CustomerView(ReadModel[UnitOfWork]):
    name = "customer_view"
    reads_from: tuple[str, ...] = ()
    tables = (
        ("rm_customer", "customer_id"),
        ("rm_msisdn_holding", "msisdn, customer_id, held_from"),
        ("rm_order", "order_id"),
        ("rm_contact", "position"),
        ("rm_channel_count", "customer_id, channel"),
        ("rm_unidentified_party", "party_id"),
        ("rm_pending_step", "event_id"),
        ("rm_order_conflict", "event_id"),
        ("rm_merge", "duplicate_id"),
    )
    handlers = {
        Customer.Registered: _registered,
        Customer.TierChanged: _tier_changed,
        Customer.MsisdnAdded: _msisdn_added,
        Customer.MsisdnReleased: _msisdn_released,
        Customer.ContactLogged: _contact_logged,
        Customer.ContactIdentified: _contact_identified,
        Customer.UnidentifiedCaller: _unidentified_caller,
        Customer.OrderPlaced: _order_placed,
        Customer.ServiceActivated: _service_activated,
        Customer.OrderCancelled: _order_cancelled,
        Customer.Erased: _erased,
        Customer.OrderStepConflict: _order_conflict,
        Customer.Merged: _merged,
        Customer.Unmerged: _unmerged,
    }
    ignores = frozenset({Customer.OrderJeopardy, Customer.ComplaintOpened, *family(Customer.ComplaintStep),
                         Customer.ComplaintStepConflict, Customer.DuplicateMerged, Customer.DuplicateUnmerged})

    def start(self, sql: Sql, relevant: Sequence[PositionedEvent]) -> UnitOfWork:
        uow = UnitOfWork()
        new_customers = {e.customer_id for _, e in relevant if isinstance(e, Customer.Registered)}
        new_orders = {e.order_id for _, e in relevant if isinstance(e, Customer.OrderPlaced)}
        _load(sql, uow.customers, "rm_customer", "customer_id",
              {e.originator_id for _, e in relevant
               if isinstance(e, _CUSTOMER_STEPS) and not is_unidentified_party(e.originator_id)}
              - new_customers)
        _load(sql, uow.orders, "rm_order", "order_id",
              {e.order_id for _, e in relevant if isinstance(e, _ORDER_STEPS)} - new_orders)
        return uow

    def finish(self, sql: Sql, uow: UnitOfWork) -> None:
        sql.upsert_rows("rm_customer", CUSTOMER_COLUMNS, row_tuples(CUSTOMER_COLUMNS, uow.customers.values()),
                        "customer_id")
        sql.upsert_rows("rm_order", ORDER_COLUMNS, row_tuples(ORDER_COLUMNS, uow.orders.values()), "order_id")
        # Holdings stored by earlier batches first: the open one a release ends is never one
        # this batch started (those are ended in uow.holdings).
        for number, customer_id, released_at in uow.releases:
            sql.execute(
                "UPDATE rm_msisdn_holding SET released_at = ? WHERE msisdn = ? AND customer_id = ? AND released_at IS NULL",
                (released_at, number, customer_id),
            )
        for customer_id in uow.erased:  # rows stored by earlier batches
            sql.execute("DELETE FROM rm_msisdn_holding WHERE customer_id = ?", (customer_id,))
        # A holding released at the instant it started and taken again then is the same row.
        sql.insert_rows(
            "rm_msisdn_holding", HOLDING_COLUMNS, [(*key, *state) for key, state in uow.holdings.items()],
            "ON CONFLICT (msisdn, customer_id, held_from) DO UPDATE SET released_at = excluded.released_at, "
            "position = excluded.position",
        )
        for customer_id in uow.erased:
            sql.execute("UPDATE rm_order SET cancel_reason = ? WHERE customer_id = ? AND cancel_reason IS NOT NULL",
                        (ERASED, customer_id))
        for customer_id in uow.erased:
            if is_unidentified_party(customer_id):
                sql.execute("DELETE FROM rm_contact WHERE customer_id = ?", (customer_id,))
                sql.execute("DELETE FROM rm_unidentified_party WHERE party_id = ?", (customer_id,))
        sql.insert_rows("rm_unidentified_party", PARTY_COLUMNS, uow.parties)
        for party_id, event_id in uow.identified:
            sql.execute("DELETE FROM rm_contact WHERE customer_id = ? AND event_id = ?", (party_id, event_id))
        sql.insert_rows("rm_contact", CONTACT_COLUMNS, uow.contacts)
        for customer_id, order_id in uow.placed:
            sql.execute("DELETE FROM rm_pending_step WHERE customer_id = ? AND order_id = ?", (customer_id, order_id))
        sql.insert_rows("rm_pending_step", PENDING_COLUMNS, list(uow.pending.values()))
        sql.insert_rows("rm_order_conflict", CONFLICT_COLUMNS, uow.conflicts)
        for duplicate_id in uow.merges:
            sql.execute("DELETE FROM rm_merge WHERE duplicate_id = ?", (duplicate_id,))
        sql.insert_rows("rm_merge", MERGE_COLUMNS, [row for row in uow.merges.values() if row is not None])
        sql.insert_rows(
            "rm_channel_count",
            (("customer_id", T), ("channel", T), ("contacts", N)),
            [(c, ch, n) for (c, ch), n in uow.channel_counts.items()],
            "ON CONFLICT (customer_id, channel) DO UPDATE SET contacts = rm_channel_count.contacts + excluded.contacts",
        )


def _load(sql: Sql, into: dict[str, Row], table: str, key: str, ids: set[str]) -> None:
    for row in sql.select_where_in(table, key, sorted(ids)):
        into[row[key]] = row
