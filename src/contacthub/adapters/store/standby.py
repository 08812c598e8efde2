"""Reads from a hot standby (CONTACTHUB_READ_DATABASE_URL), writes on the primary.

The read models live in the same database as the log, so a standby holds them too, with
their tracking rows: how far a standby's copy has got is a query on the standby, and a read
that asked for `min_position` can wait for the standby to have replayed that far.

`StandbyReadStore` is the read store the API's and the pages' queries are given when a read
URL is configured:
- a read-only transaction goes to the standby, unless the current request is pinned to the
  primary (`use_primary`): every request that is not a GET or HEAD (adapters/http/app.py,
  `PrimaryForWrites`), and a read whose `min_position` the standby did not reach within
  CONTACTHUB_STANDBY_WAIT_S. A request with `min_position` checks the standby's position in
  every transaction it reads in (`require_position`), so a connection to another, slower
  standby is never read from;
- a writing transaction always goes to the primary's store.
The standby's connections are opened read-only (`default_transaction_read_only`), so a read
that reaches the primary through `prefer-standby` cannot write either.

What is pinned lives in a context variable: set on the event loop, it is seen by the thread
a route's read runs in (anyio copies the context into it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

import orjson
import structlog
from eventsourcing.utils import Environment

from contacthub.adapters.store.database import LIBPQ_OPTIONS_KEY, parse_database_url
from contacthub.adapters.store.postgres import ClusterAwareFactory
from contacthub.config import ConfigurationError
from contacthub.projections.runner import Projector
from contacthub.projections.sql import POSTGRESQL, ReadStore, Sql

log = structlog.get_logger(__name__)

READ_ONLY = "-c default_transaction_read_only=on"
STANDBY_CONNECTION_LIFETIME_S = "60"
"""How long a standby connection is kept by default: after a standby came back, reads that fell
back to the primary (`prefer-standby`) return to it within about this long."""

READER_NAME = "contacthub-reader"
"""The readers' `application_name`: pg_stat_activity on each server shows whether reads are served there."""

_on_primary: ContextVar[bool] = ContextVar("contacthub_reads_on_primary", default=False)
_required_position: ContextVar[int | None] = ContextVar("contacthub_required_position", default=None)


def require_position(position: int) -> None:
    """The current request asked for `min_position`: every read-only transaction it opens on a
    standby checks, in that transaction, that the standby's read models have reached it, and
    reads from the primary when they have not (a multi-host read URL may give the next
    connection another standby, further behind than the one that was waited for)."""
    _required_position.set(position)


def use_primary() -> Token[bool]:
    """Serve the rest of the current request's reads from the primary."""
    return _on_primary.set(True)


def stop_using_primary(token: Token[bool]) -> None:
    _on_primary.reset(token)


def reading_from_primary() -> bool:
    return _on_primary.get()


class StandbyReadStore(ReadStore):
    """Read-only transactions on the standby (or the primary for a pinned request); writes on the primary."""

    def __init__(self, standby_datastore: Any, primary: ReadStore) -> None:
        super().__init__(standby_datastore, POSTGRESQL)
        self.primary = primary
        self.position_in: Callable[[Sql], int] | None = None
        """How far the read models have got, read in a given transaction (ReadSide sets it)."""

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Sql]:
        if commit or _on_primary.get():
            with self.primary.transaction(commit=commit) as sql:
                yield sql
            return
        required = _required_position.get()
        with super().transaction(commit=False) as sql:
            if required is None or self.position_in is None or self.position_in(sql) >= required:
                yield sql
                return
        log.info("read_served_by_primary", min_position=required, reason="this standby connection is behind")
        with self.primary.transaction(commit=False) as sql:
            yield sql

    @contextmanager
    def on_standby(self) -> Iterator[Sql]:
        """A read-only transaction on the standby, whatever the request is pinned to."""
        with super().transaction(commit=False) as sql:
            yield sql

    def close(self) -> None:
        self.datastore.close()


def open_standby(read_database_url: str, primary: ReadStore) -> StandbyReadStore:
    """The read store over CONTACTHUB_READ_DATABASE_URL (PostgreSQL only, beside a PostgreSQL primary)."""
    setting = "CONTACTHUB_READ_DATABASE_URL"
    if primary.dialect != POSTGRESQL:
        raise ConfigurationError(f"{setting}: reads from a standby need CONTACTHUB_DATABASE_URL on PostgreSQL")
    target = parse_database_url(read_database_url, setting)
    if target.dialect != POSTGRESQL:
        raise ConfigurationError(f"{setting}: a standby is a postgresql:// URL")
    env = dict(target.es_env)
    libpq = orjson.loads(env[LIBPQ_OPTIONS_KEY])
    libpq["options"] = f"{libpq['options']} {READ_ONLY}" if libpq.get("options") else READ_ONLY
    if libpq.get("application_name") == "contacthub":
        libpq["application_name"] = READER_NAME
    env[LIBPQ_OPTIONS_KEY] = orjson.dumps(libpq).decode()
    if "POSTGRES_CONN_MAX_AGE" not in env:
        env["POSTGRES_CONN_MAX_AGE"] = STANDBY_CONNECTION_LIFETIME_S
    factory = ClusterAwareFactory(Environment("contacthub", env))
    return StandbyReadStore(factory.datastore, primary)



class ReadSide:
    """Where the API's and the pages' reads are served from, and how far that copy of the read
    models has got: the primary's (the projector's tracking rows there), or a standby's."""

    def __init__(self, projector: Projector, standby: StandbyReadStore | None = None) -> None:
        self.projector = projector
        self.standby = standby
        if standby is not None:
            standby.position_in = projector.caught_up_to_in

    def caught_up_to(self) -> int:
        """The position every read model has reached, where the current request reads."""
        if self.standby is None or _on_primary.get():
            return self.projector.caught_up_to()
        return self.standby_caught_up_to()

    def standby_caught_up_to(self) -> int:
        """How far the read models have got on one of the read URL's connections (a standby's, or the
        primary's when `prefer-standby` found no standby)."""
        assert self.standby is not None
        with self.standby.on_standby() as sql:
            return self.projector.caught_up_to_in(sql)

    def standby_position(self) -> int | None:
        """How far a standby's copy of the read models has got; None when the read URL reached no standby."""
        assert self.standby is not None
        with self.standby.on_standby() as sql:
            in_recovery = sql.execute("SELECT pg_is_in_recovery() AS standby").one()
            if in_recovery is None or not in_recovery["standby"]:
                return None
            return self.projector.caught_up_to_in(sql)

    def close(self) -> None:
        if self.standby is not None:
            self.standby.close()
