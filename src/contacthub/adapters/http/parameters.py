"""Path and query parameters the API and the pages read alike: ids, days, moments, periods.

Ids (`IDENTIFIER`): a customer's, a complaint's or an order's id as channels send them; the
API refuses another with 422 naming the parameter, the desk answers a 404 page.

`QueryDay` is a local day written `YYYY-MM-DD`; `QueryMoment` an RFC 3339 date-time with a
time zone offset, as the event contract's `occurred_at` (a space or lowercase `t`/`z`
accepted). Nothing else: pydantic on its own would also read `0` or `1.5` as Unix seconds
and `2026-11-23T09:00:00` (no offset) as a naive time. Both lie between FIRST_QUERY_DAY and
LAST_QUERY_DAY, so that a period's default start 29 days earlier, the day after its end, a
30-day window and a conversion to another zone stay dates. Anything else: 422 naming the
parameter (docs/limits.md).

A period (`from`, `to`: the metrics API and the analytics page): DEFAULT_PERIOD_DAYS up to
`to` when `from` is not given, at most MAX_PERIOD_DAYS.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
"""A customer's, complaint's or order's id: what the event contract accepts."""

CustomerId = Annotated[str, Path(pattern=IDENTIFIER, description="The customer's id")]
ComplaintId = Annotated[str, Path(pattern=IDENTIFIER, description="The complaint's id")]
OrderId = Annotated[str, Path(pattern=IDENTIFIER, description="The order's id")]

FIRST_QUERY_DAY = date(1970, 1, 1)
LAST_QUERY_DAY = date(2999, 12, 31)

MAX_PERIOD_DAYS = 3660
DEFAULT_PERIOD_DAYS = 30

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$")


def _day_text(value: Any) -> Any:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("must be a day written YYYY-MM-DD, e.g. 2026-11-23")
    return value


def _moment_text(value: Any) -> Any:
    if not isinstance(value, str) or not _MOMENT.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-23T09:00:00+08:00")
    return value


def _day_in_range(value: date) -> date:
    if not FIRST_QUERY_DAY <= value <= LAST_QUERY_DAY:
        raise ValueError(f"must be a day from {FIRST_QUERY_DAY} to {LAST_QUERY_DAY}")
    return value


def _aware_moment_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone offset, e.g. 2026-11-23T09:00:00+08:00")
    _day_in_range(value.date())
    return value


QueryDay = Annotated[date, BeforeValidator(_day_text), AfterValidator(_day_in_range)]
QueryMoment = Annotated[datetime, BeforeValidator(_moment_text), AfterValidator(_aware_moment_in_range)]
