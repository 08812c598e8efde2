"""The in-memory event log (adapters/store/memory.py) on its own: the EventLog port's promises, no database.

The same promises are checked against the real store on both backends, side by side, in
tests/integration/test_event_log_parity.py.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from contacthub.adapters.store.memory import InMemoryEventLog
from contacthub.domain.customer import Customer
from contacthub.services.ingest import IngestService
from contacthub.services.ports import ERASED_DIGEST, Claim, EventLog, IngestKey, StoredKey, WritersBusy
from helpers import complaint_opened, contact, registered

T = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
_serial = iter(range(1, 1_000_000))


def new_customer(customer_id: str, *msisdns: str) -> Customer:
    return Customer.register(
        recorded_at=T,
        customer_id=customer_id,
        event_id=f"reg-{customer_id}-{next(_serial)}",
        occurred_at=T,
        name="王芳",
        segment="individual",
        tier="gold",
        msisdns=tuple(msisdns),
    )


def log_contact(customer: Customer) -> str:
    event_id = f"contact-{next(_serial)}"
    customer.log_contact(
        event_id=event_id,
        occurred_at=T,
        timestamp=T,
        channel="hotline",
        direction="inbound",
        reason="billing_query",
        handled_by="agent-7",
        site=None,
        duration_s=60,
        outcome="resolved",
        order_id=None,
        complaint_id=None,
    )
    return event_id


def place_order(customer: Customer, order_id: str) -> None:
    customer.place_order(
        order_id=order_id, services=("broadband",), event_id=f"order-{next(_serial)}", occurred_at=T, timestamp=T
    )


def key(customer: Customer, version: int | None = None, digest: str = "d", source: str | None = "operator") -> IngestKey:
    """The ingest key of the customer's pending event at `version` (default: its latest)."""
    version = customer.version if version is None else version
    event = next(e for e in customer.pending_events if e.originator_version == version)
    return IngestKey(event.event_id, digest, customer.id, version, source)  # type: ignore[attr-defined]


def snapshot(log: InMemoryEventLog, event_ids: list[str], claims: list[tuple[str, str]]) -> Any:
    return (
        log.head_position(),
        log.read_events(0, 1000),
        log.lookup_keys(event_ids),
        {kind: log.lookup_claims(kind, [c for k, c in claims if k == kind]) for kind in {k for k, _ in claims}},
    )


def two_customers(log: InMemoryEventLog) -> tuple[Customer, Customer]:
    """C1 (msisdn 13800000001, order O1) and C2 (msisdn 13800000002), stored."""
    c1, c2 = new_customer("C1", "13800000001"), new_customer("C2", "13800000002")
    keys = [key(c1)]
    place_order(c1, "O1")
    keys.append(key(c1))
    keys.append(key(c2))
    log.record(
        [c1, c2],
        keys,
        [Claim("msisdn", "13800000001", "C1"), Claim("order", "O1", "C1"), Claim("msisdn", "13800000002", "C2")],
    )
    return c1, c2


def test_it_is_an_event_log() -> None:
    log: EventLog = InMemoryEventLog()  # what mypy checks; the names below are what the port declares
    for name in (
        "lookup_keys",
        "lookup_claims",
        "load_customers",
        "deciding",
        "record",
        "head_position",
        "read_events",
        "customer_history",
    ):
        assert callable(getattr(log, name))


def test_an_empty_log() -> None:
    log = InMemoryEventLog()
    assert log.head_position() == 0
    assert log.read_events(0, 10) == []
    assert log.customer_history("C1") == []
    assert log.load_customers(["C1"]) == {}
    assert log.lookup_keys([]) == {} and log.lookup_keys(["x"]) == {}
    assert log.lookup_claims("msisdn", []) == {} and log.lookup_claims("msisdn", ["13800000001"]) == {}


def test_positions_follow_the_ingest_keys_across_customers() -> None:
    log = InMemoryEventLog()
    a, b = new_customer("A", "13800000001"), new_customer("B", "13800000002")
    a_reg, b_reg = key(a), key(b)
    a_contact = log_contact(a)
    # B first, then A's two events, whatever order the customers are passed in.
    positions = log.record([a, b], [b_reg, a_reg, key(a)], [])

    assert positions == {("B", 1): 1, ("A", 1): 2, ("A", 2): 3}
    assert log.head_position() == 3
    assert [(p, e.originator_id, e.originator_version) for p, e in log.read_events(0, 10)] == [
        (1, "B", 1),
        (2, "A", 1),
        (3, "A", 2),
    ]
    assert [p for p, _ in log.read_events(1, 1)] == [2]
    assert [p for p, _ in log.read_events(3, 10)] == []
    assert [(p, type(e)) for p, e in log.customer_history("A")] == [(2, Customer.Registered), (3, Customer.ContactLogged)]
    assert log.lookup_keys([a_contact, "unknown"]) == {a_contact: StoredKey("d", "A", 3)}
    assert a.pending_events == [] and b.pending_events == []  # collected

    c = log.load_customers(["A"])["A"]
    log_contact(c)
    assert log.record([c], [key(c)], []) == {("A", 3): 4}  # later batches continue the numbering


def test_keys_from_before_ids_were_scoped_are_found_by_their_bare_id() -> None:
    log = InMemoryEventLog()
    assert not log.has_legacy_keys()
    a = new_customer("A", "13800000001")
    log.record([a], [key(a)], [])
    assert not log.has_legacy_keys()
    old, new = log_contact(a), log_contact(a)
    log.record([a], [key(a, 2, source=None), key(a, 3, source="hotline")], [])
    assert log.has_legacy_keys()
    assert log.lookup_legacy_keys([old, new, "unknown"]) == {old: StoredKey("d", "A", 2)}
    assert set(log.lookup_keys([old, new])) == {old, new}


def test_claims_are_looked_up_by_kind() -> None:
    log = InMemoryEventLog()
    two_customers(log)
    assert log.lookup_claims("msisdn", ["13800000001", "13800000002", "13800000009"]) == {
        "13800000001": "C1",
        "13800000002": "C2",
    }
    assert log.lookup_claims("order", ["O1"]) == {"O1": "C1"}
    assert log.lookup_claims("complaint", ["O1"]) == {}


def test_events_without_an_ingest_key_are_refused_and_nothing_is_stored() -> None:
    log = InMemoryEventLog()
    c1 = new_customer("C1", "13800000001")
    registration = key(c1)
    log_contact(c1)
    with pytest.raises(ValueError, match="without an ingest key"):
        log.record([c1], [registration], [Claim("msisdn", "13800000001", "C1")])
    assert snapshot(log, [registration.event_id], [("msisdn", "13800000001")]) == (0, [], {}, {"msisdn": {}})


@pytest.mark.parametrize(
    "conflict", ["version", "event_id", "msisdn", "order", "complaint", "claim_twice_in_batch", "event_id_twice_in_batch"]
)
def test_a_conflict_refuses_the_whole_batch_and_stores_nothing(conflict: str) -> None:
    log = InMemoryEventLog()
    c1, _ = two_customers(log)
    first_contact = log_contact(stale := log.load_customers(["C1"])["C1"])
    log.record([stale], [key(stale)], [Claim("complaint", "K1", "C1")])
    watched = [first_contact, "reg-new", "contact-new"]
    claims = [("msisdn", "13800000001"), ("msisdn", "13800000003"), ("order", "O1"), ("complaint", "K1")]
    before = snapshot(log, watched, claims)

    # A valid new customer in the same batch: it must not be stored either.
    new = Customer.register(
        recorded_at=T,
        customer_id="C3",
        event_id="reg-new",
        occurred_at=T,
        name="李四",
        segment="individual",
        tier="gold",
        msisdns=("13800000003",),
    )
    batch = [new]
    keys = [key(new)]
    claims_of_batch = [Claim("msisdn", "13800000003", "C3")]
    if conflict == "version":
        c1_again = c1  # its version is what two_customers stored: the next version was stored meanwhile
        log_contact(c1_again)
        batch.append(c1_again)
        keys.append(key(c1_again))
    elif conflict == "event_id":
        other = log.load_customers(["C2"])["C2"]
        log_contact(other)
        batch.append(other)
        keys.append(IngestKey(first_contact, "d", "C2", other.version, "operator"))
    elif conflict == "event_id_twice_in_batch":
        other = log.load_customers(["C2"])["C2"]
        log_contact(other)
        batch.append(other)
        keys.append(IngestKey("reg-new", "d", "C2", other.version, "operator"))
    else:
        claim = {
            "msisdn": Claim("msisdn", "13800000001", "C3"),
            "order": Claim("order", "O1", "C3"),
            "complaint": Claim("complaint", "K1", "C3"),
            "claim_twice_in_batch": Claim("msisdn", "13800000003", "C3"),
        }[conflict]
        claims_of_batch.append(claim)

    with pytest.raises(IntegrityError):
        log.record(batch, keys, claims_of_batch)
    assert snapshot(log, watched, claims) == before


def test_an_identifier_claimed_by_the_same_customer_again_is_a_conflict_too() -> None:
    # The claims table's primary key is (kind, claim): the owner does not matter.
    log = InMemoryEventLog()
    two_customers(log)
    c1 = log.load_customers(["C1"])["C1"]
    log_contact(c1)
    with pytest.raises(IntegrityError):
        log.record([c1], [key(c1)], [Claim("order", "O1", "C1")])
    assert log.head_position() == 3


def erase(customer: Customer, event_id: str = "erasure") -> IngestKey:
    customer.erase(by="dpo", reason="request", event_id=event_id, occurred_at=T, timestamp=T)
    return IngestKey(event_id, ERASED_DIGEST, customer.id, customer.version, "contacthub")


def test_an_erasure_frees_the_msisdns_and_blanks_the_digests_of_that_customer_only() -> None:
    log = InMemoryEventLog()
    c1, c2 = two_customers(log)
    c1 = log.load_customers(["C1"])["C1"]
    contact_id = log_contact(c1)
    log.record([c1], [key(c1, digest="contact-digest")], [])

    erasure = erase(c1)
    positions = log.record([c1], [erasure], [])

    assert positions == {("C1", 4): 5}
    assert log.lookup_claims("msisdn", ["13800000001", "13800000002"]) == {"13800000002": "C2"}
    assert log.lookup_claims("order", ["O1"]) == {"O1": "C1"}  # only msisdns resolve to a person
    stored = log.lookup_keys([e.event_id for _, e in log.read_events(0, 100)])
    assert {k.digest for k in stored.values() if k.customer_id == "C1"} == {ERASED_DIGEST}
    assert {k.digest for k in stored.values() if k.customer_id == "C2"} == {"d"}
    assert stored[contact_id] == StoredKey(ERASED_DIGEST, "C1", 4)
    assert stored["erasure"] == StoredKey(ERASED_DIGEST, "C1", 5)

    reloaded = log.load_customers(["C1"])["C1"]
    assert reloaded.erased_at == T and reloaded.msisdns == ()
    # Kept in memory as recorded (no encryption here; the real store reads these as erased).
    registration = log.customer_history("C1")[0][1]
    assert isinstance(registration, Customer.Registered) and registration.name == "王芳"

    # The freed number can be claimed by someone else.
    c3 = new_customer("C3", "13800000001")
    assert log.record([c3], [key(c3)], [Claim("msisdn", "13800000001", "C3")]) == {("C3", 1): 6}
    assert log.lookup_claims("msisdn", ["13800000001"]) == {"13800000001": "C3"}


def test_an_erasure_frees_the_msisdns_for_the_claims_of_its_own_batch() -> None:
    # The recorders delete the erased customer's claims before inserting the batch's claims.
    log = InMemoryEventLog()
    two_customers(log)
    c1 = log.load_customers(["C1"])["C1"]
    erasure = erase(c1)
    c3 = new_customer("C3", "13800000001")
    log.record([c1, c3], [erasure, key(c3)], [Claim("msisdn", "13800000001", "C3")])
    assert log.lookup_claims("msisdn", ["13800000001"]) == {"13800000001": "C3"}


def test_loaded_customers_are_fresh_objects_rebuilt_from_the_log() -> None:
    log = InMemoryEventLog()
    c1, _ = two_customers(log)

    first = log.load_customers(["C1", "C1", "unknown"])
    assert list(first) == ["C1"]
    loaded = first["C1"]
    assert loaded is not c1
    assert (loaded.version, loaded.msisdns, list(loaded.orders)) == (2, ("13800000001",), ["O1"])
    place_order(loaded, "O2")  # a decision that is never stored
    loaded.orders["O1"].cancelled = True

    again = log.load_customers(["C1"])["C1"]
    assert again is not loaded
    assert (again.version, list(again.orders), again.orders["O1"].cancelled) == (2, ["O1"], False)
    assert again.pending_events == []
    assert log.head_position() == 3


def test_deciding_is_one_reentrant_lock_that_times_out_with_writers_busy() -> None:
    log = InMemoryEventLog(lock_timeout_s=0.05)
    with log.deciding(exclusive=False), log.deciding(exclusive=True):  # the same thread may nest
        outcome: list[str] = []

        def other_writer() -> None:
            try:
                with log.deciding(exclusive=False):
                    outcome.append("granted")
            except WritersBusy:
                outcome.append("busy")

        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(timeout=5)
        assert outcome == ["busy"]
    with log.deciding(exclusive=True):  # released: granted again
        pass
    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join(timeout=5)
    assert outcome == ["busy", "granted"]


def test_a_failed_decision_leaves_the_lock_free() -> None:
    log = InMemoryEventLog(lock_timeout_s=0.05)
    with pytest.raises(RuntimeError), log.deciding(exclusive=True):
        raise RuntimeError("rule broken")
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(log._writers.acquire(timeout=1)))
    thread.start()
    thread.join(timeout=5)
    assert result == [True]


def test_the_ingest_service_runs_on_it() -> None:
    log = InMemoryEventLog()
    ingest = IngestService(log, clock=lambda: datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc))
    registration, call, complaint = registered(), contact(), complaint_opened()
    outcome = ingest.ingest([registration, call, complaint])
    assert [(r.status, r.position) for r in outcome.results] == [("recorded", 1), ("recorded", 2), ("recorded", 3)]
    again = ingest.ingest([complaint, call])
    assert [(r.status, r.position) for r in again.results] == [("duplicate", 3), ("duplicate", 2)]
    assert log.lookup_claims("complaint", ["K1"]) == {"K1": "C1"}
    assert ingest.erase("C1", by="dpo", reason="request") == ("recorded", 4)
    assert ingest.erase("C1", by="dpo", reason="request") == ("already_erased", 4)
    assert log.lookup_claims("msisdn", ["13800138000"]) == {}
    log.close()
