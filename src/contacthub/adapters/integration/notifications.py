"""What a webhook request says, per API (services/hub_delivery.py calls `body`).

- `contacthub`: the change feed's item (adapters/api/feed.py), as `{eventId, eventTime, eventType, event}`.
- `troubleTicket`: `{eventId, eventTime, eventType, event: {troubleTicket}}` (TMF621 v4's
  `TroubleTicket…Event`), the ticket as the complaint read model has it (the deliverer waits
  until it has applied the event; it may show later changes too: the ticket as it is when the
  notification is sent).
- `partyInteraction`: `{eventId, eventTime, eventType, event: {partyInteraction}}` (TMF683 v4).

`eventTime` is when ContactHub recorded the event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

import orjson

from contacthub.adapters.integration.party_interaction import party_interaction
from contacthub.adapters.integration.trouble_ticket import trouble_ticket
from contacthub.domain.customer import Customer
from contacthub.domain.subscriptions import SubscriptionApi
from contacthub.projections.complaint_queries import ComplaintQueries
from contacthub.projections.customer_queries import CustomerQueries
from contacthub.services.audit import history_item

READ_MODEL_WAIT_S = 10.0


class NotificationBodies:
    def __init__(self, customers: CustomerQueries, complaints: ComplaintQueries, zone: tzinfo,
                 read_models_at: Callable[[int, float], bool], caught_up_to: Callable[[], int]) -> None:
        self.customers = customers
        self.complaints = complaints
        self.zone = zone
        self.read_models_at = read_models_at  # the projector's wait_for(position, timeout): across processes
        self.caught_up_to = caught_up_to

    def body(self, api: SubscriptionApi, kind: str, notification_id: str, position: int, event: Customer.Event) -> bytes:
        envelope: dict[str, Any] = {
            "eventId": notification_id,
            "eventTime": event.timestamp.astimezone(self.zone).isoformat(),
            "eventType": kind,
        }
        if api is SubscriptionApi.CONTACTHUB:
            envelope["event"] = {"customer_id": event.originator_id, **history_item(position, event, self.zone)}
            return orjson.dumps(envelope)
        if api is SubscriptionApi.TROUBLE_TICKET:
            complaint = self.complaints.complaint(str(getattr(event, "complaint_id", "")))
            if complaint is None:
                raise LookupError(f"complaint of event {event.event_id} is not in the read model")
            envelope["event"] = {"troubleTicket": trouble_ticket(complaint)}
        else:
            touchpoint = self.customers.touchpoint(position)
            if touchpoint is None:
                raise LookupError(f"touchpoint at position {position} is not in the read model")
            envelope["event"] = {"partyInteraction": party_interaction(touchpoint)}
        return orjson.dumps(envelope)

    def applied(self, position: int) -> int:
        self.read_models_at(position, READ_MODEL_WAIT_S)
        return self.caught_up_to()

    def complaint_step(self, position: int) -> tuple[str | None, str] | None:
        row = self.complaints.store.query_one(
            "SELECT status_before, status_after FROM rm_complaint_event WHERE position = ?", (position,))
        return (row["status_before"], row["status_after"]) if row else None

    def tier_of(self, customer_id: str) -> str | None:
        row = self.customers.store.query_one("SELECT tier FROM rm_customer WHERE customer_id = ?", (customer_id,))
        return row["tier"] if row else None
