"""Refusals to channel keys name no other customer (issue 16, F5, second half).

The probe: a channel key's 409 messages mapped phone numbers and complaint ids to customer ids
("complaint K1 already belongs to customer C1"), so any channel could learn whose a number was.
Clerks (who may read customers) still get the names. Real keys, the app as served, both backends.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import BOSS, Role
from helpers import complaint_opened, event, registered
from support.auth import bearer, new_key


def test_a_channel_key_learns_no_customer_from_a_refusal(hub: ContactHub) -> None:
    boss, hotline = bearer(new_key(hub, Role.CHANNEL, channel=BOSS)), bearer(new_key(hub, Role.CHANNEL, channel="hotline"))
    store = bearer(new_key(hub, Role.CHANNEL, channel="store"))
    with TestClient(create_app(hub)) as client:
        assert client.post("/v1/events", json={"events": [
            registered("SECRET-C1", ("13800138000",)), registered("SECRET-C2", ("13900139000",))]}, headers=boss).status_code == 200
        assert client.post("/v1/events", json={"events": [complaint_opened("K1")]}, headers=hotline).status_code == 200

        refusals = [
            # a complaint id another customer holds, opened for a customer found by number
            client.post("/v1/events", json={"events": [complaint_opened("K1", {"msisdn": "13900139000"}, channel="store",
                                                                        event_id="store-k1")]}, headers=store),
            # a number another customer holds
            client.post("/v1/events", json={"events": [registered("C3", ("13800138000",), event_id="reg-c3")]}, headers=boss),
            # a step on a complaint that is another customer's than the one found by number
            client.post("/v1/events", json={"events": [event("complaint.noted", {"msisdn": "13900139000"}, complaint_id="K1",
                                                             by="agent-7", channel="hotline", text="x", event_id="note-1")]},
                        headers=hotline),
        ]
        for refused in refusals:
            assert refused.status_code == 409, refused.text
            assert "SECRET" not in refused.text, refused.text
        assert "already belongs to another customer" in refusals[0].text and "already belongs to another customer" in refusals[1].text
        assert all("already belongs to another customer" in r.text for r in refusals)

        # Named by customer_id, the same: the complaint's owner stays unnamed.
        named = client.post("/v1/events", json={"events": [event("complaint.noted", {"customer_id": "SECRET-C2"},
                                                                 complaint_id="K1", by="agent-7", channel="hotline",
                                                                 text="x", event_id="note-2")]}, headers=hotline)
        assert named.status_code == 409 and "SECRET-C1" not in named.text
        assert "complaint K1 already belongs to another customer" in named.text
