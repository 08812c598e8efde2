"""Erasing a customer's personal data: what `contacthub forget` and the admin's API call share.

The erasure itself is one transaction (IngestService.erase: the `customer.erased` event,
the key destroyed, the msisdns freed, the digests blanked). Then the read models are
brought up to date, which replaces the customer's personal fields there, and the store
drops what it may still hold of the old rows (SQLite compacts its file: docs/audit.md, "Erasure").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from contacthub.projections.runner import Projector
from contacthub.services.ingest import IngestService

_UNSEEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
"""Characters a reader of the record cannot see or that reorder what they see: control characters
(tab and newline too: a reason is one line), zero-width and bidirectional formatting."""
MAX_REASON = 200


def reason_problem(reason: str) -> str | None:
    """Why `reason` cannot be recorded as an erasure's reason (it is kept in clear, read by auditors), or None."""
    if not reason.strip():
        return "give the reason (a request or ticket reference)"
    if len(reason) > MAX_REASON:
        return f"the reason is at most {MAX_REASON} characters"
    unseen = _UNSEEN.search(reason)
    if unseen:
        return f"the reason holds U+{ord(unseen.group()):04X}, a control or invisible formatting character"
    return None


@dataclass(frozen=True)
class ErasureOutcome:
    customer_id: str
    result: str
    """`erased`, or `already_erased` (nothing recorded)."""
    position: int
    read_models_updated: bool
    compacted: bool


class Erasure:
    def __init__(self, ingest: IngestService, projector: Projector, compact: Callable[[], None] | None) -> None:
        self.ingest = ingest
        self.projector = projector
        self.compact = compact  # rewrites the store so freed pages keep no old rows; None where not needed

    def forget(
        self, customer_id: str, *, by: str, reason: str, wait_s: float, run_projector: bool = False
    ) -> ErasureOutcome:
        """Erase; LookupError for an unknown customer, ValueError for a reason that cannot be recorded
        (`reason_problem`). Then bring the read models up to date: here (`run_projector`, the CLI)
        or by waiting, at most `wait_s`, for the running projector. A customer erased before: nothing
        is recorded and the store is not compacted again."""
        problem = reason_problem(reason)
        if problem:
            raise ValueError(problem)
        result, position = self.ingest.erase(customer_id, by=by, reason=reason)
        if run_projector:
            self.projector.catch_up()
        updated = self.projector.wait_for(position, wait_s)
        compacted = False
        if updated and self.compact is not None and result == "recorded":
            self.compact()
            compacted = True
        return ErasureOutcome(customer_id, "erased" if result == "recorded" else result, position, updated, compacted)
