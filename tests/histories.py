"""Hypothesis strategies for valid customer histories, in the shape channels post them.

A small simulator follows what has been posted (customers, orders, complaint statuses)
so every drawn event is one the domain accepts, while times, channels, identifiers
and interleavings are random.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from contacthub.contract import ACTION_EVENT
from contacthub.domain.complaint import ACTIONS, MAX_ESCALATION_LEVEL, TRANSITIONS
from contacthub.domain.vocabulary import Channel, ComplaintStatus, Outcome

BASE = datetime(2026, 9, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
SERVICES = ["mobile", "broadband", "iptv", "landline"]
SAMPLE_FIELDS = {  # what each complaint action takes beyond the common fields, with a sample value
    "acknowledge": {},
    "start": {},
    "pend": {"reason": "waiting for the customer's bill photo"},
    "hold": {"reason": "network fault ticket open"},
    "resume": {},
    "handover": {"reason": "billing back office"},  # `to` drawn per step
    "escalate": {"reason": "no progress"},
    "resolve": {"resolution": "refunded"},
    "follow_up": {"satisfaction": 4},
    "close": {},
    "reopen": {"reason": "customer called again"},
    "cancel": {"reason": "customer withdrew"},
    "reject": {"reason": "duplicate of another complaint"},
    "note": {"text": "customer called to ask"},
}
HANDLERS = ["agent-1", "agent-3", "backoffice-2", "store-88"]


@st.composite
def histories(draw: st.DrawFn, max_customers: int = 4, max_events: int = 40, prefix: str = "h",
              unknown_callers: bool = True, merges: bool = False) -> list[dict[str, Any]]:
    customers: list[tuple[str, str]] = []  # (customer_id, msisdn)
    orders: dict[str, tuple[str, list[str], set[str], bool]] = {}  # order -> (customer, services, activated, cancelled)
    # complaint -> (customer, status, owner, time of its latest step, escalation level)
    complaints: dict[str, tuple[str, ComplaintStatus, str, datetime, int]] = {}
    events: list[dict[str, Any]] = []
    # Numbers besides the ones customers register (which stay theirs, and which events may be
    # addressed by): added, released, and given to another customer. number -> (holder or None,
    # when it last changed hands).
    extra: dict[str, tuple[str | None, datetime]] = {}
    n_customers = draw(st.integers(1, max_customers))
    merged_into: dict[str, str] = {}  # duplicate -> survivor, while merged (`merges`: posted in order only)

    def stamp(kind: str, after: datetime | None = None) -> dict[str, Any]:
        # Event time is random within a month: delivery order and event order differ freely.
        # A complaint's steps come after the one before (the rules refuse a step dated before
        # the opening, or a reopening before the resolution).
        minutes = draw(st.integers(0, 30 * 24 * 60))
        moment = BASE + timedelta(minutes=minutes) if after is None else after + timedelta(minutes=minutes // 10)
        offset = draw(st.sampled_from([8, 0, -5]))
        moment = moment.astimezone(timezone(timedelta(hours=offset)))
        return {"event_id": f"{prefix}-{len(events)}", "type": kind, "occurred_at": moment.isoformat()}

    def who(customer: tuple[str, str]) -> dict[str, str]:
        return {"msisdn": customer[1]} if draw(st.booleans()) else {"customer_id": customer[0]}

    for _ in range(draw(st.integers(1, max_events))):
        choices = ["register"] if not customers else []
        if customers:
            choices += ["contact", "contact", "tier", "order", "complaint"]
            if len(customers) < n_customers:
                choices.append("register")
            if any(not c and len(a) < len(s) for _, s, a, c in orders.values()):
                choices += ["activate", "cancel"]
            if complaints:
                choices += ["complaint_step", "complaint_step"]
            choices.append("add_number")
            if unknown_callers:
                choices.append("unknown_contact")
            if any(holder is not None for holder, _ in extra.values()):
                choices.append("release_number")
            if merges and len(customers) > 1:
                choices.append("merge")
            if merges and merged_into:
                choices.append("unmerge")
        kind = draw(st.sampled_from(choices))
        if kind == "register":
            n = len(customers)
            customer = (f"{prefix}C{n}", f"1390000{n:04d}")
            customers.append(customer)
            events.append({**stamp("customer.registered"), "customer_id": customer[0], "name": f"客户{n}",
                           "segment": draw(st.sampled_from(["individual", "corporate"])),
                           "tier": draw(st.sampled_from(["diamond", "gold", "silver", "vip", "ordinary"])),
                           "msisdns": [customer[1]]})
            continue
        customer = draw(st.sampled_from(customers))
        if kind in ("merge", "unmerge"):
            # One level: a duplicate neither merged nor with duplicates of its own, into a record not merged.
            ids = [c for c, _ in customers]
            if kind == "merge":
                pairs = [(d, s) for d in ids for s in ids if d != s and d not in merged_into
                         and d not in merged_into.values() and s not in merged_into]
                if not pairs:
                    continue
                duplicate, survivor = draw(st.sampled_from(pairs))
                merged_into[duplicate] = survivor
            else:
                duplicate = draw(st.sampled_from(sorted(merged_into)))
                survivor = merged_into.pop(duplicate)
            events.append({**stamp(f"customer.{kind}d"), "customer_id": duplicate, "survivor_id": survivor})
            continue
        if kind == "unknown_contact":
            # From a number nobody holds when it is posted: a customer's to come (registered later in
            # the history, so the contact joins them: the month is within the look-back), or one
            # nobody ever registers (it stays on the number's unidentified party).
            later = [f"1390000{m:04d}" for m in range(len(customers), n_customers)]
            number = draw(st.sampled_from([*later, "13700000000"]))
            events.append({**stamp("contact.logged"), "msisdn": number, "channel": "hotline", "direction": "inbound",
                           "reason": "prospect", "handled_by": "agent-1", "duration_s": 60, "outcome": "resolved"})
            continue
        if kind == "add_number":
            free = sorted(n for n, (holder, _) in extra.items() if holder is None)
            number = draw(st.sampled_from([*free, f"1360000{len(extra):04d}"]))
            released_at = extra[number][1] if number in extra else None
            step = stamp("customer.msisdn_added", after=released_at)  # never before the number's last release
            extra[number] = (customer[0], datetime.fromisoformat(step["occurred_at"]))
            events.append({**step, "customer_id": customer[0], "msisdn": number})
            continue
        if kind == "release_number":
            number = draw(st.sampled_from(sorted(n for n, (holder, _) in extra.items() if holder is not None)))
            holder, since = extra[number]
            step = stamp("customer.msisdn_released", after=since)
            extra[number] = (None, datetime.fromisoformat(step["occurred_at"]))
            events.append({**step, "customer_id": holder, "msisdn": number, "reason": "account_closed"})
            continue
        if kind == "contact":
            own_orders = [o for o, (c, *_rest) in orders.items() if c == customer[0]]
            own_complaints = [k for k, (c, *_rest) in complaints.items() if c == customer[0]]
            events.append({**stamp("contact.logged"), **who(customer),
                           "channel": draw(st.sampled_from([c.value for c in Channel])),
                           "direction": draw(st.sampled_from(["inbound", "outbound"])),
                           "reason": draw(st.sampled_from(["billing_query", "network_fault", "activation_status"])),
                           "handled_by": "agent-1", "duration_s": draw(st.integers(0, 3600)),
                           "outcome": draw(st.sampled_from([o.value for o in Outcome])),
                           "order_id": draw(st.sampled_from([None, *own_orders])),
                           "complaint_id": draw(st.sampled_from([None, *own_complaints]))})
        elif kind == "tier":
            events.append({**stamp("customer.tier_changed"), **who(customer),
                           "tier": draw(st.sampled_from(["diamond", "gold", "silver", "vip", "ordinary"])),
                           "arpu": draw(st.integers(0, 900))})
        elif kind == "order":
            order_id = f"{prefix}O{len(orders)}"
            services = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True))
            orders[order_id] = (customer[0], services, set(), False)
            events.append({**stamp("order.placed"), **who(customer), "order_id": order_id, "services": services})
        elif kind in ("activate", "cancel"):
            open_orders = sorted(o for o, (_, s, a, c) in orders.items() if not c and len(a) < len(s))
            order_id = draw(st.sampled_from(open_orders))
            owner, services, activated, _ = orders[order_id]
            target = {"customer_id": owner}
            if kind == "activate":
                service = draw(st.sampled_from([s for s in services if s not in activated]))
                activated.add(service)
                events.append({**stamp("service.activated"), **target, "order_id": order_id, "service": service})
            else:
                orders[order_id] = (owner, services, activated, True)
                events.append({**stamp("order.cancelled"), **target, "order_id": order_id, "reason": "changed mind"})
        elif kind == "complaint":
            complaint_id = f"{prefix}K{len(complaints)}"
            opened = stamp("complaint.opened")
            complaints[complaint_id] = (
                customer[0], ComplaintStatus.ACKNOWLEDGED, "agent-1", datetime.fromisoformat(opened["occurred_at"]), 0
            )
            events.append({**opened, **who(customer), "complaint_id": complaint_id,
                           "category": "billing", "severity": draw(st.sampled_from(["low", "medium", "high", "critical"])),
                           "summary": "账单有误", "channel": draw(st.sampled_from(["hotline", "store", "app"])),
                           "handled_by": "agent-1"})
        else:
            complaint_id = draw(st.sampled_from(sorted(complaints)))
            customer_id, status, handler, latest, level = complaints[complaint_id]
            # `link` needs a second complaint and resolves it with its primary: test_complaint_links.py covers it
            allowed = sorted(a for a in ACTIONS if status in TRANSITIONS[a].allowed_from and a != "link")
            if level >= MAX_ESCALATION_LEVEL:
                allowed = [a for a in allowed if a != "escalate"]
            action = draw(st.sampled_from(allowed))  # every status allows at least `note`
            kind_name, fields = ACTION_EVENT[action], SAMPLE_FIELDS[action]
            fields = {**fields, "by": draw(st.sampled_from(HANDLERS)), "channel": draw(st.sampled_from(["hotline", "store", "app"]))}
            if action == "handover":
                fields["to"] = handler = draw(st.sampled_from([h for h in HANDLERS if h != handler]))
            step = stamp(kind_name, after=latest)
            to = TRANSITIONS[action].to
            complaints[complaint_id] = (
                customer_id, to if to is not None else status, handler, datetime.fromisoformat(step["occurred_at"]),
                level + (action == "escalate"),
            )
            events.append({**step, "customer_id": customer_id, "complaint_id": complaint_id, **fields})
    return events


@st.composite
def batch_splits(draw: st.DrawFn, events: list[Any], max_batch: int = 8) -> list[list[Any]]:
    """Cut a sequence into consecutive batches of random sizes."""
    batches = []
    i = 0
    while i < len(events):
        size = draw(st.integers(1, max_batch))
        batches.append(events[i : i + size])
        i += size
    return batches
