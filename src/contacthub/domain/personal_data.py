"""Which stored fields are a customer's personal data, and what they read as once erased.

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

PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "customer.registered": ("name", "msisdns"),
    "complaint.opened": ("summary",),
    # Free text typed by staff about the customer's case.
    "complaint.started": ("reason",),
    "complaint.pended": ("reason",),
    "complaint.held": ("reason",),
    "complaint.resumed": ("reason",),
    "complaint.handed_over": ("reason",),
    "complaint.escalated": ("reason",),
    "complaint.resolved": ("resolution",),
    "complaint.reopened": ("reason",),
    "complaint.cancelled": ("reason",),
    "complaint.rejected": ("reason",),
    "complaint.noted": ("text",),
    "order.cancelled": ("reason",),
}
"""Per event type, the fields stored encrypted under the customer's key."""


def erased_value(field: str) -> Any:
    """A personal field's value once its key is gone: no numbers, the marker for text."""
    return () if field == "msisdns" else ERASED
