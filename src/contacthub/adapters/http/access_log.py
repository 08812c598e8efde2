"""The access log's entry for a read of customer data: who, when, what (path, masked query, customer, complaint).

Reads of customer data by clerks and auditors are recorded (one INSERT, committed before the
read is answered: a read that cannot be recorded is not answered). Phone numbers in the
query string are masked in the record; the customer they belong to is recorded instead.
Which reads are recorded: dependencies.py (`require`, `require_page`) and domain/roles.py.
"""

from __future__ import annotations

from contextlib import suppress
from urllib.parse import urlencode

from fastapi import Request

from contacthub.adapters.store.api_keys import ApiKeys
from contacthub.bootstrap import ContactHub
from contacthub.contract import normalise_msisdn
from contacthub.domain.roles import Principal

MASKED_QUERY_FIELDS = frozenset({"msisdn", "q"})


def _lookup_customer(hub: ContactHub, request: Request) -> tuple[str | None, str | None]:
    """The customer (and complaint) a read concerns, when the request names one."""
    path, query = request.path_params, request.query_params
    customer_id = path.get("customer_id") or query.get("customer_id")
    complaint_id = path.get("complaint_id")
    if customer_id is None and complaint_id:
        customer_id = hub.complaints.customer_of(complaint_id)
    if customer_id is None and path.get("order_id"):
        customer_id = hub.journeys.customer_of(path["order_id"])
    if customer_id is None and query.get("msisdn"):
        with suppress(ValueError):  # not a phone number: no customer to record
            customer_id = hub.customers.customer_id_for_msisdn(normalise_msisdn(query["msisdn"]))
    return (customer_id[:200] if customer_id else None), (complaint_id[:200] if complaint_id else None)


def masked_query(request: Request) -> str:
    items = [(k, "*" if k in MASKED_QUERY_FIELDS else v) for k, v in request.query_params.multi_items()]
    return urlencode(items)


def record_read(hub: ContactHub, keys: ApiKeys, request: Request, principal: Principal) -> None:
    """One access-log entry for this request (adapters/store/api_keys.py writes it)."""
    customer_id, complaint_id = _lookup_customer(hub, request)
    keys.record_access(principal, request.method, request.url.path, masked_query(request), customer_id, complaint_id)
