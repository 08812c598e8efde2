"""What a store clerk records at the counter for the customer in front of them: a complaint they accept
there (一点受理: the clerk becomes its first-contact owner) and the visit itself.

Both are the catalogue events a store's own system would post (`complaint.opened`,
`contact.logged` from the `store` channel), recorded through the ingest service with the
clerk's key, so they meet the same contract, rules and idempotency as `POST /v1/events`. The
clerk acts as themselves, now: `handled_by` is the key's holder, the time is the server's, and
the site is the one the staff directory (CONTACTHUB_SITES) puts the clerk at.

Each form carries its own key (`event_id`): submitting it twice records it once, and the
complaint's id is derived from that key, so a resubmitted form opens no second complaint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contacthub.contract import FieldError
from contacthub.domain.roles import Principal
from contacthub.domain.sites import StaffDirectory
from contacthub.domain.vocabulary import Channel
from contacthub.services.ingest import IngestRejected, IngestService

OPEN_FIELDS = ("category", "severity", "summary")
VISIT_FIELDS = ("reason", "outcome", "complaint_id", "order_id")


@dataclass(frozen=True)
class CounterOutcome:
    event_id: str
    result: str  # recorded | duplicate
    position: int
    complaint_id: str | None = None  # the complaint opened


class CounterWork:
    def __init__(self, ingest: IngestService, sites: StaffDirectory, clock: Callable[[], datetime]) -> None:
        self.ingest = ingest
        self.sites = sites
        self.clock = clock

    def open_complaint(self, customer_id: str, form: Mapping[str, Any], actor: Principal) -> CounterOutcome:
        """Open a complaint for `customer_id`, owned by the clerk. IngestRejected names the field at fault."""
        key = self._key(form)
        complaint_id = "CP" + hashlib.sha256(f"{actor.name}/{key}".encode()).hexdigest()[:12].upper()
        raw = {name: form[name] for name in OPEN_FIELDS if form.get(name) not in (None, "")}
        raw.update(type="complaint.opened", event_id=key, customer_id=customer_id, complaint_id=complaint_id,
                   channel=Channel.STORE.value, handled_by=actor.name)
        return self._record(raw, actor, complaint_id)

    def log_visit(self, customer_id: str, form: Mapping[str, Any], actor: Principal) -> CounterOutcome:
        """Record the customer's visit: a `contact.logged` from the store, handled by the clerk, at their site."""
        raw = {name: form[name] for name in VISIT_FIELDS if form.get(name) not in (None, "")}
        site = self.sites.site_of(actor.name)
        raw.update(type="contact.logged", event_id=self._key(form), customer_id=customer_id,
                   channel=Channel.STORE.value, direction="inbound", handled_by=actor.name)
        if site is not None:
            raw["site"] = site.name
        return self._record(raw, actor, None)

    @staticmethod
    def _key(form: Mapping[str, Any]) -> str:
        key = form.get("event_id")
        if not isinstance(key, str) or not key.strip():
            raise IngestRejected(422, [FieldError(index=None, event_id=None, field="event_id",
                                                  message="the form's key is missing; reload the page")])
        return key.strip()

    def _record(self, raw: dict[str, Any], actor: Principal, complaint_id: str | None) -> CounterOutcome:
        raw["occurred_at"] = self.clock().isoformat()
        outcome = self.ingest.ingest([raw], digest_ignores=frozenset({"occurred_at"}), posted_by=actor.key_id,
                                     source=actor.event_source())
        result = outcome.results[0]
        return CounterOutcome(result.event_id, result.status, result.position, complaint_id)
