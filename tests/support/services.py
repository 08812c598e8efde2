"""The use cases on an in-memory event log, wired as `contacthub.bootstrap.build` wires them on a database.

For the unit tier (tests/unit/conftest.py, the `services` fixture): IngestService with the
packaged SLA policy and the default future tolerance, and ComplaintActions, both on an
InMemoryEventLog (adapters/store/memory.py) and a ManualClock. No database, no server, no
read models: what a test asserts is what the services answer and what the log then holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from contacthub.adapters.store.memory import InMemoryEventLog
from contacthub.config import Settings
from contacthub.domain.complaint import ComplaintCase
from contacthub.domain.customer import Customer
from contacthub.services.complaint_actions import ActionOutcome, ComplaintActions
from contacthub.services.ingest import IngestOutcome, IngestRejected, IngestService
from support.clock import ManualClock

ACTOR = {"by": "store-0571-03", "channel": "store"}
"""Who acts on a complaint unless a test says otherwise: a store clerk."""


@dataclass
class Services:
    clock: ManualClock
    log: InMemoryEventLog
    ingest: IngestService
    actions: ComplaintActions

    @classmethod
    def wire(cls, clock: ManualClock, settings: Settings | None = None) -> Services:
        """As bootstrap.build: the settings' SLA policy, cache size and future tolerance; the log in memory."""
        settings = settings or Settings()
        log = InMemoryEventLog()
        ingest = IngestService(
            log,
            cache_size=settings.customer_cache_size,
            future_tolerance=timedelta(seconds=settings.future_tolerance_s),
            clock=clock,
            sla_policy=settings.load_sla_policy(),
            unidentified_look_back=timedelta(days=settings.unidentified_look_back_days),
        )
        return cls(clock, log, ingest, ComplaintActions(ingest, log, clock))

    # --- given / when ------------------------------------------------------------------

    def given(self, *events: Any) -> IngestOutcome:
        """A batch that must be accepted."""
        return self.ingest.ingest(list(events))

    def refused(self, *events: Any) -> IngestRejected:
        """A batch that must be refused whole: nothing of it is stored, not even its valid events or their ids."""
        return self._refused(lambda: self.ingest.ingest(list(events)), events)

    def act(self, complaint_id: str, **body: Any) -> ActionOutcome:
        """An action on a complaint that must be accepted (by a store clerk unless `by`/`channel` say otherwise)."""
        return self.actions.take(complaint_id, {**ACTOR, **body})

    def refused_action(self, complaint_id: str, **body: Any) -> IngestRejected:
        """An action that must be refused, storing nothing."""
        return self._refused(lambda: self.actions.take(complaint_id, {**ACTOR, **body}), [body])

    def _refused(self, attempt: Callable[[], object], events: Sequence[Any]) -> IngestRejected:
        head = self.log.head_position()
        ids = [e["event_id"] for e in events if isinstance(e, dict) and isinstance(e.get("event_id"), str)]
        known = set(self.log.lookup_keys(ids))
        with pytest.raises(IngestRejected) as caught:
            attempt()
        assert self.log.head_position() == head, "a refused batch stored events"
        assert set(self.log.lookup_keys(ids)) == known, "a refused batch kept event ids"
        return caught.value

    # --- then --------------------------------------------------------------------------

    def customer(self, customer_id: str = "C1") -> Customer:
        """The customer as the log holds them: rebuilt from the stored events, not the writer's cache."""
        return self.log.load_customers([customer_id])[customer_id]

    def complaint(self, complaint_id: str = "K1") -> ComplaintCase:
        owner = self.log.lookup_claims("complaint", [complaint_id])[complaint_id]
        return self.customer(owner).complaints[complaint_id]

    def party_of(self, msisdn: str) -> str:
        """The id of the number's unidentified party (docs/events.md §3.13); "" when it has none."""
        return self.log.lookup_claims("unidentified", [msisdn]).get(msisdn, "")

    def stored_types(self, customer_id: str = "C1") -> list[str]:
        """The catalogue type of each of the customer's stored events, in order."""
        return [type(e).TOPIC for _, e in self.log.customer_history(customer_id)]


def errors(rejected: IngestRejected) -> list[tuple[int | None, str | None, str]]:
    """(index, event_id, field) of each error, in order."""
    return [(e.index, e.event_id, e.field) for e in rejected.errors]


def fields(rejected: IngestRejected) -> list[str]:
    return [e.field for e in rejected.errors]
