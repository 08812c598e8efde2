"""Personal fields sealed per customer, event and field (adapters/store/keyring.py): no database.

That the sealed form is what the log stores, and that erasure leaves none of it readable, is
tested on both backends in tests/e2e/test_erasure.py.
"""

from __future__ import annotations

from contacthub.adapters.store.keyring import PREFIX, UNREADABLE, seal, unseal
from contacthub.domain.personal_data import ERASED


def test_a_sealed_field_opens_only_in_its_own_place() -> None:
    key, other = b"k" * 32, b"o" * 32
    sealed = seal(key, "C1", "ev-1", "name", "张三")
    assert sealed.startswith(PREFIX) and "张三" not in sealed
    assert unseal(key, "C1", "ev-1", "name", sealed) == "张三"
    assert unseal(None, "C1", "ev-1", "name", sealed) == ERASED
    assert unseal(None, "C1", "ev-1", "msisdns", seal(key, "C1", "ev-1", "msisdns", ["139"])) == ()
    # Moved to another customer, event or field, or opened with another key: unreadable.
    assert unseal(key, "C2", "ev-1", "name", sealed) == UNREADABLE
    assert unseal(key, "C1", "ev-2", "name", sealed) == UNREADABLE
    assert unseal(key, "C1", "ev-1", "summary", sealed) == UNREADABLE
    assert unseal(other, "C1", "ev-1", "name", sealed) == UNREADABLE
    assert unseal(key, "C1", "ev-1", "name", "plain, stored before encryption") == "plain, stored before encryption"
