"""Per-customer encryption of personal fields, with keys held apart from the events.

Each customer gets a random 256-bit key when registered, stored in `customer_keys` (never
in the log, never in an export), written in the registration's own transaction. The
personal fields of an event (domain/personal_data.py) are stored as
`enc:v1:<base64url(nonce | AES-256-GCM ciphertext)>`; the associated data binds each
ciphertext to its customer, event and field, so it cannot be moved elsewhere unnoticed.

Erasure deletes the key: the ciphertexts stay in the log (and the hash chain still
verifies, since it covers the stored bytes), but nothing can decrypt them any more, and
every personal field then reads as erased.

Keys are read fresh for each batch that needs them (one query per batch, for the customers
whose events in it have personal fields: a batch of contacts reads none), never cached
across batches, so a key destroyed by another process is not used after its erasure.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contacthub.contract import PERSONAL_FIELDS
from contacthub.domain.personal_data import erased_value
from contacthub.projections.sql import ReadStore, Sql

PREFIX = "enc:v1:"
KEY_COLUMNS = (("customer_id", "text"), ("data_key", "bytea"))
UNREADABLE = "[unreadable]"
log = structlog.get_logger(__name__)


def has_personal_fields(topic: str) -> bool:
    """Whether events of this topic carry encrypted fields, so storing or reading one needs its customer's key."""
    return topic in PERSONAL_FIELDS


def _associated(customer_id: str, event_id: str, field: str) -> bytes:
    return "\x1f".join((customer_id, event_id, field)).encode("utf-8")


def seal(key: bytes, customer_id: str, event_id: str, field: str, value: Any) -> str:
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, orjson.dumps(value), _associated(customer_id, event_id, field))
    return PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")


def unseal(key: bytes | None, customer_id: str, event_id: str, field: str, stored: Any) -> Any:
    """The field's value; its erased value when the key is gone; stored plain values as they are."""
    if not (isinstance(stored, str) and stored.startswith(PREFIX)):
        return stored  # written before encryption existed
    if key is None:
        return erased_value(field)
    try:
        blob = base64.urlsafe_b64decode(stored[len(PREFIX):])
        return orjson.loads(AESGCM(key).decrypt(blob[:12], blob[12:], _associated(customer_id, event_id, field)))
    except (InvalidTag, ValueError):
        # Altered bytes: `contacthub audit verify` pinpoints the event. Reading goes on.
        log.error("personal_field_unreadable", customer_id=customer_id, event_id=event_id, field=field)
        return () if field == "msisdns" else UNREADABLE


class CustomerKeys:
    """The key store, and the keys of the batch in hand (per thread)."""

    def __init__(self, store: ReadStore | None = None) -> None:
        self.store: ReadStore = store  # type: ignore[assignment]  # set by the event log once its datastore exists
        self._local = threading.local()

    def fetch(self, customer_ids: Iterable[str]) -> dict[str, bytes]:
        ids = sorted(set(customer_ids))
        if not ids:
            return {}
        with self.store.transaction(commit=False) as sql:
            rows = sql.select_where_in("customer_keys", "customer_id", ids)
        return {r["customer_id"]: bytes(r["data_key"]) for r in rows}

    @contextmanager
    def loaded(self, customer_ids: Iterable[str]) -> Iterator[None]:
        """Make these customers' keys (read now, in one query) available to the mapper on this thread."""
        ids = set(customer_ids)
        outer = (getattr(self._local, "keys", None), getattr(self._local, "pending", None),
                 getattr(self._local, "asked", None))
        self._local.keys = self.fetch(ids)
        self._local.pending = {}
        self._local.asked = ids  # customers not in `keys` have no key (new, or erased)
        try:
            yield
        finally:
            self._local.keys, self._local.pending, self._local.asked = outer

    def key(self, customer_id: str) -> bytes | None:
        keys = getattr(self._local, "keys", None)
        if keys is not None and (customer_id in keys or customer_id in self._local.asked):
            return keys.get(customer_id)  # type: ignore[no-any-return]
        return self.fetch([customer_id]).get(customer_id)  # not asked for: one query

    def key_for_writing(self, customer_id: str) -> bytes:
        """The customer's key; a new one (kept pending until the events are saved) for a new customer."""
        key = self.key(customer_id)
        if key is not None:
            return key
        pending = getattr(self._local, "pending", None)
        if pending is None:  # outside a batch (tools, tests): the key is saved at once
            with self.store.transaction(commit=True) as sql:
                sql.insert_rows("customer_keys", KEY_COLUMNS, [(customer_id, AESGCM.generate_key(bit_length=256))],
                                on_conflict="ON CONFLICT (customer_id) DO NOTHING")
            return self.fetch([customer_id])[customer_id]
        new_key: bytes = pending.setdefault(customer_id, AESGCM.generate_key(bit_length=256))
        self._local.keys[customer_id] = new_key
        return new_key

    def take_pending(self) -> list[tuple[str, bytes]]:
        pending = getattr(self._local, "pending", None) or {}
        self._local.pending = {}
        return sorted(pending.items())

    # --- the mapper's side ----------------------------------------------------------

    def encrypt_fields(self, topic: str, state: dict[str, Any], customer_id: str) -> None:
        fields = PERSONAL_FIELDS.get(topic)
        if not fields:
            return
        key = self.key_for_writing(customer_id)
        for name in fields:
            if state.get(name) is not None:
                state[name] = seal(key, customer_id, state["event_id"], name, state[name])

    def decrypt_fields(self, topic: str, state: dict[str, Any], customer_id: str) -> None:
        fields = PERSONAL_FIELDS.get(topic)
        if not fields:
            return
        key = self.key(customer_id)
        for name in fields:
            if state.get(name) is not None:
                state[name] = unseal(key, customer_id, state["event_id"], name, state[name])


def insert_keys(sql: Sql, keys: Sequence[tuple[str, bytes]]) -> None:
    sql.insert_rows("customer_keys", KEY_COLUMNS, keys)


def destroy_keys(sql: Sql, customer_ids: Sequence[str]) -> None:
    for customer_id in customer_ids:
        sql.execute("DELETE FROM customer_keys WHERE customer_id = ?", (customer_id,))
