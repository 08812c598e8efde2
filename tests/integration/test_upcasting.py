"""Old events stay readable after their schema changes: upcasting through the real storage stack.

A schema change to a catalogue event is made by bumping `class_version` on its class and
adding `upcast_v1_v2(state)`; the mapper applies it whenever an older stored event is read.
This test stores an event in its version-1 shape through ContactHub's own recorder, then
reads it with a version-2 class, on both backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate, event
from eventsourcing.persistence import StoredEvent

from contacthub.bootstrap import ContactHub


class Handset(BaseAggregate[str]):
    """A stand-in aggregate with one event whose schema has moved to version 2."""

    TOPIC = "test.handset"

    @dataclass(frozen=True)
    class Event(CanMutateAggregate[str]):
        originator_id: str
        originator_version: int
        timestamp: datetime

    @dataclass(frozen=True)
    class Registered(Event, CanInitAggregate[str]):
        TOPIC = "test.handset.registered"
        originator_topic: str
        imei: str

    @dataclass(frozen=True)
    class Swapped(Event):
        """v1 had `model`; v2 splits it into `vendor` and `model` and adds `swapped_at`."""

        TOPIC = "test.handset.swapped"
        class_version = 2
        vendor: str
        model: str
        swapped_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            vendor, _, model = state.pop("model").partition(" ")
            state["vendor"] = vendor
            state["model"] = model
            state["swapped_at"] = None

        def apply(self, handset: Handset) -> None:
            handset.vendor = self.vendor
            handset.model = self.model

    @staticmethod
    def create_id(imei: str) -> str:
        return imei

    @event(Registered)
    def __init__(self, imei: str) -> None:
        self.vendor = ""
        self.model = ""


def test_a_version_1_event_is_read_as_version_2(hub: ContactHub) -> None:
    log = hub.event_log
    handset = Handset(imei="860000000000001")
    registered = handset.collect_events()
    stored_v1 = StoredEvent(
        originator_id=handset.id,
        originator_version=2,
        topic="test.handset.swapped",
        # Exactly what version 1 of the code wrote: no class_version, one `model` field.
        state=orjson.dumps({"timestamp": datetime(2025, 3, 1, tzinfo=timezone.utc), "model": "Huawei Mate 60"}),
    )
    log.recorder.insert_events([log.mapper.to_stored_event(registered[0]), stored_v1])

    events = list(log.events.get(handset.id))
    swapped = events[1]
    assert isinstance(swapped, Handset.Swapped)
    assert (swapped.vendor, swapped.model, swapped.swapped_at) == ("Huawei", "Mate 60", None)
    assert swapped.timestamp == datetime(2025, 3, 1, tzinfo=timezone.utc)  # typed again after the upcast

    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert isinstance(replayed, Handset)
    assert (replayed.vendor, replayed.model, replayed.version) == ("Huawei", "Mate 60", 2)


def test_new_events_are_written_at_the_current_version(hub: ContactHub) -> None:
    handset = Handset(imei="860000000000002")
    handset.trigger_event(Handset.Swapped, vendor="Xiaomi", model="14", swapped_at=datetime(2026, 1, 2, tzinfo=timezone.utc))
    stored = [hub.event_log.mapper.to_stored_event(e) for e in handset.collect_events()]
    assert orjson.loads(stored[1].state)["class_version"] == 2
    hub.event_log.recorder.insert_events(stored)
    reread = list(hub.event_log.events.get(handset.id))[1]
    assert reread == Handset.Swapped(
        originator_id=handset.id, originator_version=2, timestamp=reread.timestamp,
        vendor="Xiaomi", model="14", swapped_at=datetime(2026, 1, 2, tzinfo=timezone.utc),
    )


def test_a_catalogue_v1_complaint_history_replays_as_recorded_with_the_legacy_sla_terms(hub: ContactHub) -> None:
    """v1 stored complaint.opened without SLA fields, and allowed a reopening after closing (v2 does not).

    Both must still read: the opening is upcast with the legacy terms, and a recorded step is
    applied as it happened, never judged again by today's rules.
    """
    from contacthub.domain.customer import Customer

    log = hub.event_log
    customer = Customer(customer_id="C1", event_id="r1", occurred_at=datetime(2026, 5, 1, tzinfo=timezone.utc),
                        name="王芳", segment="individual", tier="gold", msisdns=("13800138000",))
    stored = [log.mapper.to_stored_event(e) for e in customer.collect_events()]
    t = datetime(2026, 5, 2, 1, 0, tzinfo=timezone.utc)
    v1_steps = [
        ("complaint.opened", {"complaint_id": "K1", "category": "billing", "severity": "high", "summary": "多扣费",
                              "channel": "hotline", "handled_by": "agent-7"}),
        ("complaint.resolved", {"complaint_id": "K1", "resolution": "退费", "by": "agent-7", "channel": None}),
        ("complaint.closed", {"complaint_id": "K1", "by": None, "channel": None}),
        ("complaint.reopened", {"complaint_id": "K1", "reason": "又扣费", "by": None, "channel": None}),
    ]
    for version, (topic, fields) in enumerate(v1_steps, start=2):
        state = {"timestamp": t, "event_id": f"v1-{version}", "occurred_at": t + timedelta(hours=version), **fields}
        stored.append(StoredEvent(originator_id="C1", originator_version=version, topic=topic, state=orjson.dumps(state)))
    log.recorder.insert_events(stored)

    replayed = log.load_customers(["C1"])["C1"]
    case = replayed.complaints["K1"]
    assert (case.status, case.sla_policy, case.clock.number, case.tier) == ("inProgress", "legacy-v1", 2, None)
    assert case.clock.allowance_s == 24 * 3600

    hub.projector.catch_up()
    seen = hub.complaints.complaint("K1")
    assert seen is not None
    assert (seen["status"], seen["sla"]["policy"], seen["sla"]["allowance_s"]) == ("inProgress", "legacy-v1", 24 * 3600)
    assert [(c["from_status"], c["status"]) for c in seen["status_change_history"]] == [
        (None, "acknowledged"), ("acknowledged", "resolved"), ("resolved", "closed"), ("closed", "inProgress")
    ]
