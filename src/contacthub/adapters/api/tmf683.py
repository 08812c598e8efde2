"""TMF683 Party Interaction v4 at /tmf-api/partyInteraction/v4: touchpoints in TM Forum's terms.

A thin adapter over the touchpoints read model (adapters/integration/party_interaction.py);
creating one posts `contact.logged` through the ingest service as the channel would. Touchpoints
are immutable facts: there is no PATCH or DELETE. The idempotency key of a create is the
`Idempotency-Key` header (the event id); without it every POST records a new touchpoint.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from contacthub.adapters.api.tmf import (
    TMF_RESPONSES,
    ResourceOut,
    add_hub,
    body_documentation,
    chosen,
    customer_party,
    fields_documentation,
    json_object,
    list_documentation,
    list_parameters,
    listed,
    single_parameters,
    text,
)
from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.dependencies import Hub, require
from contacthub.adapters.http.errors import ApiError, JsonResponse
from contacthub.adapters.integration.party_interaction import BASE, interaction_href, party_interaction
from contacthub.domain.roles import Capability, Principal, event_refusal
from contacthub.domain.subscriptions import SubscriptionApi
from contacthub.domain.vocabulary import Channel, Direction, Outcome
from contacthub.services.ingest import IngestRejected

router = APIRouter(prefix=BASE, tags=["TMF683 Party Interaction"], responses=TMF_RESPONSES)

FILTERS = {"channel.id": "channel", "direction": "direction", "reason": "reason", "status": "outcome",
           "relatedParty.id": "customer_id"}
_MSISDN = re.compile(r"^\+?\d{5,15}$")
NOT_KEPT = frozenset({"note", "attachment", "interactionRelationship", "description"})
EVENT_FIELDS = {"channel": "channel", "direction": "direction", "reason": "reason", "outcome": "status",
                "occurred_at": "interactionDate", "duration_s": "interactionDate", "customer_id": "relatedParty",
                "msisdn": "relatedParty", "handled_by": "relatedParty", "order_id": "interactionItem",
                "complaint_id": "interactionItem", "event_id": "Idempotency-Key"}

Reading = Annotated[Principal, Depends(require(Capability.READ_CUSTOMERS))]
Creating = Annotated[Principal, Depends(require(Capability.INGEST))]


@router.get("/partyInteraction", summary="List party interactions (touchpoints), newest first: filters, fields, paging",
            responses={200: {"model": list[ResourceOut], "description": "PartyInteraction[]; X-Total-Count, X-Result-Count"}},
            openapi_extra=list_documentation(FILTERS))
async def list_interactions(request: Request, hub: Hub, principal: Reading) -> Any:
    offset, limit, fields, equal = list_parameters(request, FILTERS)

    def read() -> Any:
        rows, total = hub.customers.touchpoints({FILTERS[k]: v for k, v in equal.items()}, offset, limit)
        record_shown(request, (r["customer_id"] for r in rows))
        return listed([chosen(party_interaction(r), fields) for r in rows], total)

    return await run_in_threadpool(read)


@router.get("/partyInteraction/{id}", summary="One party interaction by its id (the touchpoint's log position)",
            responses={200: {"model": ResourceOut, "description": "PartyInteraction"}}, openapi_extra=fields_documentation())
async def get_interaction(request: Request, hub: Hub, id: str, principal: Reading) -> Any:
    fields = single_parameters(request)

    def read() -> Any:
        row = hub.customers.touchpoint(int(id)) if id.isascii() and id.isdigit() and len(id) <= 18 else None
        if row is None:
            raise ApiError(404, "id", f"no partyInteraction {id}")
        record_shown(request, [row["customer_id"]])
        return JsonResponse(chosen(party_interaction(row), fields))

    return await run_in_threadpool(read)


def _one(items: Any, name: str, pick: str) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApiError(400, name, f"{name} is a list of {pick} objects")
    return items


def _moment(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "interactionDate", f"{name} is an RFC 3339 date-time with an offset") from None
    if moment.tzinfo is None:
        raise ApiError(400, "interactionDate", f"{name} needs an offset (e.g. +08:00)")
    return moment


def _contact(body: dict[str, Any], principal: Principal, idempotency_key: str | None) -> dict[str, Any]:
    """The `contact.logged` a PartyInteraction_Create stands for."""
    refused = sorted(NOT_KEPT & set(body))
    if refused:
        raise ApiError(400, refused[0], f"{refused[0]} is not kept by ContactHub: leave it out")
    channels = _one(body.get("channel"), "channel", "RelatedChannel")
    named = [c for c in channels if c.get("role") in (None, "interactionChannel")]
    if len(named) != 1 or named[0].get("id") not in {c.value for c in Channel}:
        raise ApiError(400, "channel", f"one channel (role interactionChannel) whose id is one of "
                                       f"{', '.join(c.value for c in Channel)}")
    channel = named[0]["id"]
    why = event_refusal(principal, channel)
    if why is not None:
        raise ApiError(403, "channel", why)
    direction = body.get("direction")
    if direction not in {d.value for d in Direction}:
        raise ApiError(400, "direction", f"direction is one of {', '.join(d.value for d in Direction)}")
    status = body.get("status")
    if status not in {o.value for o in Outcome}:
        raise ApiError(400, "status", f"status (the outcome) is one of {', '.join(o.value for o in Outcome)}")
    reason = text(body, "reason", required=True, limit=200)
    period = body.get("interactionDate")
    if not isinstance(period, dict) or "startDateTime" not in period:
        raise ApiError(400, "interactionDate", "interactionDate needs a startDateTime")
    started = _moment(period["startDateTime"], "startDateTime")
    duration = 0
    if period.get("endDateTime") is not None:
        duration = int((_moment(period["endDateTime"], "endDateTime") - started).total_seconds())
        if not 0 <= duration <= 86_400:
            raise ApiError(400, "interactionDate", "endDateTime is from startDateTime to a day after it")
    parties = _one(body.get("relatedParty"), "relatedParty", "RelatedParty")
    customers = [p for p in parties if p.get("role") == "customer"]
    agents = [p for p in parties if p.get("role") == "agent"]
    sites = [p for p in parties if p.get("role") == "site"]
    if len(customers) != 1 or not isinstance(customers[0].get("id"), str) or len(agents) > 1 or len(sites) > 1:
        raise ApiError(400, "relatedParty", "one party with role customer (a customer id or an MSISDN), at most one "
                                            "agent and one site")
    party = customers[0]["id"].strip()
    handled_by = agents[0].get("id") if agents else principal.name
    if not isinstance(handled_by, str) or not handled_by.strip():
        raise ApiError(400, "relatedParty", "the agent party needs an id")
    contact: dict[str, Any] = {
        "type": "contact.logged", "event_id": idempotency_key or f"tmf683-{uuid.uuid4()}",
        **({"msisdn": party} if _MSISDN.match(party) else {"customer_id": party}),
        "occurred_at": started.isoformat(), "channel": channel, "direction": direction, "reason": reason,
        "handled_by": handled_by, "duration_s": duration, "outcome": status,
    }
    if sites:
        if not isinstance(sites[0].get("id"), str) or not sites[0]["id"].strip():
            raise ApiError(400, "relatedParty", "the site party needs an id")
        contact["site"] = sites[0]["id"]
    for item in _one(body.get("interactionItem"), "interactionItem", "InteractionItem"):
        given = item.get("item")
        ref: dict[str, Any] = given if isinstance(given, dict) else {}
        kind = ref.get("@referredType")
        target = {"ProductOrder": "order_id", "TroubleTicket": "complaint_id"}.get(str(kind))
        if target is None or target in contact:
            raise ApiError(400, "interactionItem", "an item is one ProductOrder and/or one TroubleTicket, by item.id")
        contact[target] = ref.get("id") or item.get("id")
    return contact


@router.post("/partyInteraction", status_code=201, summary="Record a party interaction: a touchpoint (a channel's key)",
             responses={201: {"model": ResourceOut, "description": "PartyInteraction (also for a retry: X-ContactHub-Result)"}},
             openapi_extra=body_documentation(["channel", "direction", "reason", "status", "interactionDate", "relatedParty"], {
                 "channel": {"type": "array", "items": {"type": "object"}}, "direction": {"type": "string"},
                 "reason": {"type": "string"}, "status": {"type": "string"}, "interactionDate": {"type": "object"},
                 "relatedParty": {"type": "array", "items": {"type": "object"}},
                 "interactionItem": {"type": "array", "items": {"type": "object"}}}))
async def create_interaction(request: Request, hub: Hub, principal: Creating) -> Any:
    body = await json_object(request)
    key = request.headers.get("idempotency-key")
    contact = _contact(body, principal, key)
    await run_in_threadpool(customer_party, hub, contact)

    def create() -> Any:
        try:
            outcome = hub.ingest.ingest([contact], posted_by=principal.key_id, name_customers=False,
                                        source=principal.event_source())
        except IngestRejected as rejected:
            first = rejected.errors[0]
            message = "; ".join(f"{EVENT_FIELDS.get(e.field, e.field)}: {e.message}" for e in rejected.errors)
            raise ApiError(400 if rejected.status_code == 422 else rejected.status_code,
                           EVENT_FIELDS.get(first.field, first.field), message) from None
        result = outcome.results[0]
        headers = {"Location": interaction_href(result.position), "X-ContactHub-Result": result.status}
        hub.projector.wait_for(result.position, hub.settings.read_wait_timeout_s)  # a clerk's next read finds it
        # What the channel sent and the interaction's id: a channel's key may not learn whose a number is.
        made = {"id": str(result.position), "href": headers["Location"], "@type": "PartyInteraction",
                "direction": contact["direction"], "reason": contact["reason"], "status": contact["outcome"],
                "interactionDate": body["interactionDate"], "channel": [
                    {"id": contact["channel"], "href": f"urn:contacthub:channel:{contact['channel']}",
                     "name": contact["channel"], "role": "interactionChannel", "@type": "RelatedChannel"}],
                "relatedParty": [{"id": str(p["id"]), "href": str(p.get("href") or f"urn:contacthub:party:{p['id']}"),
                                  "role": p["role"], "@referredType": str(p.get("@referredType") or "Individual")}
                                 for p in body.get("relatedParty") or [] if p.get("role") in ("customer", "agent", "site")]}
        return JsonResponse(made, status_code=201, headers=headers)

    return await run_in_threadpool(create)


add_hub(router, SubscriptionApi.PARTY_INTERACTION, BASE, "party-interaction")
