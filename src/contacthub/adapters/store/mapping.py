"""How events become stored bytes and back: an orjson transcoder and a typed mapper.

orjson is about ten times faster than the library's stdlib JSON transcoder, but writes
datetimes and tuples as strings and lists; the mapper brings them back from the event
class's own field types. Personal fields are encrypted per customer (keyring.py).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from contacthub.adapters.store.keyring import CustomerKeys, has_personal_fields


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


@cache
def _field_decoders(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Which stored fields of an event class need converting back from JSON, and how."""
    decoders: list[tuple[str, Callable[[Any], Any]]] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        hint = hints.get(f.name)
        # `X | None` decodes like X (None values are skipped by the caller).
        args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else []
        if len(args) == 1:
            hint = args[0]
        if hint is datetime:
            decoders.append((f.name, datetime.fromisoformat))
        elif typing.get_origin(hint) is tuple:
            decoders.append((f.name, tuple))
    return tuple(decoders)


class TypedMapper(Mapper[str]):
    """orjson writes datetimes and tuples as strings and lists; the event's own types bring them back.

    Personal fields are encrypted on the way in and decrypted on the way out with the
    customer's key (keyring.py)."""

    def __init__(self, transcoder: Transcoder, keys: CustomerKeys) -> None:
        super().__init__(transcoder=transcoder)
        self.keys = keys
        self.encode = transcoder.encode

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        # The library's version, minus its generic topic lookup: every event class here
        # carries its public type name as TOPIC, and that is the stored topic.
        cls = type(domain_event)
        topic = cls.TOPIC
        state = domain_event.__dict__.copy()
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        if has_personal_fields(topic):
            self.keys.encrypt_fields(topic, state, originator_id)
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(originator_id, originator_version, topic, self.encode(state))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        domain_event = super().to_domain_event(stored_event)
        state = domain_event.__dict__
        self.keys.decrypt_fields(stored_event.topic, state, stored_event.originator_id)  # type: ignore[arg-type]
        for name, decode in _field_decoders(type(domain_event)):
            value = state.get(name)
            if value is not None:
                state[name] = decode(value)
        return domain_event
