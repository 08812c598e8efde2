"""Tamper evidence: each customer's stored events form a hash chain.

Link n of a customer's chain is SHA-256 over link n-1 and the stored event exactly as it
lies in the log: customer id, version, log position, type and the stored payload bytes.
The first link starts from 32 zero bytes. Each field is length-prefixed, so no two
different events can encode to the same bytes.

Links are written in the same transaction as their events (adapters/store/recording.py, for both backends), so
a link exists if and only if its event does. Afterwards a direct edit of the log shows:

* an event whose bytes, type or position changed no longer matches its link (*changed*);
* a link whose event is gone (*removed*);
* an event no link covers (*inserted*);
* a version missing from both (*removed*, found by the gap in versions).

Truncating a customer's latest events together with their links, or rewriting events and
recomputing every link after them, needs the chain heads to have been written down
somewhere the database's users cannot reach (an anchor, see `ChainAnchor`): verification
against an anchor finds both.

Pure: no I/O. The offline verifier (scripts/verify_export.py) implements the same formula
independently, with the standard library only.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

GENESIS = "0" * 64
"""The link before a customer's first event."""

Problem = Literal["changed", "removed", "inserted", "truncated", "rewritten"]


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


_LENGTH = struct.Struct(">Q")
_VERSION_POSITION = struct.Struct(">qq")


def _text_field(text: str) -> bytes:
    return _field(text.encode("utf-8"))


_topic_field = lru_cache(maxsize=256)(_text_field)  # a few dozen topics, repeated on every event


def _link(previous: bytes, customer: bytes, version: int, position: int, topic: bytes, state: bytes) -> bytes:
    # One buffer, one hash call: the same bytes as hashing each field in turn.
    return hashlib.sha256(
        b"".join((previous, customer, _VERSION_POSITION.pack(version, position), topic, _LENGTH.pack(len(state)), state))
    ).digest()


def link_hash(previous: str, customer_id: str, version: int, position: int, topic: str, state: bytes) -> str:
    """The chain link of one stored event, as 64 hex digits.

    SHA-256 over: the previous link's 32 bytes; the customer id (8-byte big-endian length,
    then UTF-8); version and position (8-byte big-endian signed each); the topic (length,
    UTF-8); the stored state (length, bytes)."""
    return _link(bytes.fromhex(previous), _text_field(customer_id), version, position, _topic_field(topic), state).hex()


def chain_hashes(previous: str, customer_id: str, records: Iterable[tuple[int, int, str, bytes]]) -> list[str]:
    """The link hashes of one customer's next events, (version, position, topic, state) in
    version order, after link `previous`: `extend_chain` for the write path, without the
    record and link objects."""
    customer = _text_field(customer_id)
    digest = bytes.fromhex(previous)
    hashes = []
    for version, position, topic, state in records:
        digest = _link(digest, customer, version, position, _topic_field(topic), state)
        hashes.append(digest.hex())
    return hashes


@dataclass(frozen=True)
class StoredRecord:
    """One row of the log, as stored."""

    version: int
    position: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class ChainLink:
    """One row of the chain: the link written with the customer's event `version`."""

    version: int
    position: int
    hash: str


@dataclass(frozen=True)
class Finding:
    customer_id: str
    version: int
    position: int
    problem: Problem
    detail: str


def extend_chain(previous: str, customer_id: str, records: Iterable[StoredRecord]) -> list[ChainLink]:
    """The links of `records` (one customer's next events, in version order) after link `previous`."""
    records = list(records)
    hashes = chain_hashes(previous, customer_id, ((r.version, r.position, r.topic, r.state) for r in records))
    return [ChainLink(r.version, r.position, h) for r, h in zip(records, hashes, strict=True)]


@dataclass(frozen=True)
class ChainHead:
    """A customer's last link at some moment: what an anchor writes down."""

    customer_id: str
    version: int
    hash: str


def verify_chain(
    customer_id: str, records: Sequence[StoredRecord], links: Sequence[ChainLink], anchored: ChainHead | None = None
) -> list[Finding]:
    """Every place where one customer's stored events and chain disagree; empty if they match.

    Both sequences are in version order. After a problem the walk goes on from the stored
    link, so an edit is reported where it is and not again for every later event.
    """
    findings: list[Finding] = []
    by_version = {r.version: r for r in records}
    link_of = {link.version: link for link in links}
    previous = GENESIS
    previous_known = True
    expected = 1
    for version in sorted(by_version.keys() | link_of.keys()):
        record, link = by_version.get(version), link_of.get(version)
        if version > expected:
            for missing in range(expected, version):
                findings.append(Finding(customer_id, missing, 0, "removed",
                                        "version missing from the log and from the chain"))
            previous_known = False
        expected = version + 1
        if record is None:
            assert link is not None
            findings.append(Finding(customer_id, version, link.position, "removed",
                                    f"the chain records version {version} at position {link.position}; the log no longer has it"))
            previous, previous_known = link.hash, True
            continue
        if link is None:
            findings.append(Finding(customer_id, version, record.position, "inserted",
                                    f"{record.topic} at position {record.position} is not covered by the chain"))
            previous_known = False
            continue
        if previous_known:
            actual = link_hash(previous, customer_id, version, record.position, record.topic, record.state)
            if actual != link.hash:
                findings.append(Finding(customer_id, version, record.position, "changed",
                                        f"{record.topic} at position {record.position} no longer matches its chain link"))
        previous, previous_known = link.hash, True
    if anchored is not None:
        findings += _against_anchor(customer_id, anchored, link_of, by_version)
    return findings


def _against_anchor(
    customer_id: str, anchored: ChainHead, link_of: dict[int, ChainLink], by_version: dict[int, StoredRecord]
) -> list[Finding]:
    link = link_of.get(anchored.version)
    if link is None:
        record = by_version.get(anchored.version)
        return [Finding(customer_id, anchored.version, record.position if record else 0, "truncated",
                        f"the anchor records version {anchored.version}; the chain now ends before it")]
    if link.hash != anchored.hash:
        return [Finding(customer_id, anchored.version, link.position, "rewritten",
                        f"the chain link of version {anchored.version} differs from the anchored one: "
                        "the chain was recomputed after the anchor")]
    return []


def anchor_root(heads: Iterable[ChainHead]) -> str:
    """One digest over every customer's chain head (sorted by customer): what an operator publishes."""
    digest = hashlib.sha256()
    for head in sorted(heads, key=lambda h: h.customer_id):
        digest.update(_field(head.customer_id.encode("utf-8")))
        digest.update(head.version.to_bytes(8, "big", signed=True))
        digest.update(bytes.fromhex(head.hash))
    return digest.hexdigest()


@dataclass(frozen=True)
class CustomerChain:
    """One customer's stored events (the bytes as stored) and the links stored for them."""

    customer_id: str
    records: list[StoredRecord]
    links: list[ChainLink]

    @property
    def head(self) -> ChainHead | None:
        if not self.links:
            return None
        last = self.links[-1]
        return ChainHead(self.customer_id, last.version, last.hash)
