"""The in-memory event log answers like the real one: one scenario through the ingest service,
played on InMemoryEventLog and on CustomerLog (SQLite and PostgreSQL), with the same outcomes.

Positions are compared by their rank in the log: PostgreSQL's may have gaps (a refused
save consumes sequence values), the in-memory log's are 1, 2, 3...
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from contacthub.adapters.store.memory import InMemoryEventLog
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import OPERATOR
from contacthub.services.ingest import IngestOutcome, IngestRejected, IngestService
from contacthub.services.ports import EventLog
from helpers import complaint_opened, contact, event, registered

M1, M2, M5, M6, UNKNOWN = "13800000001", "13800000002", "13800000005", "13800000006", "13800000099"
C1, C2 = {"customer_id": "C1"}, {"customer_id": "C2"}
PARTY = "(the unknown number's party)"
"""Its id is random (each log gives its own): observe() shows it as this."""
CUSTOMERS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")
NOW = datetime(2026, 11, 25, tzinfo=timezone(timedelta(hours=8)))
"""The writers' clock: erasures end their customer's holdings now, so a number is given again after it."""
LATER = "2026-11-25T10:00:00+08:00"


@dataclass(frozen=True)
class At:
    """A log position, compared by its rank in the log."""

    position: int


@dataclass
class Writers:
    log: EventLog
    ingest: IngestService
    rival: IngestService  # another writer on the same log, with a cache of its own
    refused: list[str] = field(default_factory=list)  # record() calls refused with IntegrityError

    def count_refusals(self, monkeypatch: pytest.MonkeyPatch) -> None:
        record = self.log.record

        def record_counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return record(*args, **kwargs)
            except IntegrityError:
                self.refused.append("refused")
                raise

        monkeypatch.setattr(self.log, "record", record_counted)


Step = tuple[str, Callable[[Writers], Any]]


def batch(name: str, events: list[dict[str, Any]], *, by: str = "ingest", source: str = OPERATOR) -> Step:
    def post(writers: Writers) -> Any:
        outcome: IngestOutcome = getattr(writers, by).ingest(copy.deepcopy(events), source=source)
        return [(r.event_id, r.status, At(r.position)) for r in outcome.results], At(outcome.position)

    return name, post


def erasure(name: str, customer_id: str) -> Step:
    def erase(writers: Writers) -> Any:
        result, position = writers.ingest.erase(customer_id, by="dpo-1", reason="个人信息删除请求")
        return result, At(position)

    return name, erase


def scenario() -> list[Step]:
    reg1, reg2 = registered("C1", (M1,)), registered("C2", (M2,), tier="silver")
    call1, call2 = contact({"msisdn": M1}), contact(C2, channel="app")
    order = event("order.placed", C1, order_id="O1", services=["broadband", "iptv"])
    activated = event("service.activated", C1, order_id="O1", service="broadband")
    opened = complaint_opened("K1", {"msisdn": M1})
    resolved = event("complaint.resolved", C1, complaint_id="K1", resolution="退还多扣的 30 元")
    twice = contact(C2, channel="store", site="杭州西湖营业厅")
    return [
        batch("register", [reg1, reg2]),
        batch("contacts", [call1, call2]),
        batch("order", [order, activated]),
        batch("complaint opened", [opened]),
        batch("complaint resolved", [resolved, event("complaint.closed", C1, complaint_id="K1")]),
        batch("duplicates", [call2, call1, reg1]),  # refused by a rule (C1 is registered), then answered
        batch("contacts again", [call1, call2]),  # refused by the store (the keys are taken), then answered
        batch("mixed", [order, contact(C1), twice, twice]),
        batch("event_id reused", [{**call1, "duration_s": 999}, contact(C2)]),
        batch("hotline's id", [contact(C2, event_id="hl-1")], source="hotline"),
        batch("store's same id", [contact(C2, channel="store", event_id="hl-1")], source="store"),
        batch("hotline's retry", [contact(C2, event_id="hl-1")], source="hotline", by="rival"),
        batch("hotline's id reused", [contact(C2, event_id="hl-1", duration_s=1)], source="hotline"),
        batch(
            "claims taken",
            [
                registered("C3", (M1,)),
                event("order.placed", C2, order_id="O1", services=["mobile"]),
                complaint_opened("K1", C2),
            ],
        ),
        batch("unknown number", [complaint_opened("K7", {"msisdn": UNKNOWN})]),  # a touchpoint would be kept; this is not
        batch("rule broken", [contact(C2), event("service.activated", C1, order_id="O1", service="landline")]),
        batch("warm cache", [contact(C1)]),  # C1 in this writer's cache...
        batch("rival resolves M1", [contact({"msisdn": M1})], by="rival"),  # ...moved on by the rival
        batch("stale cache", [contact(C1)]),  # refused at the store, decided again on fresh state
        batch("rival registers", [registered("C5", (M5,))], by="rival"),
        batch("number taken meanwhile", [registered("C6", (M5,))]),
        erasure("erase", "C1"),
        erasure("erase again", "C1"),
        erasure("erase unknown", "C9"),
        batch("erased number", [contact({"msisdn": M1})]),
        batch("rival's stale owner", [contact({"msisdn": M1})], by="rival"),
        batch("erased customer", [contact(C1)]),
        batch("erased repost", [reg1, call1, resolved]),
        batch("number reused", [registered("C4", (M1,), occurred_at=LATER), contact({"msisdn": M1}, occurred_at=LATER)]),
        batch("number released", [event("customer.msisdn_released", C2, msisdn=M2, reason="account_closed")]),
        batch("released number given again", [registered("C7", (M2,)), contact({"msisdn": M2})]),
        batch("old holder's late touchpoint", [contact({"msisdn": M2}, occurred_at="2026-11-01T09:00:00+08:00")]),
        batch("number added", [event("customer.msisdn_added", C2, msisdn=M6), contact({"msisdn": M6})]),
        batch("unknown caller", [contact({"msisdn": UNKNOWN}, occurred_at="2026-11-20T09:00:00+08:00")]),
        batch("unknown caller long ago", [contact({"msisdn": UNKNOWN}, occurred_at="2026-09-01T09:00:00+08:00")]),
        batch("unknown caller registers", [registered("C8", (UNKNOWN,), occurred_at="2026-11-22T09:00:00+08:00")]),
        batch("step before its order", [event("service.activated", C2, order_id="O9", service="iptv")]),
        batch("its order comes", [event("order.placed", C2, order_id="O9", services=["iptv", "mobile"])]),
    ]


def play(writers: Writers, steps: list[Step]) -> list[Any]:
    outcomes: list[Any] = []
    for name, step in steps:
        writers.refused.clear()
        try:
            outcomes.append((name, step(writers), len(writers.refused)))
        except IngestRejected as rejected:
            errors = [(e.index, e.event_id, e.field, e.message) for e in rejected.errors]
            outcomes.append((name, "rejected", rejected.status_code, errors, len(writers.refused)))
        except LookupError as unknown:
            outcomes.append((name, "unknown", str(unknown), len(writers.refused)))
    return outcomes


def ranked(value: Any, ranks: dict[int, int], parties: dict[str, str]) -> Any:
    """Positions as ranks, and the unidentified parties' random ids as their numbers' names."""
    if isinstance(value, At):
        return ("at", ranks.get(value.position, -value.position))
    if isinstance(value, tuple | list):
        return type(value)(ranked(v, ranks, parties) for v in value)
    if isinstance(value, dict):
        return {ranked(k, ranks, parties): ranked(v, ranks, parties) for k, v in value.items()}
    if isinstance(value, str):
        for party_id, name in parties.items():
            value = value.replace(party_id, name)
    return value


def observe(writers: Writers, steps: list[Step], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The scenario's outcomes (with how many saves the store refused in each step), then what
    the log holds, with positions as ranks."""
    writers.count_refusals(monkeypatch)
    outcomes = play(writers, steps)
    log = writers.log
    everything = log.read_events(0, 10_000)
    ranks = {position: rank for rank, (position, _) in enumerate(everything, start=1)}
    assert log.head_position() == everything[-1][0]
    assert [p for p, _ in log.read_events(everything[4][0], 3)] == [p for p, _ in everything[5:8]]
    event_ids = sorted({e.event_id for _, e in everything} | {"erasure-C9", "no-such-event"})
    numbers = [M1, M2, M5, M6, UNKNOWN]
    parties = {p: PARTY if m == UNKNOWN else f"(party of {m})" for m, p in log.lookup_claims("unidentified", numbers).items()}
    customers = log.load_customers([*CUSTOMERS, *parties])
    state = {
        c.id: (
            c.version,
            c.name,
            c.msisdns,
            c.erased_at is not None,
            sorted(c.orders),
            c.contact_count,
            {k: case.status for k, case in c.complaints.items()},
            sorted(c.parked),
        )
        for c in customers.values()
    }
    stored_keys = log.lookup_keys(event_ids)
    return ranked(
        {
            "outcomes": outcomes,
            "log": [(At(p), type(e).TOPIC, e.originator_id, e.originator_version, e.event_id) for p, e in everything],
            "histories": {
                c: [(At(p), type(e).TOPIC, e.originator_version) for p, e in log.customer_history(c)]
                for c in (*CUSTOMERS, *parties)
            },
            "keys": {k: (v.digest, v.customer_id, At(v.position)) for k, v in stored_keys.items()},
            "msisdns": log.lookup_claims("msisdn", [M1, M2, M5, M6, UNKNOWN]),
            "holdings": {m: sorted((h.customer_id, h.held_from, h.released_at) for h in held)
                         for m, held in log.lookup_holdings([M1, M2, M5, M6, UNKNOWN]).items()},
            "orders": log.lookup_claims("order", ["O1", "O9"]),
            "complaints": log.lookup_claims("complaint", ["K1", "O1"]),
            "customers": state,
            "parties": log.lookup_claims("unidentified", numbers),
        },
        ranks,
        parties,
    )


def writers_on(log: EventLog, like: IngestService) -> Writers:
    def service() -> IngestService:
        return IngestService(
            log,
            cache_size=like.cache.maxsize,
            future_tolerance=like.future_tolerance,
            clock=lambda: NOW,
            sla_policy=like.sla_policy,
        )

    return Writers(log, service(), service())


def test_the_in_memory_log_answers_the_scenario_like_the_real_one(hub: ContactHub, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = scenario()  # one set of events (their ids are drawn once), played on both logs
    real = observe(writers_on(hub.event_log, hub.ingest), steps, monkeypatch)
    memory_log = InMemoryEventLog()
    in_memory = observe(writers_on(memory_log, hub.ingest), steps, monkeypatch)
    memory_log.close()

    for part in real:
        assert in_memory[part] == real[part], part
    # The scenario did reach what it is about.
    outcomes = {o[0]: o[1:-1] for o in real["outcomes"]}
    refusals = {o[0]: o[-1] for o in real["outcomes"]}

    def statuses(name: str) -> list[str]:
        return [status for _, status, _ in outcomes[name][0][0]]

    def refused(name: str) -> bool:
        return bool(outcomes[name][:2] == ("rejected", 409))

    assert statuses("duplicates") == ["duplicate"] * 3
    assert statuses("mixed") == ["duplicate", "recorded", "recorded", "duplicate"]
    assert refused("event_id reused") and refused("unknown number") and refused("rule broken")
    assert statuses("hotline's id") == statuses("store's same id") == ["recorded"]
    assert statuses("hotline's retry") == ["duplicate"] and refused("hotline's id reused")
    assert {"hotline/hl-1", "store/hl-1"} <= set(real["keys"])
    assert [field for _, _, field, _ in outcomes["claims taken"][2]] == ["msisdns", "order_id", "complaint_id"]
    assert statuses("stale cache") == ["recorded"] and refused("number taken meanwhile")
    ((erased, at),) = outcomes["erase"]
    assert erased == "recorded" and outcomes["erase again"] == (("already_erased", at),)
    assert outcomes["erase unknown"] == ("unknown", "C9")
    # the erased customer's number is nobody's now: a touchpoint from it is an unknown caller's
    assert statuses("erased number") == statuses("rival's stale owner") == ["recorded"] and refused("erased customer")
    assert statuses("erased repost") == ["duplicate"] * 3
    assert statuses("number reused") == ["recorded"] * 2
    assert {digest for digest, owner, _ in real["keys"].values() if owner == "C1"} == {"erased"}
    assert real["msisdns"] == {M1: "C4", M2: "C7", M5: "C5", M6: "C2", UNKNOWN: "C8"}
    assert [(c, released is not None) for c, _, released in real["holdings"][M2]] == [("C2", True), ("C7", False)]
    assert "C1" not in {c for held in real["holdings"].values() for c, _, _ in held}  # erased: forgotten
    # Taken keys (reposts on the fast path) and stale customers were refused by the store itself.
    assert statuses("contacts again") == ["duplicate"] * 2
    assert refusals["contacts again"] == refusals["event_id reused"] == refusals["stale cache"] == 1
    assert refusals["rival's stale owner"] == 0  # numbers are looked up afresh for every batch: no stale owner
    assert statuses("released number given again") == statuses("number added") == ["recorded"] * 2
    assert statuses("old holder's late touchpoint") == ["recorded"]
    assert statuses("unknown caller") == statuses("unknown caller long ago") == ["recorded"]
    assert statuses("unknown caller registers") == ["recorded"]
    assert [t for _, t, _ in real["histories"]["C8"]] == ["customer.registered", "contact.logged"]  # joined
    assert [t for _, t, _ in real["histories"][PARTY]] == [
        "caller.unidentified", "contact.logged", "contact.logged", "contact.identified"]
    assert len(real["customers"][PARTY][-1]) == 1  # the one from long ago stays unidentified
    assert statuses("step before its order") == statuses("its order comes") == ["recorded"]
    assert [t for _, t, _ in real["histories"]["C2"][-3:]] == ["service.activated", "order.placed", "service.activated"]
    assert real["orders"]["O9"] == "C2"
    assert refusals["register"] == refusals["duplicates"] == refusals["erase"] == 0
