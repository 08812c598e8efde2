"""What a customer's personal data reads as once erased (which fields are personal: the event catalogue).

Personal fields are stored encrypted with the customer's own key (adapters/store/keyring.py);
`contacthub forget` destroys the key, after which every one of them reads as its erased
value below, in the live read models and in any rebuild alike. Everything else (channels,
reasons codes, times, ids, tiers, amounts) stays readable, so metrics keep counting the
customer's anonymous facts.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

ERASED = "[erased]"
"""What a free-text or name field reads as after erasure."""



def erased_value(field: str) -> Any:
    """A personal field's value once its key is gone: no numbers, the marker for text."""
    return () if field == "msisdns" else ERASED
