"""A complaint as a TMF621 Trouble Ticket (v4), and a ticket's PATCH as complaint actions.

The facade is a view: every attribute comes from the complaint read model (projections/
complaint_queries.py), and every change is an ordinary complaint action (services/
complaint_actions.py). The mapping:

| TroubleTicket | complaint |
|---|---|
| `id`, `href` | complaint id; `/tmf-api/troubleTicket/v4/troubleTicket/{id}` |
| `description`, `ticketType`, `name`, `severity` | summary, category, category, severity |
| `status`, `statusChangeDate`, `statusChangeReason` | status (already TMF621's vocabulary), its last change |
| `statusChange[]` | the status history |
| `creationDate`, `lastUpdate`, `resolutionDate` | opened, last changed, resolved |
| `expectedResolutionDate` | the SLA clock's deadline (none while the clock is paused) |
| `externalId` | the opening event's id as its poster gave it (a TMF POST's `externalId`) |
| `channel` | the channel it was opened in |
| `relatedParty[]` | the customer (`customer`), the owner (`owner`), earlier owners (`previousOwner`) |
| `relatedEntity[]` | the related touchpoints (`relatedInteraction`, TMF683 PartyInteraction) |
| `note[]` | the notes (`complaint.noted`) |
"""

from __future__ import annotations

from typing import Any

from contacthub.domain.roles import ID_SCOPE_SEPARATOR

BASE = "/tmf-api/troubleTicket/v4"
INTERACTIONS = "/tmf-api/partyInteraction/v4/partyInteraction"


def ticket_href(complaint_id: str) -> str:
    return f"{BASE}/troubleTicket/{complaint_id}"


def external_id(event_id: str) -> str:
    """The opening event's id as its poster gave it: the stored id without its source's scope."""
    return event_id.split(ID_SCOPE_SEPARATOR, 1)[1] if ID_SCOPE_SEPARATOR in event_id else event_id


def trouble_ticket(complaint: dict[str, Any]) -> dict[str, Any]:
    """The TroubleTicket for a complaint as `ComplaintQueries.complaint` reads it."""
    history = complaint["history"]
    changes = complaint["status_change_history"]
    last_change = changes[-1] if changes else None
    parties: list[dict[str, Any]] = [
        {"id": complaint["customer_id"], "href": f"/v1/customers/{complaint['customer_id']}", "role": "customer",
         "@referredType": "Individual", "@type": "RelatedParty"},
        {"id": complaint["owner"], "name": complaint["owner"], "role": "owner", "@referredType": "Individual",
         "@type": "RelatedParty"},
    ]
    earlier = [o["owner"] for o in complaint["ownership_history"] if o["owner"] != complaint["owner"]]
    parties += [{"id": owner, "name": owner, "role": "previousOwner", "@referredType": "Individual", "@type": "RelatedParty"}
                for owner in dict.fromkeys(earlier)]
    ticket: dict[str, Any] = {
        "id": complaint["complaint_id"],
        "href": ticket_href(complaint["complaint_id"]),
        "@type": "TroubleTicket",
        "name": complaint["category"],
        "description": complaint["summary"],
        "ticketType": complaint["category"],
        "severity": complaint["severity"],
        "status": complaint["status"],
        "creationDate": complaint["opened_at"],
        "lastUpdate": complaint["last_changed_at"],
        "externalId": external_id(history[0]["event_id"]) if history else None,
        "channel": {"id": complaint["opened_channel"], "name": complaint["opened_channel"], "@referredType": "Channel"},
        "relatedParty": parties,
        "relatedEntity": [
            {"id": str(c["position"]), "href": f"{INTERACTIONS}/{c['position']}", "name": c["reason"],
             "role": "relatedInteraction", "@referredType": "PartyInteraction", "@type": "RelatedEntity"}
            for c in complaint["related_contacts"]
        ],
        "statusChange": [
            {"status": c["status"], "changeDate": c["at"], **({"changeReason": c["reason"]} if c["reason"] else {}),
             "@type": "StatusChange"}
            for c in changes
        ],
        "note": [
            {"id": h["event_id"], "author": h["by"] or "", "date": h["at"], "text": h["reason"] or "", "@type": "Note"}
            for h in history if h["type"] == "complaint.noted"
        ],
    }
    if last_change is not None:
        ticket["statusChangeDate"] = last_change["at"]
        if last_change["reason"]:
            ticket["statusChangeReason"] = last_change["reason"]
    deadline = complaint["sla"]["deadline"]
    if deadline is not None:
        ticket["expectedResolutionDate"] = deadline
    if complaint["resolved_at"] is not None:
        ticket["resolutionDate"] = complaint["resolved_at"]
    return {k: v for k, v in ticket.items() if v is not None}


# --- PATCH: a merge patch as complaint actions -----------------------------------------------------------

STATUS_ACTIONS = {
    "inProgress": "start",
    "pending": "pend",
    "held": "hold",
    "resolved": "resolve",
    "closed": "close",
    "cancelled": "cancel",
    "rejected": "reject",
}
"""The action that takes a complaint to each status; `inProgress` from pending or held is `resume`,
from resolved `reopen` (chosen by the current status)."""
CHANGEABLE = frozenset({"status", "statusChangeReason", "note", "relatedParty"})
"""What a PATCH may change; every other attribute is fixed once the ticket is open (400 when a patch gives
it a value other than the ticket's)."""


class PatchProblem(ValueError):
    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def patch_actions(current: dict[str, Any], patch: dict[str, Any], by: str) -> list[dict[str, Any]]:
    """The complaint actions (bodies for ComplaintActions.take, less `channel`) a merge patch asks for, in order:
    new notes, a new owner (handover), then the status change."""
    shown = trouble_ticket(current)
    fixed = sorted(k for k in set(patch) - CHANGEABLE if patch[k] != shown.get(k))  # repeating a value changes nothing
    if fixed:
        raise PatchProblem(fixed[0], f"{fixed[0]} cannot be changed through PATCH; changeable: {', '.join(sorted(CHANGEABLE))}")
    actions: list[dict[str, Any]] = []
    notes = patch.get("note")
    if notes is not None:
        if not isinstance(notes, list) or not all(isinstance(n, dict) for n in notes):
            raise PatchProblem("note", "note must be a list of Note objects")
        known = {n["id"] for n in shown.get("note", [])}
        for n in notes:
            if n.get("id") in known:
                continue  # a merge patch repeats the notes it keeps
            if not isinstance(n.get("text"), str) or not n["text"].strip():
                raise PatchProblem("note", "a new note needs a text")
            actions.append({"action": "note", "text": n["text"]})
    parties = patch.get("relatedParty")
    if parties is not None:
        if not isinstance(parties, list) or not all(isinstance(p, dict) for p in parties):
            raise PatchProblem("relatedParty", "relatedParty must be a list of RelatedParty objects")
        owners = [p for p in parties if p.get("role") == "owner"]
        if len(owners) > 1:
            raise PatchProblem("relatedParty", "at most one party with role owner")
        customer = [p for p in parties if p.get("role") == "customer"]
        if any(p.get("id") != current["customer_id"] for p in customer):
            raise PatchProblem("relatedParty", "the customer of a ticket cannot be changed")
        if owners and owners[0].get("id") != current["owner"]:
            new_owner = owners[0].get("id")
            if not isinstance(new_owner, str) or not new_owner.strip():
                raise PatchProblem("relatedParty", "the owner party needs an id")
            reason = patch.get("statusChangeReason") or "handed over through TMF621"
            actions.append({"action": "handover", "to": new_owner, "reason": reason})
    status = patch.get("status")
    if status is not None and status != current["status"]:
        action = _status_action(current["status"], status)
        body: dict[str, Any] = {"action": action}
        reason = patch.get("statusChangeReason")
        if action in ("pend", "hold", "cancel", "reject", "reopen", "start", "resume") and reason:
            body["reason"] = reason
        if action in ("pend", "hold", "cancel", "reject", "reopen") and not reason:
            raise PatchProblem("statusChangeReason", f"a change to {status} needs a statusChangeReason")
        if action == "resolve":
            body["resolution"] = reason or "resolved"
        actions.append(body)
    elif "statusChangeReason" in patch and status is None and "relatedParty" not in patch:
        raise PatchProblem("statusChangeReason", "statusChangeReason goes with a change of status or owner")
    for a in actions:
        a["by"] = by
    return actions


def _status_action(current: str, wanted: str) -> str:
    if wanted == "inProgress":
        if current in ("pending", "held"):
            return "resume"
        if current == "resolved":
            return "reopen"
        return "start"
    if wanted == "acknowledged":
        raise PatchProblem("status", f"a ticket cannot go back to acknowledged (it is {current})", 409)
    action = STATUS_ACTIONS.get(wanted)
    if action is None:
        raise PatchProblem("status", f"unknown status {wanted!r}")
    return action
