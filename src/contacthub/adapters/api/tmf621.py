"""TMF621 Trouble Ticket v4 at /tmf-api/troubleTicket/v4: complaints in TM Forum's terms.

A thin adapter: a ticket is a complaint as the complaint read model has it
(adapters/integration/trouble_ticket.py), creating one posts `complaint.opened` through the
ingest service as a channel would, and a PATCH takes the complaint actions a clerk would. Keys
and roles are the API's own: a channel's key creates tickets in its channel, clerks, auditors
and integrations read them, clerks change them, integrations subscribe to the hub.
"""

from __future__ import annotations

import hashlib
import re
import uuid
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
from contacthub.adapters.integration.trouble_ticket import BASE, PatchProblem, external_id, patch_actions, trouble_ticket
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import ID_SCOPE_SEPARATOR, Capability, Principal, event_refusal
from contacthub.domain.subscriptions import SubscriptionApi
from contacthub.domain.vocabulary import Channel, Severity
from contacthub.projections.complaint_queries import QueueFilter
from contacthub.services.complaint_actions import UnknownComplaint
from contacthub.services.ingest import IngestRejected

router = APIRouter(prefix=BASE, tags=["TMF621 Trouble Ticket"], responses=TMF_RESPONSES)

FILTERS = {
    "status": "statuses", "severity": "severity", "ticketType": "category", "name": "category",
    "channel.id": "channel", "relatedParty.id": "customer_id",
}
"""Attribute-equality filters of the list, and the complaint queue's filter each is."""
_MSISDN = re.compile(r"^\+?\d{5,15}$")
READ_ONLY = frozenset({
    "id", "href", "creationDate", "lastUpdate", "status", "statusChange", "statusChangeDate", "statusChangeReason",
    "expectedResolutionDate", "resolutionDate", "relatedEntity", "troubleTicketRelationship", "priority",
    "requestedResolutionDate", "name", "@type", "@baseType", "@schemaLocation",
})
"""Attributes a create may carry that ContactHub sets itself (status, dates, SLA) or does not keep; ignored."""
NOT_KEPT = frozenset({"note", "attachment"})
"""Attributes a create may not carry: notes are added by PATCH once the ticket exists; attachments are not kept."""
EVENT_FIELDS = {"summary": "description", "category": "ticketType", "severity": "severity", "handled_by": "relatedParty",
                "customer_id": "relatedParty", "msisdn": "relatedParty", "event_id": "externalId",
                "complaint_id": "externalId", "channel": "channel", "occurred_at": "creationDate"}
"""An ingest refusal names the event's field; the ticket's attribute is named instead."""


def _ticket_or_404(hub: ContactHub, complaint_id: str) -> dict[str, Any]:
    complaint = hub.complaints.complaint(complaint_id)
    if complaint is None:
        raise ApiError(404, "id", f"no troubleTicket {complaint_id}")
    return complaint


@router.get("/troubleTicket", summary="List trouble tickets (complaints): filters, fields, offset/limit, count headers",
            responses={200: {"model": list[ResourceOut], "description": "TroubleTicket[]; X-Total-Count, X-Result-Count"}},
            openapi_extra=list_documentation(FILTERS),
            dependencies=[Depends(require(Capability.READ_CUSTOMERS))])
async def list_tickets(request: Request, hub: Hub) -> Any:
    offset, limit, fields, equal = list_parameters(request, FILTERS)
    chosen_filters: dict[str, Any] = {FILTERS[name]: value for name, value in equal.items()}
    if "statuses" in chosen_filters:
        chosen_filters["statuses"] = (chosen_filters["statuses"],)
    queue = QueueFilter(**chosen_filters, sort="newest", with_duplicates=True)  # every ticket is a ticket

    def read() -> Any:
        if "name" in equal and "ticketType" in equal and equal["name"] != equal["ticketType"]:
            return listed([], 0)
        rows, total = hub.complaints.queue_slice(queue, offset, limit)
        tickets = [trouble_ticket(c) for c in (hub.complaints.complaint(r["complaint_id"]) for r in rows) if c]
        record_shown(request, (t["relatedParty"][0]["id"] for t in tickets))
        return listed([chosen(t, fields) for t in tickets], total)

    return await run_in_threadpool(read)


@router.get("/troubleTicket/{id}", summary="One trouble ticket by its id (the complaint id)",
            responses={200: {"model": ResourceOut, "description": "TroubleTicket"}}, openapi_extra=fields_documentation(),
            dependencies=[Depends(require(Capability.READ_CUSTOMERS))])
async def get_ticket(request: Request, hub: Hub, id: str) -> Any:
    fields = single_parameters(request)

    def read() -> Any:
        ticket = trouble_ticket(_ticket_or_404(hub, id))
        record_shown(request, [ticket["relatedParty"][0]["id"]])
        return JsonResponse(chosen(ticket, fields))

    return await run_in_threadpool(read)


def _party(body: dict[str, Any], role: str) -> dict[str, Any] | None:
    parties = body.get("relatedParty")
    if parties is None:
        return None
    if not isinstance(parties, list) or not all(isinstance(p, dict) for p in parties):
        raise ApiError(400, "relatedParty", "relatedParty is a list of RelatedParty objects")
    found = [p for p in parties if p.get("role") == role]
    if len(found) > 1:
        raise ApiError(400, "relatedParty", f"at most one party with role {role}")
    if found and (not isinstance(found[0].get("id"), str) or not found[0]["id"].strip()):
        raise ApiError(400, "relatedParty", f"the {role} party needs an id")
    return found[0] if found else None


def _given_parties(body: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """The parties of `role` as the request gave them (id, href, name only)."""
    return [{k: p[k] for k in ("id", "href", "name") if isinstance(p.get(k), str)}
            for p in body.get("relatedParty") or [] if isinstance(p, dict) and p.get("role") == role]


def _opening(body: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The `complaint.opened` a TroubleTicket_Create stands for."""
    refused = sorted(NOT_KEPT & set(body))
    if refused:
        raise ApiError(400, refused[0], "notes are added with PATCH once the ticket exists"
                       if refused[0] == "note" else "attachments are not kept by ContactHub")
    description = text(body, "description", required=True, limit=2000)
    ticket_type = text(body, "ticketType", required=True, limit=200)
    severity = body.get("severity")
    if severity not in {s.value for s in Severity}:
        raise ApiError(400, "severity", f"severity is one of {', '.join(s.value for s in Severity)}")
    status = body.get("status")
    if status not in (None, "acknowledged"):
        raise ApiError(400, "status", "a new ticket is acknowledged; change its status with PATCH")
    customer = _party(body, "customer")
    if customer is None:
        raise ApiError(400, "relatedParty", "a party with role customer is required: its id is a customer id or an MSISDN")
    owner = _party(body, "owner")
    channel_ref = body.get("channel")
    channel = principal.channel
    if channel_ref is not None:
        if not isinstance(channel_ref, dict):
            raise ApiError(400, "channel", "channel is a ChannelRef object {id, name}")
        channel = channel_ref.get("id") or channel_ref.get("name")
        if channel not in {c.value for c in Channel}:
            raise ApiError(400, "channel", f"channel id is one of {', '.join(c.value for c in Channel)}")
    why = event_refusal(principal, channel)
    if why is not None:
        raise ApiError(403, "channel", why)
    external = body.get("externalId")
    if external is not None and (not isinstance(external, str) or not external):
        raise ApiError(400, "externalId", "externalId is non-empty text: your ticket's id, the idempotency key")
    source = principal.event_source()
    if external is None:
        complaint_id, event_id = f"TT-{uuid.uuid4().hex[:16].upper()}", f"tmf621-{uuid.uuid4()}"
    else:
        # The same externalId from the same channel is the same ticket: a retry finds the first.
        digest = hashlib.sha256(f"{source}{ID_SCOPE_SEPARATOR}{external}".encode()).hexdigest()
        complaint_id, event_id = f"TT-{digest[:16].upper()}", external
    party = customer["id"].strip()
    who = {"msisdn": party} if _MSISDN.match(party) else {"customer_id": party}
    return {
        "type": "complaint.opened", "event_id": event_id, **who, "complaint_id": complaint_id,
        "category": ticket_type, "severity": severity, "summary": description, "channel": channel,
        "handled_by": owner["id"] if owner else principal.name,
    }


def _refusal(rejected: IngestRejected) -> ApiError:
    first = rejected.errors[0]
    field = EVENT_FIELDS.get(first.field, first.field)
    message = "; ".join(f"{EVENT_FIELDS.get(e.field, e.field)}: {e.message}" for e in rejected.errors)
    return ApiError(400 if rejected.status_code == 422 else rejected.status_code, field, message)


Creating = Annotated[Principal, Depends(require(Capability.INGEST))]
Changing = Annotated[Principal, Depends(require(Capability.ACT_ON_COMPLAINTS, record=True))]


@router.post("/troubleTicket", status_code=201, summary="Create a trouble ticket: opens a complaint (a channel's key)",
             responses={201: {"model": ResourceOut, "description": "TroubleTicket (also for a retry: X-ContactHub-Result)"}},
             openapi_extra=body_documentation(["description", "severity", "ticketType", "relatedParty"], {
                 "description": {"type": "string"}, "severity": {"type": "string", "enum": [s.value for s in Severity]},
                 "ticketType": {"type": "string"}, "externalId": {"type": "string"},
                 "channel": {"type": "object", "properties": {"id": {"type": "string"}}},
                 "relatedParty": {"type": "array", "items": {"type": "object"}}}))
async def create_ticket(request: Request, hub: Hub, principal: Creating) -> Any:
    body = await json_object(request)
    opening = _opening(body, principal)
    await run_in_threadpool(customer_party, hub, opening)
    opening["occurred_at"] = hub.clock().isoformat()

    def create() -> Any:
        try:
            outcome = hub.ingest.ingest([opening], posted_by=principal.key_id, name_customers=False,
                                        source=principal.event_source(), digest_ignores=frozenset({"occurred_at"}))
        except IngestRejected as rejected:
            raise _refusal(rejected) from None
        result = outcome.results[0]
        complaint_id = opening["complaint_id"]
        headers = {"Location": f"{BASE}/troubleTicket/{complaint_id}", "X-ContactHub-Result": result.status,
                   "X-ContactHub-Position": str(result.position)}
        hub.projector.wait_for(result.position, hub.settings.read_wait_timeout_s)  # a clerk's next read finds it
        # Only what the channel sent and the ticket's id: a channel's key may not learn whose a number
        # is, nor read the ticket's later history, owners and notes (a clerk's or an integration's GET).
        ticket = {"id": complaint_id, "href": headers["Location"], "@type": "TroubleTicket",
                  "description": opening["summary"], "ticketType": opening["category"], "name": opening["category"],
                  "severity": opening["severity"], "status": "acknowledged", "externalId": external_id(opening["event_id"]),
                  "creationDate": opening["occurred_at"],
                  "channel": {"id": opening["channel"], "name": opening["channel"], "@referredType": "Channel"},
                  "relatedParty": [{**party, "role": "customer", "@referredType": party.get("@referredType", "Individual")}
                                   for party in _given_parties(body, "customer")]}
        return JsonResponse(ticket, status_code=201, headers=headers)

    return await run_in_threadpool(create)


@router.patch("/troubleTicket/{id}", summary="Change a trouble ticket (merge patch): status, notes, owner (a clerk)",
              responses={200: {"model": ResourceOut, "description": "TroubleTicket"}},
              openapi_extra=body_documentation([], {
                  "status": {"type": "string"}, "statusChangeReason": {"type": "string"},
                  "note": {"type": "array", "items": {"type": "object"}},
                  "relatedParty": {"type": "array", "items": {"type": "object"}}},
                  ("application/merge-patch+json", "application/json")))
async def patch_ticket(request: Request, hub: Hub, id: str, principal: Changing) -> Any:
    patch = await json_object(request, patch=True)
    channel = request.headers.get("x-contacthub-channel")
    if channel is not None and channel not in {c.value for c in Channel}:
        raise ApiError(400, "X-ContactHub-Channel", f"one of {', '.join(c.value for c in Channel)}")

    def change() -> Any:
        current = _ticket_or_404(hub, id)
        record_shown(request, [current["customer_id"]])
        try:
            actions = patch_actions(current, patch, principal.name)
        except PatchProblem as problem:
            raise ApiError(problem.status, problem.field, str(problem)) from None
        for action in actions:
            if action["action"] not in current["allowed_actions"]:
                raise ApiError(409, "status", f"ticket {id} is {current['status']}; '{action['action']}' is not allowed "
                                              f"(allowed: {', '.join(current['allowed_actions']) or 'none'})")
        if not actions:  # nothing changes: the ticket as it is
            return JsonResponse(trouble_ticket(current))
        key = request.headers.get("idempotency-key")
        try:  # every step of the patch is recorded, or none
            outcomes = hub.complaint_actions.take_all(
                id, [{**action, "channel": channel or current["opened_channel"]} for action in actions],
                actor=principal, key=f"tmf621-patch-{key}" if key else None)
        except UnknownComplaint:
            raise ApiError(404, "id", f"no troubleTicket {id}") from None
        except IngestRejected as rejected:
            raise _refusal(rejected) from None
        position = max((o.position for o in outcomes), default=0)
        if position and not hub.projector.wait_for(position, hub.settings.read_wait_timeout_s):
            raise ApiError(503, "id", "the change is recorded; the ticket is not updated yet: GET it shortly",
                           {"Retry-After": "1"})
        return JsonResponse(trouble_ticket(_ticket_or_404(hub, id)))

    return await run_in_threadpool(change)


add_hub(router, SubscriptionApi.TROUBLE_TICKET, BASE, "trouble-ticket")
