"""The hash-chain formula on its own (domain/event_chain.py): each link covers one stored event, and
verification names each edit once, where it is. No storage; the chain in the database, edited by SQL, is
tested in tests/integration/test_event_chain.py.
"""

from __future__ import annotations

from contacthub.domain.event_chain import GENESIS, ChainHead, StoredRecord, extend_chain, link_hash, verify_chain


def _records(n: int) -> list[StoredRecord]:
    return [StoredRecord(v, 10 * v, "contact.logged", f'{{"n":{v}}}'.encode()) for v in range(1, n + 1)]


def test_each_field_of_a_stored_event_changes_its_link() -> None:
    base = link_hash(GENESIS, "C1", 1, 7, "contact.logged", b"{}")
    variants = [
        link_hash("1" * 64, "C1", 1, 7, "contact.logged", b"{}"),
        link_hash(GENESIS, "C2", 1, 7, "contact.logged", b"{}"),
        link_hash(GENESIS, "C1", 2, 7, "contact.logged", b"{}"),
        link_hash(GENESIS, "C1", 1, 8, "contact.logged", b"{}"),
        link_hash(GENESIS, "C1", 1, 7, "contact.logged2", b"{}"),
        link_hash(GENESIS, "C1", 1, 7, "contact.logged", b"{ }"),
        # Length prefixes: moving a byte from one field to the next is a different event.
        link_hash(GENESIS, "C1", 1, 7, "contact.logge", b"d{}"),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_an_untouched_chain_has_no_findings_and_each_edit_is_reported_once_where_it_is() -> None:
    records = _records(5)
    links = extend_chain(GENESIS, "C1", records)
    assert verify_chain("C1", records, links) == []

    changed = [*records[:2], StoredRecord(3, 30, "contact.logged", b'{"n":33}'), *records[3:]]
    assert [(f.version, f.problem) for f in verify_chain("C1", changed, links)] == [(3, "changed")]

    assert [(f.version, f.problem) for f in verify_chain("C1", records[:2] + records[3:], links)] == [(3, "removed")]

    extra = StoredRecord(6, 60, "contact.logged", b"{}")
    assert [(f.version, f.problem) for f in verify_chain("C1", [*records, extra], links)] == [(6, "inserted")]

    # Event and link both gone: the gap in versions shows it; the next event is not blamed.
    gone = [link for link in links if link.version != 3]
    assert [(f.version, f.problem) for f in verify_chain("C1", records[:2] + records[3:], gone)] == [(3, "removed")]


def test_an_anchor_finds_truncation_and_recomputed_chains() -> None:
    records = _records(5)
    links = extend_chain(GENESIS, "C1", records)
    head = ChainHead("C1", 5, links[-1].hash)
    assert verify_chain("C1", records, links, head) == []
    # The last two events and their links deleted: consistent on its own, not with the anchor.
    assert verify_chain("C1", records[:3], links[:3]) == []
    assert [(f.version, f.problem) for f in verify_chain("C1", records[:3], links[:3], head)] == [(5, "truncated")]
    # Event 2 rewritten and every link after it recomputed by someone who knows the formula.
    forged = [records[0], StoredRecord(2, 20, "contact.logged", b'{"n":99}'), *records[2:]]
    relinked = extend_chain(GENESIS, "C1", forged)
    assert verify_chain("C1", forged, relinked) == []
    assert [(f.version, f.problem) for f in verify_chain("C1", forged, relinked, head)] == [(5, "rewritten")]
