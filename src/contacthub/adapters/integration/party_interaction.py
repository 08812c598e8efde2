"""A touchpoint as a TMF683 Party Interaction (v4), and a Party Interaction's POST as a `contact.logged`.

| PartyInteraction | touchpoint (`contact.logged`, rm_contact) |
|---|---|
| `id`, `href` | its log position (unique, never reused); `/tmf-api/partyInteraction/v4/partyInteraction/{id}` |
| `channel[]` | the channel (`role`: `interactionChannel`) |
| `direction`, `reason`, `status` | direction, reason, outcome |
| `interactionDate` | `startDateTime` when it happened; `endDateTime` that plus its duration |
| `creationDate` | when ContactHub recorded it |
| `relatedParty[]` | the customer (`customer`), who handled it (`agent`) and where, when given (`site`) |
| `interactionItem[]` | the order and the complaint it concerned (`item.@referredType`: ProductOrder, TroubleTicket) |

Touchpoints of numbers nobody held (an unidentified caller's party, docs/events.md §3.13) are not
Party Interactions until they join a customer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from contacthub.adapters.integration.trouble_ticket import ticket_href

BASE = "/tmf-api/partyInteraction/v4"


def interaction_href(position: int | str) -> str:
    return f"{BASE}/partyInteraction/{position}"


def party_interaction(row: dict[str, Any]) -> dict[str, Any]:
    """The PartyInteraction for a touchpoint row (times already in the operator's zone, RFC 3339)."""
    started = row["occurred_at"]
    ended = (datetime.fromisoformat(started) + timedelta(seconds=int(row["duration_s"]))).isoformat()
    items: list[dict[str, Any]] = []
    if row.get("order_id"):
        items.append({"id": row["order_id"], "@type": "InteractionItem",
                      "item": {"id": row["order_id"], "href": f"/v1/orders/{row['order_id']}/journey", "role": "relatedOrder",
                               "@referredType": "ProductOrder", "@type": "RelatedEntityRefOrValue"}})
    if row.get("complaint_id"):
        items.append({"id": row["complaint_id"], "@type": "InteractionItem",
                      "item": {"id": row["complaint_id"], "href": ticket_href(row["complaint_id"]),
                               "role": "relatedTroubleTicket", "@referredType": "TroubleTicket",
                               "@type": "RelatedEntityRefOrValue"}})
    interaction: dict[str, Any] = {
        "id": str(row["position"]),
        "href": interaction_href(row["position"]),
        "@type": "PartyInteraction",
        "creationDate": row["recorded_at"],
        "direction": row["direction"],
        "reason": row["reason"],
        "status": row["outcome"],
        "interactionDate": {"startDateTime": started, "endDateTime": ended},
        "channel": [{"id": row["channel"], "href": f"urn:contacthub:channel:{row['channel']}", "name": row["channel"],
                     "role": "interactionChannel", "@type": "RelatedChannel"}],
        "relatedParty": [
            {"id": row["customer_id"], "href": f"/v1/customers/{row['customer_id']}", "role": "customer",
             "@referredType": "Individual", "@type": "RelatedParty"},
            {"id": row["handled_by"], "href": f"urn:contacthub:staff:{quote(row['handled_by'])}", "name": row["handled_by"],
             "role": "agent", "@referredType": "Individual", "@type": "RelatedParty"},
        ],
        "interactionItem": items,
    }
    if row.get("site"):
        interaction["relatedParty"].append({"id": row["site"], "href": f"urn:contacthub:site:{quote(row['site'])}",
                                            "name": row["site"], "role": "site", "@referredType": "Organization",
                                            "@type": "RelatedParty"})
    return interaction
