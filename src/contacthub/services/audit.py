"""The auditor's questions, answered from the event log alone: history and state as of a moment,
the hash chain of a customer, an export for offline checking, and whether the read models
still equal a rebuild of the log.

Shared by the HTTP API (adapters/api/audit.py) and the CLI (`contacthub replay`, `contacthub audit`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from typing import Any

import orjson

from contacthub.contract import DOMAIN_EVENTS
from contacthub.domain.customer import Customer, identity_in, posted_by
from contacthub.domain.event_chain import CustomerChain, Finding, verify_chain
from contacthub.projections.base import PositionedEvent, Projection, tables_digest
from contacthub.projections.replay import Moment, events_known, replay_state
from contacthub.projections.runner import Projector, partition_of
from contacthub.projections.sql import ReadStore
from contacthub.services.ports import ChainStore, EventLog, ScratchArea

_META = {"originator_id", "originator_version", "timestamp", "occurred_at", "event_id", "originator_topic"}
EVENT_TYPES = tuple(sorted(DOMAIN_EVENTS))
"""Every event type a customer's history can hold (the auditor's history filter)."""


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
        "posted_by": posted_by(event),
        "payload": {f.name: _jsonable(getattr(event, f.name), zone) for f in fields(event) if f.name not in _META},
    }


EXPORT_FORMAT = "contacthub-customer-export/1"
LINK_FORMULA = (
    "link = SHA-256(previous link as 32 bytes | len8(customer_id) | version as int64 | position as int64 "
    "| len8(topic) | len8(state)), len8(x) = 8-byte big-endian length of x followed by x (UTF-8); "
    "the first previous link is 32 zero bytes"
)


@dataclass(frozen=True)
class ReadModelComparison:
    name: str
    position: int
    """The log position the live read model had applied; the rebuild stops at the same one."""
    live: dict[str, str]
    rebuilt: dict[str, str]

    @property
    def differing_tables(self) -> list[str]:
        return sorted(t for t in self.live if self.live[t] != self.rebuilt.get(t))


class Audit:
    """What an auditor asks, over the log (a port), the stored chain links (a port) and the read models."""

    def __init__(
        self,
        event_log: EventLog,
        chains: ChainStore,
        projector: Projector,
        read_models: Callable[[], Sequence[Projection]],
        private_store: Callable[[], AbstractContextManager[ReadStore]],
        scratch_area: ScratchArea,
        zone: tzinfo,
        clock: Callable[[], datetime],
    ) -> None:
        self.log = event_log
        self.chains = chains
        self.projector = projector
        self.read_models = read_models  # fresh, empty instances for a rebuild
        self.private_store = private_store  # empty read models for one customer's replay
        self.scratch_area = scratch_area  # empty read models beside the live ones, same backend
        self.zone = zone
        self.clock = clock

    # --- replay ------------------------------------------------------------------------

    def known_events(self, customer_id: str, moment: Moment) -> list[PositionedEvent]:
        history = self.log.customer_history(customer_id)
        if not history:
            raise UnknownCustomer(customer_id)
        return events_known(history, moment)

    def state_as_of(self, customer_id: str, moment: Moment) -> dict[str, Any] | None:
        """The 360° view and every complaint, rebuilt from the events that count at `moment`;
        None if the customer was not registered by then."""
        known = self.known_events(customer_id, moment)
        now = moment.clock(known) or self.clock()
        with self.private_store() as store:
            state = replay_state(customer_id, known, self.read_models(), self.zone, now, store)  # type: ignore[arg-type]
        if state is None:
            return None
        last = known[-1][0] if known else 0
        basis = "occurred" if moment.occurred_before else "recorded" if moment.bounded else "now"
        merged_into, duplicates = identity_in(event for _, event in known)
        return {
            "customer_id": customer_id,
            "basis": basis,
            "moment": now.astimezone(self.zone).isoformat(),
            "as_of_position": moment.as_of_position,
            "events_applied": len(known),
            "last_position": last,
            "identity": {"merged_into": merged_into, "duplicates": list(duplicates)},
            "customer": {**state["customer"], "position": last},
            "complaints": [{**c, "position": last} for c in state["complaints"]],
            "events": known,
        }

    # --- tamper evidence -----------------------------------------------------------------

    def _stored_chain(self, customer_id: str) -> CustomerChain:
        chain = self.chains.customer(customer_id)
        if not chain.records and not chain.links:
            raise UnknownCustomer(customer_id)
        return chain

    def verify_customer(self, customer_id: str) -> dict[str, Any]:
        """One customer's chain checked against the stored events: what an auditor gets per customer."""
        chain = self._stored_chain(customer_id)
        findings = verify_chain(customer_id, chain.records, chain.links)
        head = chain.head
        return {
            "customer_id": customer_id,
            "intact": not findings,
            "events": len(chain.records),
            "head": None if head is None else {"version": head.version, "hash": head.hash},
            "findings": [_finding_item(f) for f in findings],
        }

    def export_lines(self, customer_id: str, exported_at: datetime) -> list[bytes]:
        """A self-contained JSON Lines bundle: a header, then each version's stored event and chain link,
        exactly as stored (the event's bytes as UTF-8 text), for scripts/verify_export.py."""
        chain = self._stored_chain(customer_id)
        records = {r.version: r for r in chain.records}
        links = {link.version: link for link in chain.links}
        head = chain.head
        lines = [orjson.dumps({
            "format": EXPORT_FORMAT,
            "customer_id": customer_id,
            "exported_at": exported_at.astimezone(self.zone).isoformat(),
            "versions": len(records.keys() | links.keys()),
            "head": None if head is None else {"version": head.version, "hash": head.hash},
            "link_formula": LINK_FORMULA,
        })]
        for version in sorted(records.keys() | links.keys()):
            record, link = records.get(version), links.get(version)
            lines.append(orjson.dumps({
                "version": version,
                "position": record.position if record else None,
                "topic": record.topic if record else None,
                **_state_field(record.state if record else None),
                "link": link.hash if link else None,
            }))
        return lines

    # --- read-model drift ------------------------------------------------------------------

    def compare_read_models(self, on_progress: Callable[[int], Any] = lambda _n: None) -> list[ReadModelComparison]:
        """Rebuild every read model from the log into a scratch area and compare digests with the live ones.

        The live digests and positions are read in one snapshot (the projector may go on
        meanwhile); each read model is then rebuilt through exactly the position it had.
        """
        positions, live = self.projector.live_digests()
        fresh = list(self.read_models())
        target = max((at for lanes in positions.values() for at in lanes.values()), default=0)
        with self.scratch_area() as scratch:
            after = 0
            while after < target:
                events = [e for e in self.log.read_events(after, 2000) if e[0] <= target]
                if not events:
                    break
                with scratch.transaction(commit=True) as sql:
                    for projection in fresh:
                        lanes = positions[projection.name]  # partition -> the position it had applied
                        mine = [e for e in events if e[0] <= lanes.get(partition_of(e[1].originator_id, len(lanes)), 0)]
                        if mine:
                            projection.apply(sql, mine)
                after = events[-1][0]
                on_progress(len(events))
            with scratch.transaction(commit=False) as sql:
                rebuilt = {p.name: tables_digest(sql, p) for p in fresh}
        return [
            ReadModelComparison(p.name, min(positions[p.name].values(), default=0), live[p.name], rebuilt[p.name])
            for p in fresh
        ]


def _finding_item(finding: Finding) -> dict[str, Any]:
    return {"version": finding.version, "position": finding.position or None, "problem": finding.problem,
            "detail": finding.detail}


def _state_field(state: bytes | None) -> dict[str, str | None]:
    """The stored bytes as text (they are UTF-8 JSON); bytes that are not UTF-8 (an edit) in base64."""
    if state is None:
        return {"state": None}
    try:
        return {"state": state.decode("utf-8")}
    except UnicodeDecodeError:
        return {"state_base64": base64.b64encode(state).decode("ascii")}
