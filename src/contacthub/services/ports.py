"""What the use cases need from storage, stated as protocols; adapters/store implements them.

The event log is the one source of truth. Beside each event the store keeps, in the same
transaction, its idempotency key (`IngestKey`) and the identifiers it makes a customer's
own (`Claim`: msisdns, order ids, complaint ids, unique across customers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from contacthub.domain.customer import Customer
from contacthub.domain.event_chain import CustomerChain
from contacthub.domain.numbers import Holding
from contacthub.projections.base import PositionedEvent
from contacthub.projections.sql import ReadStore

ERASED_DIGEST = "erased"
"""An erased customer's ingest digests: their event_ids still count as stored, their content is gone."""


class WritersBusy(Exception):
    """The writers' lock was not granted within the lock timeout: other writers hold it."""


@dataclass(frozen=True)
class IngestKey:
    """An event's idempotency key: the id it is stored under (scoped by its source: domain/roles.py,
    `stored_event_id`), a digest of what was posted, where it went, and the source that posted it.

    `source` None marks a key stored before ids were scoped (migration 0014): its id is the bare
    id as some channel posted it, and it still answers that id for every source."""

    event_id: str
    digest: str
    customer_id: str
    customer_version: int
    source: str | None


@dataclass(frozen=True)
class Claim:
    """An identifier a customer owns, unique across customers."""

    kind: str  # msisdn | order | complaint
    claim: str
    customer_id: str


@dataclass(frozen=True)
class StoredKey:
    digest: str
    customer_id: str
    position: int


class EventLog(Protocol):
    """Every customer's events in one ordered log, with their keys and claims."""

    def lookup_keys(self, event_ids: Sequence[str]) -> dict[str, StoredKey]:
        """The stored keys among these event ids."""
        ...

    def lookup_legacy_keys(self, event_ids: Sequence[str]) -> dict[str, StoredKey]:
        """The keys stored before ids were scoped (source None) among these bare event ids."""
        ...

    def has_legacy_keys(self) -> bool:
        """Whether any key was stored before ids were scoped (an upgraded database)."""
        ...

    def lookup_claims(self, kind: str, claims: Sequence[str]) -> dict[str, str]:
        """Which customer owns each of these identifiers (those owned by nobody are left out)."""
        ...

    def lookup_holdings(self, msisdns: Sequence[str]) -> dict[str, list[Holding]]:
        """Every holding of these numbers, past and present (numbers nobody ever held are left out)."""
        ...

    def load_customers(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        """These customers rebuilt from their events (unknown ones are left out)."""
        ...

    def deciding(self, *, exclusive: bool) -> AbstractContextManager[None]:
        """Hold the writers' lock while a batch is decided and stored; raises WritersBusy on timeout."""
        ...

    def record(
        self, customers: Sequence[Customer], ingest_keys: Sequence[IngestKey], claims: Sequence[Claim]
    ) -> dict[tuple[str, int], int]:
        """Store every pending event of these customers with their keys and claims, all or nothing.

        The holdings of numbers follow from the events (domain/numbers.py, holding_changes): a
        release ends its holding and frees its claim before the batch's claims are taken; an
        erasure frees the customer's claims and forgets their holdings.

        Returns each stored event's log position by (customer_id, version); raises
        eventsourcing's IntegrityError when another writer got there first."""
        ...

    def head_position(self) -> int:
        """The position of the last stored event (0 for an empty log)."""
        ...

    def read_events(self, after: int, limit: int) -> list[PositionedEvent]:
        """Up to `limit` events after log position `after`, in log order, with their positions."""
        ...

    def customer_history(self, customer_id: str) -> list[PositionedEvent]:
        """The customer's events with their log positions, in order (empty for an unknown customer)."""
        ...


class ChainStore(Protocol):
    """The stored hash-chain links (adapters/store/chain.py)."""

    def customer(self, customer_id: str) -> CustomerChain: ...


ScratchArea = Callable[[], AbstractContextManager[ReadStore]]
"""A private, empty set of read-model tables, dropped when the block ends (rebuilds for comparison)."""
