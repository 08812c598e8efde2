"""Webhook subscriptions and their delivery positions, in the read store's database (migration 0020).

Each subscription's `position` is its own tracking position: the log position up to which it
has delivered (or passed over what its query leaves out). Only the process holding the
subscription's lease moves it: every change of position, failure count or lease names the
owner in its WHERE clause, so a process whose lease ran out (paused, cut off) changes nothing
once another has taken over.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from contacthub.projections.sql import ReadStore
from contacthub.services.hub_delivery import Subscription

_COLUMNS = ("subscription_id, api, callback, query, secret, owner, created_by, created_at, deleted_at, position, delivered, "
            "failures, next_attempt_at, last_error, last_error_at, last_delivered_at, lease_owner, lease_until")
MAX_ERROR = 500


def _at(moment: datetime) -> str:
    """Stored as fixed-width UTC text, so text order is time order on both backends."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _moment(text: str | None) -> datetime | None:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc) if text else None


def _subscription(row: dict[str, Any]) -> Subscription:
    return Subscription(
        subscription_id=row["subscription_id"], api=row["api"], callback=row["callback"], query=row["query"],
        secret=row["secret"], owner=row["owner"], created_by=row["created_by"], created_at=_moment(row["created_at"]),  # type: ignore[arg-type]
        deleted_at=_moment(row["deleted_at"]), position=int(row["position"]), delivered=int(row["delivered"]),
        failures=int(row["failures"]), next_attempt_at=_moment(row["next_attempt_at"]), last_error=row["last_error"],
        last_error_at=_moment(row["last_error_at"]), last_delivered_at=_moment(row["last_delivered_at"]),
    )


class SubscriptionTable:
    """The `SubscriptionStore` port on the read store."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def create(self, api: str, callback: str, query: str, secret: str | None, owner: str, created_by: str,
               position: int, now: datetime) -> Subscription:
        subscription_id = secrets.token_hex(8)
        secret = secret or secrets.token_urlsafe(32)
        with self.store.transaction(commit=True) as sql:
            sql.execute(
                "INSERT INTO hub_subscription (subscription_id, api, callback, query, secret, owner, created_by, "
                "created_at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (subscription_id, api, callback, query, secret, owner, created_by, _at(now), position),
            )
        found = self.get(subscription_id)
        assert found is not None
        return found

    def get(self, subscription_id: str) -> Subscription | None:
        row = self.store.query_one(f"SELECT {_COLUMNS} FROM hub_subscription WHERE subscription_id = ?", (subscription_id,))
        return _subscription(row) if row else None

    def active(self, api: str | None = None, owner: str | None = None) -> list[Subscription]:
        """Subscriptions not ended (of one API, of one owner), oldest first."""
        which, params = "", []
        for column, value in (("api", api), ("owner", owner)):
            if value is not None:
                which += f" AND {column} = ?"
                params.append(value)
        rows = self.store.query(f"SELECT {_COLUMNS} FROM hub_subscription WHERE deleted_at IS NULL{which} "
                                "ORDER BY created_at, subscription_id", params)
        return [_subscription(r) for r in rows]

    def delete(self, subscription_id: str, api: str | None, owner: str, by: str, now: datetime) -> bool:
        """End an owner's subscription (of `api`, when given); False when it has none such."""
        with self.store.transaction(commit=True) as sql:
            return sql.execute(
                "UPDATE hub_subscription SET deleted_at = ?, deleted_by = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE subscription_id = ? AND (api = ? OR ? = '') AND owner = ? AND deleted_at IS NULL "
                "RETURNING subscription_id",
                (_at(now), by, subscription_id, api or "", api or "", owner),
            ).one() is not None

    # --- delivery: the lease and the position -------------------------------------------------------

    def lease(self, subscription_id: str, owner: str, now: datetime, lease_s: float) -> Subscription | None:
        """Take or renew the subscription's lease for `lease_s`; the subscription as stored, or None when
        another process holds it, it was ended, or no integration key of its owner's name is active
        (a revoked key's subscriptions wait, delivering nothing, until a key of that name is made)."""
        with self.store.transaction(commit=True) as sql:
            row = sql.execute(
                f"UPDATE hub_subscription SET lease_owner = ?, lease_until = ? WHERE subscription_id = ? "
                f"AND deleted_at IS NULL AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) "
                f"AND EXISTS (SELECT 1 FROM api_keys k WHERE k.name = hub_subscription.owner "
                f"AND k.role = 'integration' AND k.revoked_at IS NULL) "
                f"RETURNING {_COLUMNS}",
                (owner, _at(now + timedelta(seconds=lease_s)), subscription_id, owner, _at(now)),
            ).one()
        return _subscription(row) if row else None

    def release(self, subscription_id: str, owner: str) -> None:
        with self.store.transaction(commit=True) as sql:
            sql.execute("UPDATE hub_subscription SET lease_owner = NULL, lease_until = NULL "
                        "WHERE subscription_id = ? AND lease_owner = ?", (subscription_id, owner))

    def advance(self, subscription_id: str, owner: str, position: int, delivered: int, now: datetime) -> bool:
        """Up to `position` is done (`delivered` more requests answered 2xx): failures are forgotten."""
        with self.store.transaction(commit=True) as sql:
            return sql.execute(
                "UPDATE hub_subscription SET position = ?, delivered = delivered + ?, failures = 0, next_attempt_at = NULL, "
                "last_delivered_at = CASE WHEN ? > 0 THEN ? ELSE last_delivered_at END "
                "WHERE subscription_id = ? AND lease_owner = ? AND deleted_at IS NULL AND position <= ? "
                "RETURNING subscription_id",
                (position, delivered, delivered, _at(now), subscription_id, owner, position),
            ).one() is not None

    def failed(self, subscription_id: str, owner: str, failures: int, error: str, now: datetime,
               next_attempt_at: datetime) -> bool:
        with self.store.transaction(commit=True) as sql:
            return sql.execute(
                "UPDATE hub_subscription SET failures = ?, last_error = ?, last_error_at = ?, next_attempt_at = ? "
                "WHERE subscription_id = ? AND lease_owner = ? AND deleted_at IS NULL RETURNING subscription_id",
                (failures, error[:MAX_ERROR], _at(now), _at(next_attempt_at), subscription_id, owner),
            ).one() is not None
