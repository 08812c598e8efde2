"""API keys (stored hashed, revocable) and the access log, in the read store's database (migration 0009).

A key is `ch_<key_id>_<secret>`: the key id finds the row, the secret proves possession.
Only the SHA-256 of the secret is stored: the secret is 32 random bytes (256 bits), so a
slow password hash would add nothing but latency to every request. The plaintext is
returned once, by `create`.

Who created and who revoked each key is recorded (`by`: the admin key, or `cli <user>`;
migration 0013). A key's name is what the access log shows a person, so names that only
look alike are refused (`name_problem`): letters and digits (Latin or Chinese), single inner
spaces and `- _ . @`, nothing invisible, no other script's look-alikes, and no second active
key whose name differs only in case.

Desk sessions (migration 0013): the pages' login cookie holds a random session token; only
its SHA-256 is stored, with the key it stands for and its expiry. Logging out ends it; so
does revoking the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from eventsourcing.persistence import IntegrityError

from contacthub.domain.roles import Principal, Role, key_binding_problem
from contacthub.projections.sql import POSTGRESQL, ReadStore

KEY_PREFIX = "ch"
_KEY = re.compile(r"^ch_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff](?:[A-Za-z0-9\u4e00-\u9fff\-_.@]| (?! ))*$")
"""A key's name: Latin letters and digits or Chinese characters, `- _ . @`, single inner spaces."""
MAX_NAME = 64
_SESSION = re.compile(r"^[A-Za-z0-9_\-]{43}$")
ACCESS_LOG_MAX_PAGE = 1000
_ACCESS_ROWS_PER_STATEMENT = 90  # 10 parameters each: within SQLite's bound-parameter limit (900, as everywhere here)
_ACCESS_COLUMNS = "entry_id, at, key_id, key_name, role, method, path, query, customer_id, complaint_id"
_ACCESS_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# VALUES columns are column1..column10 on both backends; column3 is the key id.
_INSERT_ACCESS = (
    f"INSERT INTO access_log ({_ACCESS_COLUMNS}) SELECT v.column1, v.column2, v.column3, v.column4, v.column5, "
    "v.column6, v.column7, v.column8, v.column9, v.column10 FROM (VALUES {rows}) AS v "
    "WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.key_id = v.column3 AND k.revoked_at IS NULL) RETURNING entry_id"
)

AccessEntry = tuple[str, str, str, str, str, str, str, str, str | None, str | None]
"""An access-log row: entry_id, at, key_id, key_name, role, method, path, query, customer_id, complaint_id."""


class KeyProblem(ValueError):
    """A key cannot be created or revoked as asked; the message says why, in one line.

    `kind`: `invalid` (role, name or channel), `taken` (an active key has the name), `unknown` (no such key).
    `field`: the input at fault.
    """

    def __init__(self, message: str, kind: str = "invalid", field: str = "channel") -> None:
        super().__init__(message)
        self.kind = kind
        self.field = field


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a key, or None: it must read as exactly one thing to a person."""
    if not 1 <= len(name) <= MAX_NAME:
        return f"a key's name is 1 to {MAX_NAME} characters"
    if name != name.strip():
        return "a key's name has no leading or trailing spaces"
    if not _NAME.match(name):
        odd = next((ch for ch in name if not _NAME.match(f"a{ch}a")), None)
        shown = f"U+{ord(odd):04X}" if odd is not None else "two spaces in a row"
        return (f"a key's name holds only letters and digits (Latin or Chinese), single spaces and - _ . @; "
                f"not {shown}")
    return None


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    channel: str | None
    created_at: datetime
    revoked_at: datetime | None
    created_by: str | None = None
    """Who created it: `key <key_id> (<name>)` (an admin's key), `cli <user>`; None before migration 0013."""
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self, zone: tzinfo) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role.value,
            "channel": self.channel,
            "created_at": self.created_at.astimezone(zone).isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.astimezone(zone).isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }


def admin_by(principal: Principal) -> str:
    """How a key's creator or revoker is recorded when it is an admin's key."""
    return f"key {principal.key_id} ({principal.name})"


def parse_key(plaintext: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, or None."""
    match = _KEY.match(plaintext)
    return (match.group(1), match.group(2)) if match else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _stamp(moment: datetime) -> str:
    """UTC, fixed width (microseconds always shown): text order is time order."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        name=row["name"],
        role=Role(row["role"]),
        channel=row["channel"],
        created_at=datetime.fromisoformat(row["created_at"]),
        revoked_at=_moment(row["revoked_at"]),
        created_by=row.get("created_by"),
        revoked_by=row.get("revoked_by"),
    )


class ApiKeys:
    """Create, list, revoke and check API keys; record and read the access log."""

    def __init__(self, store: ReadStore, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        self.clock = clock

    # --- keys ---------------------------------------------------------------------------

    def create(self, role: Role | str, name: str, channel: str | None = None, *, by: str | None = None) -> tuple[ApiKey, str]:
        """A new key and its plaintext, which is never available again. `by`: who creates it (recorded)."""
        try:
            role = Role(role)
        except ValueError:
            raise KeyProblem(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}", field="role") from None
        problem = name_problem(name)
        if problem:
            raise KeyProblem(problem, field="name")
        problem = key_binding_problem(role, channel)
        if problem:
            raise KeyProblem(problem)
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        created_at = self.clock()
        try:
            with self.store.transaction(commit=True) as sql:
                # Names are ASCII or Chinese (name_problem), so lower() folds case alike on both backends.
                taken = sql.execute(
                    "SELECT key_id, name FROM api_keys WHERE lower(name) = lower(?) AND revoked_at IS NULL", (name,)
                ).one()
                if taken:
                    raise KeyProblem(
                        f"an active key is already named {taken['name']!r} ({taken['key_id']}); revoke it first",
                        "taken", "name",
                    )
                sql.execute(
                    "INSERT INTO api_keys (key_id, name, role, channel, secret_hash, created_at, created_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key_id, name, role.value, channel, _digest(secret), _stamp(created_at), by),
                )
        except IntegrityError:  # another process created a key of this name meanwhile (unique index)
            raise KeyProblem(f"an active key is already named {name!r}; revoke it first", "taken", "name") from None
        key = ApiKey(key_id, name, role, channel, datetime.fromisoformat(_stamp(created_at)), None, by)
        return key, f"{KEY_PREFIX}_{key_id}_{secret}"

    def list_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self.store.query(f"SELECT * FROM api_keys{where} ORDER BY created_at, key_id")
        return [_key(r) for r in rows]

    def get(self, key_id: str) -> ApiKey | None:
        row = self.store.query_one("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        return None if row is None else _key(row)

    def revoke(self, key_id: str, *, by: str | None = None) -> ApiKey:
        """Revoke a key (from now on it authenticates nothing; its desk sessions end). A key already revoked is
        returned unchanged. `by`: who revokes it (recorded)."""
        with self.store.transaction(commit=True) as sql:
            row = sql.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).one()
            if row is None:
                raise KeyProblem(f"no key {key_id}", "unknown", "key_id")
            if row["revoked_at"] is None:
                row["revoked_at"], row["revoked_by"] = _stamp(self.clock()), by
                sql.execute("UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE key_id = ? AND revoked_at IS NULL",
                            (row["revoked_at"], by, key_id))
                sql.execute("UPDATE desk_sessions SET ended_at = ? WHERE key_id = ? AND ended_at IS NULL",
                            (row["revoked_at"], key_id))
        return _key(row)

    def authenticate(self, plaintext: str) -> Principal | None:
        """Who holds this key; None when it is malformed, unknown, wrong or revoked."""
        parsed = parse_key(plaintext)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = self.store.query_one(
            "SELECT key_id, name, role, channel, secret_hash FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
            (key_id,),
        )
        if row is None or not hmac.compare_digest(row["secret_hash"], _digest(secret)):
            return None
        return Principal(key_id=row["key_id"], name=row["name"], role=Role(row["role"]), channel=row["channel"])

    # --- desk sessions ----------------------------------------------------------------------

    def open_session(self, principal: Principal, lifetime_s: float) -> str:
        """A new desk session for this key holder: its token (for the cookie; only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.transaction(commit=True) as sql:
            # Sessions ended or expired a day ago are of no further use: dropped as new ones open.
            sql.execute("DELETE FROM desk_sessions WHERE expires_at < ? OR ended_at < ?",
                        (_stamp(now - timedelta(days=1)), _stamp(now - timedelta(days=1))))
            sql.execute(
                "INSERT INTO desk_sessions (session_hash, key_id, started_at, expires_at) VALUES (?, ?, ?, ?)",
                (_digest(token), principal.key_id, _stamp(now), _stamp(now + timedelta(seconds=lifetime_s))),
            )
        return token

    def session_principal(self, token: str) -> Principal | None:
        """Who a desk session stands for; None when it is unknown, ended, expired, or its key is revoked."""
        if not _SESSION.match(token):
            return None
        row = self.store.query_one(
            "SELECT k.key_id, k.name, k.role, k.channel FROM desk_sessions s JOIN api_keys k ON k.key_id = s.key_id "
            "WHERE s.session_hash = ? AND s.ended_at IS NULL AND s.expires_at > ? AND k.revoked_at IS NULL",
            (_digest(token), _stamp(self.clock())),
        )
        if row is None:
            return None
        return Principal(key_id=row["key_id"], name=row["name"], role=Role(row["role"]), channel=row["channel"])

    def end_session(self, token: str) -> None:
        """Log out: the session authenticates nothing from now on."""
        if _SESSION.match(token):
            with self.store.transaction(commit=True) as sql:
                sql.execute("UPDATE desk_sessions SET ended_at = ? WHERE session_hash = ? AND ended_at IS NULL",
                            (_stamp(self.clock()), _digest(token)))

    # --- the access log ---------------------------------------------------------------------

    def access_entry(self, principal: Principal, method: str, path: str, query: str = "",
                     customer_id: str | None = None, complaint_id: str | None = None) -> AccessEntry:
        """One entry: who read what, now (not yet written: `record_accesses`).

        Entry ids start with the time (32 hex digits), so new entries are appended to the
        primary-key index rather than scattered through it."""
        return (f"{time.time_ns():016x}{secrets.token_hex(8)}", _stamp(self.clock()), principal.key_id, principal.name,
                principal.role.value, method, path[:500], query[:1000], customer_id, complaint_id)

    def record_accesses(self, entries: Sequence[AccessEntry]) -> set[str]:
        """Write entries in one transaction, each only while its key is still active (not
        revoked), in the same statement; the ids of the entries written.

        On PostgreSQL the commit does not wait for its WAL flush (synchronous_commit off, for
        this transaction only): a read then costs no disk sync. The entries are safe from every
        failure but a crash of the database server itself, which can lose the entries of
        its last moments (at most three times wal_writer_delay, 0.6 s by default); it never
        corrupts or reorders the log."""
        written: set[str] = set()
        with self.store.transaction(commit=True) as sql:
            if self.store.dialect == POSTGRESQL:
                sql.execute("SET LOCAL synchronous_commit TO OFF")
            for start in range(0, len(entries), _ACCESS_ROWS_PER_STATEMENT):
                chunk = entries[start : start + _ACCESS_ROWS_PER_STATEMENT]
                rows = sql.execute(_INSERT_ACCESS.format(rows=", ".join([_ACCESS_ROW] * len(chunk))),
                                   [value for entry in chunk for value in entry]).all()
                written.update(row["entry_id"] for row in rows)
        return written

    def access_log(
        self,
        *,
        customer_id: str | None = None,
        key_id: str | None = None,
        since: datetime | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """Entries oldest first, and the (at, entry_id) to pass as `after` for the next page (None on the last)."""
        conditions, params = [], []
        if customer_id is not None:
            conditions.append("customer_id = ?")
            params.append(customer_id)
        if key_id is not None:
            conditions.append("key_id = ?")
            params.append(key_id)
        if since is not None:
            conditions.append("at >= ?")
            params.append(_stamp(since))
        if after is not None:
            conditions.append("(at > ? OR (at = ? AND entry_id > ?))")
            params += [after[0], after[0], after[1]]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        limit = max(1, min(limit, ACCESS_LOG_MAX_PAGE))
        rows = self.store.query(
            f"SELECT * FROM access_log {where} ORDER BY at, entry_id LIMIT ?", (*params, limit + 1)
        )
        page = rows[:limit]
        following = (page[-1]["at"], page[-1]["entry_id"]) if len(rows) > limit else None
        return page, following
