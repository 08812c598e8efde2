"""Event ids are scoped per source (issue 16, F5, first half).

The probe: the store's key claimed an event id in the hotline's pattern, and the hotline's real
event with that id was refused with 409 for good; the 409 also told any channel whether an id
existed. Now each source (a channel's binding, BOSS, each clerk) has its own namespace: the store's
`hl-1` is stored as `store/hl-1`, the hotline's as `hotline/hl-1`, and neither sees the other.
Real keys, the app as served, both backends.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import BOSS, Role
from helpers import complaint_opened, contact, registered
from support.auth import bearer, new_key


def _post(client: TestClient, key: str, *events: dict[str, Any]) -> Any:
    return client.post("/v1/events", json={"events": list(events)}, headers=bearer(key))


def _contact_ids(client: TestClient, auditor: str) -> list[str]:
    history = client.get("/v1/customers/C1/history", headers=bearer(auditor)).json()["events"]
    return [item["event_id"] for item in history if item["type"] == "contact.logged"]


def test_one_channel_can_neither_squat_nor_probe_anothers_ids(hub: ContactHub) -> None:
    boss = new_key(hub, Role.CHANNEL, channel=BOSS)
    hotline, store = new_key(hub, Role.CHANNEL, channel="hotline"), new_key(hub, Role.CHANNEL, channel="store")
    auditor = new_key(hub, Role.AUDITOR, "audit-li")
    with TestClient(create_app(hub)) as client:
        assert _post(client, boss, registered("C1", ("13800138000",))).status_code == 200

        # The store squats the hotline's next id, with its own content: stored, in the store's namespace.
        squat = _post(client, store, contact(event_id="hl-0001", channel="store", reason="plan_change"))
        assert squat.status_code == 200 and squat.json()["results"][0]["status"] == "recorded", squat.text
        # The hotline's real event with that id is stored all the same, not refused.
        real = _post(client, hotline, contact(event_id="hl-0001"))
        assert real.status_code == 200, real.text
        assert real.json()["results"] == [{"event_id": "hl-0001", "status": "recorded", "position": 3}]

        # Retries are duplicates within each namespace, answered with each one's own position.
        again = _post(client, hotline, contact(event_id="hl-0001"))
        assert again.json()["results"] == [{"event_id": "hl-0001", "status": "duplicate", "position": 3}]
        # A different content under one's own id is still a conflict.
        changed = _post(client, hotline, contact(event_id="hl-0001", reason="network_fault"))
        assert changed.status_code == 409 and changed.json()["errors"][0]["field"] == "event_id"

        # Probing: the store posting the hotline's ids learns nothing; each is a new event of its own.
        probe = _post(client, store, contact(event_id="hl-0002", channel="store"))
        assert probe.json()["results"][0]["status"] == "recorded"
        assert _post(client, hotline, contact(event_id="hl-0002")).json()["results"][0]["status"] == "recorded"

        hub.projector.catch_up()
        assert _contact_ids(client, auditor) == ["store/hl-0001", "hotline/hl-0001", "store/hl-0002", "hotline/hl-0002"]
        timeline = client.get("/v1/customers/C1/timeline", headers=bearer(new_key(hub, Role.CLERK, "store-0571-03")))
        assert timeline.status_code == 200
        assert sorted(i["event_id"] for i in timeline.json()["items"]) == [
            "hotline/hl-0001", "hotline/hl-0002", "store/hl-0001", "store/hl-0002"], timeline.text


def test_a_rotated_key_keeps_its_channels_ids(hub: ContactHub) -> None:
    boss = new_key(hub, Role.CHANNEL, channel=BOSS)
    first = new_key(hub, Role.CHANNEL, "hotline-2025", channel="hotline")
    second = new_key(hub, Role.CHANNEL, "hotline-2026", channel="hotline")
    with TestClient(create_app(hub)) as client:
        assert _post(client, boss, registered("C1", ("13800138000",))).status_code == 200
        assert _post(client, first, contact(event_id="hl-7")).json()["results"][0]["status"] == "recorded"
        assert _post(client, second, contact(event_id="hl-7")).json()["results"][0]["status"] == "duplicate"
        assert hub.event_log.head_position() == 2


def test_each_clerk_has_their_own_action_ids(hub: ContactHub) -> None:
    boss, hotline = new_key(hub, Role.CHANNEL, channel=BOSS), new_key(hub, Role.CHANNEL, channel="hotline")
    li, wang = new_key(hub, Role.CLERK, "store-0571-03"), new_key(hub, Role.CLERK, "store-0571-04")
    auditor = new_key(hub, Role.AUDITOR, "audit-li")
    with TestClient(create_app(hub)) as client:
        assert _post(client, boss, registered("C1", ("13800138000",))).status_code == 200
        assert _post(client, hotline, complaint_opened("K1", {"customer_id": "C1"})).status_code == 200

        def note(key: str, text: str) -> Any:
            return client.post("/v1/complaints/K1/actions", headers=bearer(key),
                               json={"action": "note", "channel": "store", "text": text, "event_id": "desk-1"})

        assert note(li, "客户来电").status_code == 201
        assert note(wang, "客户到厅").status_code == 201  # the same id, another clerk: stored
        repeated = note(li, "客户来电")
        assert repeated.status_code == 200 and repeated.json()["result"] == "duplicate", repeated.text
        hub.projector.catch_up()
        history = client.get("/v1/customers/C1/history", headers=bearer(auditor)).json()["events"]
        assert [i["event_id"] for i in history if i["type"] == "complaint.noted"] == [
            "clerk:store-0571-03/desk-1", "clerk:store-0571-04/desk-1"]


def test_a_channel_retrying_across_the_upgrade_gets_duplicate(hub: ContactHub) -> None:
    """Keys stored before ids were scoped (migration 0014 leaves their source empty) still answer
    their bare id: a channel's retry is a duplicate, never a second copy."""
    # Before the upgrade: events stored under the ids as posted.
    before = hub.ingest.ingest([registered("C1", ("13800138000",), event_id="reg-1"), contact(event_id="hl-0001")])
    with hub.event_log.read_store.transaction(commit=True) as sql:
        sql.execute("UPDATE ingest_keys SET source = NULL")
    hotline, store = new_key(hub, Role.CHANNEL, channel="hotline"), new_key(hub, Role.CHANNEL, channel="store")
    with TestClient(create_app(hub)) as client:
        retry = _post(client, hotline, contact(event_id="hl-0001"), contact(event_id="hl-0002"))
        assert retry.status_code == 200, retry.text
        assert retry.json()["results"][0] == {"event_id": "hl-0001", "status": "duplicate",
                                              "position": before.results[1].position}
        assert retry.json()["results"][1]["status"] == "recorded"
        assert hub.event_log.head_position() == 3
        # An id stored before the upgrade stays taken for other content (it cannot be told whose it was).
        other = _post(client, store, contact(event_id="hl-0001", channel="store"))
        assert other.status_code == 409 and other.json()["errors"][0]["field"] == "event_id"
        hub.projector.catch_up()
        stored = [r["event_id"] for r in hub.event_log.read_store.query("SELECT event_id FROM rm_contact ORDER BY position")]
        assert stored == ["hl-0001", "hotline/hl-0002"]
