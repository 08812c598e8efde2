"""Erasing a customer's personal data: what `contacthub forget` and the admin's API call share.

The erasure itself is one transaction (IngestService.erase: the `customer.erased` event,
the key destroyed, the msisdns freed, the digests blanked). Then the read models are
brought up to date, which replaces the customer's personal fields there, and on SQLite the
database file is compacted so no freed page keeps the old rows (docs/audit.md, "Erasure").
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from contacthub.adapters.store.database import SQLITE, parse_database_url

if TYPE_CHECKING:
    from contacthub.bootstrap import ContactHub

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ErasureOutcome:
    customer_id: str
    result: str
    """`erased`, or `already_erased` (nothing recorded)."""
    position: int
    read_models_updated: bool
    compacted: bool


def forget_customer(
    hub: ContactHub, customer_id: str, *, by: str, reason: str, wait_s: float, run_projector: bool = False
) -> ErasureOutcome:
    """Erase; LookupError for an unknown customer. Then bring the read models up to date:
    here (`run_projector`, the CLI) or by waiting, at most `wait_s`, for the running projector."""
    result, position = hub.ingest.erase(customer_id, by=by, reason=reason)
    if run_projector:
        hub.projector.catch_up()
    updated = hub.projector.wait_for(position, wait_s)
    compacted = False
    if updated and hub.event_log.dialect == SQLITE:
        compact_sqlite(hub.settings.database_url)
        compacted = True
    return ErasureOutcome(customer_id, "erased" if result == "recorded" else result, position, updated, compacted)


def compact_sqlite(database_url: str) -> None:
    """Rewrite the SQLite file and empty its write-ahead log, so freed pages keep no old rows."""
    path = parse_database_url(database_url).es_env["SQLITE_DBNAME"]
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    log.info("sqlite_compacted", database=path)
