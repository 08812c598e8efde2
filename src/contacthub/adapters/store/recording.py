"""What both recorders (sqlite.py, postgres.py) add to the library's, written once.

Each recorder writes, in the transaction that inserts the events: the new customers'
keys and the erasures (here), the idempotency keys and identifier claims (per backend,
before the events), and the hash-chain links (chain.py, after the events, once their
positions are known). A key, claim or link therefore exists if and only if its event does.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eventsourcing.persistence import StoredEvent

from contacthub.adapters.store.chain import ChainHeads
from contacthub.adapters.store.keyring import destroy_keys, insert_keys
from contacthub.domain.numbers import HoldingChange
from contacthub.projections.base import utc_text
from contacthub.projections.sql import Sql
from contacthub.services.ports import ERASED_DIGEST

HOLDING_COLUMNS = (("msisdn", "text"), ("customer_id", "text"), ("held_from", "text"))


def write_personal_data_changes(sql: Sql, **kwargs: Any) -> None:
    """New customers' keys, numbers taken and released, and erasures, in the events' own
    transaction, before the batch's claims are written (a number released here may be
    claimed by another customer further on in the same batch).

    A release ends the customer's holding of the number and frees its claim. An erasure
    destroys the key, frees the customer's msisdns (the claims that resolve a number to them),
    forgets every number they ever held (a number is personal data) and blanks the digests
    of what their channels posted (a digest over a payload naming an 11-digit msisdn could
    be matched by trying every number)."""
    insert_keys(sql, kwargs.get("customer_keys", ()))
    write_holding_changes(sql, kwargs.get("holding_changes", ()))
    erased: Sequence[str] = kwargs.get("erased", ())
    destroy_keys(sql, erased)
    for customer_id in erased:
        # 'unidentified': an erased party's number is free for a new one (services/ingest.py, PARTY_CLAIM)
        sql.execute("DELETE FROM customer_claims WHERE kind IN ('msisdn', 'unidentified') AND customer_id = ?",
                    (customer_id,))
        sql.execute("DELETE FROM msisdn_holdings WHERE customer_id = ?", (customer_id,))
        sql.execute("UPDATE ingest_keys SET digest = ? WHERE customer_id = ?", (ERASED_DIGEST, customer_id))


def write_holding_changes(sql: Sql, changes: Sequence[HoldingChange]) -> None:
    """Holdings started and ended, in log order: the starts between two releases in one statement."""
    started: list[tuple[str, str, str]] = []

    def flush() -> None:
        # A holding released at the instant it started and taken again at that instant
        # (a zero-length holding covers no moment) is the same row, open again.
        sql.insert_rows("msisdn_holdings", HOLDING_COLUMNS, started,
                        "ON CONFLICT (msisdn, customer_id, held_from) DO UPDATE SET released_at = NULL")
        started.clear()

    for change in changes:
        if change.started:
            started.append((change.msisdn, change.customer_id, utc_text(change.at)))
            continue
        flush()
        sql.execute(
            "UPDATE msisdn_holdings SET released_at = ? WHERE msisdn = ? AND customer_id = ? AND released_at IS NULL",
            (utc_text(change.at), change.msisdn, change.customer_id),
        )
        sql.execute(
            "DELETE FROM customer_claims WHERE kind = 'msisdn' AND claim = ? AND customer_id = ?",
            (change.msisdn, change.customer_id),
        )
    flush()


class ChainedInserts:
    """Both recorders: remember the chain heads written, once their transaction committed."""

    def chain_heads(self) -> ChainHeads:
        heads = self.__dict__.get("_chain_heads")
        if heads is None:
            heads = self.__dict__["_chain_heads"] = ChainHeads()
        return heads

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        written: dict[str, tuple[int, str]] = {}
        positions = self.insert_linked_events(stored_events, chain_written=written, **kwargs)
        self.chain_heads().committed(written)  # only reached after the commit
        return positions

    def insert_linked_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert the events, their keys, claims and chain links in one transaction, and commit.

        By default the library's insert (its `_insert_events` hook writes the rest); a recorder
        may write it all its own way. Links written go into `kwargs["chain_written"]`."""
        return super().insert_events(stored_events, **kwargs)  # type: ignore[misc,no-any-return]


class WritersLock(Protocol):
    """The lock every ContactHub writer process holds while it decides and stores a batch
    (CustomerLog.deciding): shared on the fast path, exclusive on the careful path."""

    def hold(self, *, exclusive: bool) -> AbstractContextManager[None]:
        """Hold the lock for the block; raises WritersBusy when it is not granted in time."""
        ...

    def close(self) -> None: ...
