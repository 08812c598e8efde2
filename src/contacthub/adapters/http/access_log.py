"""The access log's entry for a read of customer data: who, when, what (path, masked query, customer, complaint).

Reads of customer data by clerks and auditors are recorded, and each entry is committed
before the read is answered: a read that cannot be recorded is not answered. Phone numbers
in the query string are masked in the record; the customer they belong to is recorded
instead. Which reads are recorded: dependencies.py (`require`, `require_page`) and
domain/roles.py.

Group commit (`AccessLogWriter`): a server process writes its entries from one thread,
all entries waiting at that moment in one transaction (one INSERT per 90 entries). Each
entry is as durable as one committed alone (on SQLite the commit is synced to disk; on
PostgreSQL it does not wait for its WAL flush, as ApiKeys.record_accesses explains), but
concurrent reads share a commit instead of queueing for one each: SQLite has one writer at
a time, and a commit per read capped a server at a few hundred reads per second. While
reads keep coming (the last commit held more than one entry), the writer gathers for up to
GATHER_S before it commits. The entries and their INSERT are the store's
(adapters/store/api_keys.py: `access_entry`, `record_accesses`); the grouping is here.

The API's reads (`require`) submit their entry before the route runs and the route's
answer waits for its commit (`AnsweredAfterRecorded`, the app's middleware): the commit
overlaps the read. The pages and the audit routes wait before the route runs (`record_read`).

`record_accesses` writes an entry only while its key is still active (not revoked), in the same
statement: a recorded read with a key revoked since this process verified it (the key cache:
authentication.py) is answered 401 instead, by every server process, at once.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter

from contacthub.adapters.http.errors import ApiError, error_response, unexpected_error_response
from contacthub.adapters.http.parameters import QueryMoment
from contacthub.adapters.store.api_keys import AccessEntry, ApiKeys
from contacthub.bootstrap import ContactHub
from contacthub.contract import normalise_msisdn
from contacthub.domain.roles import Principal
from contacthub.projections.sql import ReadStore

_MOMENT: TypeAdapter[Any] = TypeAdapter(QueryMoment)  # `at` as the API reads it (lowercase t and z included)

MASKED_QUERY_FIELDS = frozenset({"msisdn", "q"})
"""Query parameters recorded as `*` whatever they hold: what was typed to find a customer."""
PHONE_LIKE = re.compile(r"^\+?[0-9]{5,15}$")
"""A path segment or query value that may be a phone number (5-15 digits once spaces and dashes are
dropped; not a date): recorded as `*`, as are the phone numbers in `MASKED_QUERY_FIELDS`."""
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
COUNTING_QUERY_FIELDS = frozenset({"page", "page_size", "min_position", "as_of_position", "after", "limit"})
"""Query parameters that hold a count or a log position, never a number of a person: kept as sent."""
MAX_GROUP = 500
"""The most entries one commit takes; more waiting go in the next one."""
GATHER_S = 0.005
"""While reads keep coming, how long the writer waits for more entries before it commits."""
Waiter = Future[bool] | asyncio.Future[bool]


class AccessLogWriter:
    """Writes access-log entries in groups, from one thread that exits when idle (`idle_s`) and restarts on demand.

    `submit` returns a future: True once the entry is committed, False when its key is no
    longer active (nothing written), or the exception that failed the commit. `submit_async`
    the same as an asyncio future of the running loop: a commit settles all of one loop's
    futures with one call into that loop, not one each.
    """

    def __init__(self, store: ReadStore, clock: Callable[[], datetime], idle_s: float = 1.0) -> None:
        self._keys = ApiKeys(store, clock)  # the entries and their INSERT (adapters/store/api_keys.py)
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._waiting = threading.Condition(self._lock)
        self._pending: list[tuple[AccessEntry, Waiter]] = []
        self._thread: threading.Thread | None = None
        self.on_written: Callable[[int], None] | None = None
        """Called with how many entries each commit wrote (the operators' metrics)."""

    def _add(self, entry: AccessEntry, waiter: Waiter) -> None:
        with self._lock:
            self._pending.append((entry, waiter))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                self._thread.start()
            elif len(self._pending) in (1, MAX_GROUP):  # the writer idles (nothing was waiting), or a group is full
                self._waiting.notify()

    def submit(self, principal: Principal, method: str, path: str, query: str = "",
               customer_id: str | None = None, complaint_id: str | None = None) -> Future[bool]:
        done: Future[bool] = Future()
        self._add(self._keys.access_entry(principal, method, path, query, customer_id, complaint_id), done)
        return done

    def submit_async(self, principal: Principal, method: str, path: str, query: str = "",
                     customer_id: str | None = None, complaint_id: str | None = None) -> asyncio.Future[bool]:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._add(self._keys.access_entry(principal, method, path, query, customer_id, complaint_id), done)
        return done

    def record(self, principal: Principal, method: str, path: str, query: str = "",
               customer_id: str | None = None, complaint_id: str | None = None) -> bool:
        """Write one entry and wait for its commit (from a thread-pool thread)."""
        return self.submit(principal, method, path, query, customer_id, complaint_id).result()

    def _run(self) -> None:
        last_group = 0
        while True:
            with self._lock:
                if not self._pending:
                    self._waiting.wait(self.idle_s)
                if not self._pending:
                    self._thread = None
                    return
                if last_group > 1:  # reads keep coming: gather more for one commit
                    deadline = time.monotonic() + GATHER_S
                    while len(self._pending) < MAX_GROUP and (left := deadline - time.monotonic()) > 0:
                        self._waiting.wait(left)
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                last_group = len(group)
            outcomes: list[tuple[Waiter, bool | BaseException]]
            try:
                written = self._write([entry for entry, _ in group])
                if self.on_written is not None:
                    self.on_written(len(written))
                outcomes = [(waiter, entry[0] in written) for entry, waiter in group]
            except Exception as exc:
                outcomes = [(waiter, exc) for _, waiter in group]
            _settle(outcomes)

    def _write(self, entries: Sequence[AccessEntry]) -> set[str]:
        """One transaction; the entry ids written (those whose key is active)."""
        return self._keys.record_accesses(entries)


def _settle(outcomes: Sequence[tuple[Waiter, bool | BaseException]]) -> None:
    """Tell each waiter its entry's fate: thread futures here, asyncio futures in their loop (one call per loop).

    An entry whose reader went away (its request cancelled) was written all the same."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], bool | BaseException]]] = {}
    for waiter, outcome in outcomes:
        if isinstance(waiter, asyncio.Future):
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, outcome))
        elif waiter.set_running_or_notify_cancel():
            if isinstance(outcome, BaseException):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)
    for loop, settled in by_loop.items():
        with suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_in_loop, settled)


def _settle_in_loop(settled: Sequence[tuple[asyncio.Future[bool], bool | BaseException]]) -> None:
    for waiter, outcome in settled:
        if waiter.done():  # cancelled
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


def _phone_like(value: str) -> bool:
    return bool(PHONE_LIKE.match(value.replace(" ", "").replace("-", ""))) and not _DATE.match(value)


def _needs_lookup(request: Request) -> bool:
    """Finding the customer takes a lookup in the read models: the request names none, or names one by a phone-like id."""
    named = request.path_params.get("customer_id") or request.query_params.get("customer_id")
    return not named or _phone_like(named)


def _lookup_customer(hub: ContactHub, request: Request) -> tuple[str | None, str | None]:
    """The customer (and complaint) a read concerns, when the request names one.

    A phone-like customer id is recorded only when a customer has that id: a number typed
    where an id belongs is not kept in the access log (it would outlive the customer's erasure)."""
    path, query = request.path_params, request.query_params
    customer_id = path.get("customer_id") or query.get("customer_id")
    if customer_id and _phone_like(customer_id) and not hub.customers.customer_exists(customer_id):
        return None, None
    complaint_id = path.get("complaint_id")
    if complaint_id and _phone_like(complaint_id):
        complaint_id = None if hub.complaints.customer_of(complaint_id) is None else complaint_id
    if customer_id is None and complaint_id:
        customer_id = hub.complaints.customer_of(complaint_id)
    if customer_id is None and path.get("order_id"):
        customer_id = hub.journeys.customer_of(path["order_id"])
    if customer_id is None and query.get("msisdn"):
        with suppress(ValueError):  # not a phone number or not a moment: no customer to record (the answer is 422)
            at = _MOMENT.validate_python(query["at"]) if query.get("at") else None
            customer_id = hub.customers.customer_id_for_msisdn(normalise_msisdn(query["msisdn"]), at)
    return (customer_id[:200] if customer_id else None), (complaint_id[:200] if complaint_id else None)


def masked_query(request: Request) -> str:
    """The query string as recorded: what was typed to find a customer, and any phone-like value, as `*`."""
    items = [(k, "*" if k in MASKED_QUERY_FIELDS or (k not in COUNTING_QUERY_FIELDS and _phone_like(v)) else v)
             for k, v in request.query_params.multi_items()]
    return urlencode(items)


def masked_path(request: Request) -> str:
    """The path as recorded: a phone-like segment (a number typed where an id belongs) as `*`."""
    path = request.url.path
    if not any(ch.isdigit() for ch in path):
        return path
    return "/".join("*" if _phone_like(segment) else segment for segment in path.split("/"))


def record_read(hub: ContactHub, writer: AccessLogWriter, request: Request, principal: Principal) -> bool:
    """One access-log entry for this request, committed (from a thread-pool thread); False: the key is revoked."""
    note_reader(request, principal)
    customer_id, complaint_id = _lookup_customer(hub, request)
    return writer.record(principal, request.method, masked_path(request), masked_query(request), customer_id, complaint_id)


_READER = "contacthub.reader"
"""The principal whose reads this request records (in its ASGI scope), for `record_shown`."""


def note_reader(request: Request, principal: Principal) -> None:
    """This request is a recorded read by `principal`: what its answer shows is recorded too (`record_shown`)."""
    request.scope[_READER] = principal


def record_shown(request: Request, customer_ids: Iterable[str | None]) -> None:
    """One access-log entry per customer this answer shows (a work queue, a list, a search's target).

    Called by the route (in its thread or on the loop) once it knows what it shows; the answer
    waits for the entries' commit (AnsweredAfterRecorded), as for the request's own entry.
    Nothing when the request is not a recorded read (`note_reader`: a clerk's or auditor's)."""
    principal: Principal | None = request.scope.get(_READER)
    if principal is None:
        return
    keys = request.app.state.api_keys
    path, query = masked_path(request), masked_query(request)
    pending = request.scope.setdefault(_RECORDING, [])
    for customer_id in dict.fromkeys(c[:200] for c in customer_ids if c):
        done = keys.access_writer.submit(principal, request.method, path, query, customer_id, None)
        pending.append(_Recording(done, principal.key_id, keys.refuse_revoked))


@dataclass(frozen=True)
class _Recording:
    done: Waiter
    key_id: str
    on_revoked: Callable[[str], ApiError]


_RECORDING = "contacthub.recording"
"""Where a request's submitted entries wait for AnsweredAfterRecorded (in its ASGI scope)."""


async def record_before_answer(hub: ContactHub, writer: AccessLogWriter, request: Request, principal: Principal,
                               on_revoked: Callable[[str], ApiError]) -> None:
    """Submit this read's entry; the answer waits for its commit (AnsweredAfterRecorded), the route need not.

    From the event loop: a thread-pool hop only when finding the customer needs the read models.
    `on_revoked(key_id)`: when the entry was not written because the key is no longer active, the error to answer."""
    note_reader(request, principal)
    if _needs_lookup(request):
        customer_id, complaint_id = await run_in_threadpool(_lookup_customer, hub, request)
    else:
        customer_id, complaint_id = _lookup_customer(hub, request)
    done = writer.submit_async(principal, request.method, masked_path(request), masked_query(request), customer_id,
                               complaint_id)
    request.scope.setdefault(_RECORDING, []).append(_Recording(done, principal.key_id, on_revoked))


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class AnsweredAfterRecorded:
    """ASGI middleware: an answer goes out only once its read's access-log entry is committed.

    When the entry could not be written the answer is replaced: 401 when the key was revoked
    meanwhile (nothing was written), 503 or 500 when the commit failed (as for any error).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_when_recorded(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and scope.get(_RECORDING):
                answer = await _refusal(scope)
                if answer is not None:
                    replaced = True
                    await answer(scope, receive, send)
                    return
            await send(message)

        await self.app(scope, receive, send_when_recorded)


async def _refusal(scope: Scope) -> Callable[[Scope, Receive, Send], Awaitable[None]] | None:
    """None when every entry of this request is committed; otherwise the answer to send instead."""
    for recording in scope.pop(_RECORDING):
        done = recording.done
        try:
            written = await (done if isinstance(done, asyncio.Future) else asyncio.wrap_future(done))
        except Exception as exc:
            return unexpected_error_response(str(scope.get("path", "")), exc)
        if not written:
            refused = recording.on_revoked(recording.key_id)
            return error_response(refused.status_code, refused.items, refused.headers)
    return None
