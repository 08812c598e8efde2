"""The auditor's questions about one customer, answered from the event log alone.

Shared by the HTTP API (adapters/api/audit.py) and the CLI (`contacthub replay`).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from contacthub.domain.customer import Customer
from contacthub.projections.base import PositionedEvent
from contacthub.projections.replay import Moment, events_known, replay_state

if TYPE_CHECKING:
    from contacthub.bootstrap import ContactHub

_META = {"originator_id", "originator_version", "timestamp", "occurred_at", "event_id", "originator_topic"}
EVENT_TYPES = tuple(sorted(
    cls.TOPIC for cls in vars(Customer).values()
    if isinstance(cls, type) and issubclass(cls, Customer.Event) and cls is not Customer.Event
))
"""Every event type a customer's history can hold."""


class UnknownCustomer(LookupError):
    pass


def _jsonable(value: Any, zone: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v, zone) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v, zone) for k, v in value.items()}
    return value


def history_item(position: int, event: Customer.Event, zone: Any) -> dict[str, Any]:
    """One stored event as the auditor sees it: where and when it was recorded, and what it says."""
    return {
        "position": position,
        "version": event.originator_version,
        "type": type(event).TOPIC,
        "event_id": event.event_id,
        "recorded_at": event.timestamp.astimezone(zone).isoformat(),
        "occurred_at": event.occurred_at.astimezone(zone).isoformat(),
        "payload": {f.name: _jsonable(getattr(event, f.name), zone) for f in fields(event) if f.name not in _META},
    }


def known_events(hub: ContactHub, customer_id: str, moment: Moment) -> list[PositionedEvent]:
    history = hub.event_log.customer_history(customer_id)
    if not history:
        raise UnknownCustomer(customer_id)
    return events_known(history, moment)


def state_as_of(hub: ContactHub, customer_id: str, moment: Moment) -> dict[str, Any] | None:
    """The 360° view and every complaint, rebuilt from the events that count at `moment`;
    None if the customer was not registered by then."""
    from contacthub.bootstrap import read_models

    known = known_events(hub, customer_id, moment)
    now = moment.clock(known) or hub.clock()
    state = replay_state(customer_id, known, read_models(hub.settings.zone), hub.settings.zone, now)
    if state is None:
        return None
    last = known[-1][0] if known else 0
    basis = "occurred" if moment.occurred_before else "recorded" if moment.bounded else "now"
    return {
        "customer_id": customer_id,
        "basis": basis,
        "moment": now.astimezone(hub.settings.zone).isoformat(),
        "as_of_position": moment.as_of_position,
        "events_applied": len(known),
        "last_position": last,
        "customer": {**state["customer"], "position": last},
        "complaints": [{**c, "position": last} for c in state["complaints"]],
        "events": known,
    }
