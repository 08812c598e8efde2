"""Keys and desk sessions (issue 16, F7 and F8): who created and revoked each key, look-alike names refused,
and a desk login that is a server-side session, never the API key in a cookie.

Real keys, the app as served (no test override), both backends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from contacthub.adapters.cli import main
from contacthub.adapters.http.app import create_app
from contacthub.adapters.http.authentication import SESSION_COOKIE
from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import BOSS, Role
from helpers import complaint_opened, registered
from support.auth import bearer, new_key


@pytest.fixture
def served(hub: ContactHub) -> Iterator[TestClient]:
    with TestClient(create_app(hub)) as client:
        yield client


@pytest.mark.parametrize("name", [
    "demo-clerk ",          # trailing space
    " demo-clerk",          # leading space
    "demo\u200bclerk",      # zero-width space
    "demo\u2011clerk",      # non-breaking hyphen
    "demo\u202eclerk",      # right-to-left override
    "dem\u043e-clerk",      # Cyrillic o
    "demo\uff0dclerk",      # fullwidth hyphen-minus
    "demo  clerk",          # two spaces
    "DEMO-CLERK",           # the same name but for case
])
def test_look_alike_key_names_are_refused(served: TestClient, hub: ContactHub, name: str) -> None:
    """F7: an admin could mint `demo\u2011clerk` beside `demo-clerk`, and nothing told them apart."""
    admin = bearer(new_key(hub, Role.ADMIN, "it-ops"))
    assert served.post("/v1/keys", json={"role": "clerk", "name": "demo-clerk"}, headers=admin).status_code == 201
    refused = served.post("/v1/keys", json={"role": "clerk", "name": name}, headers=admin)
    assert refused.status_code in (409, 422), refused.text
    assert refused.json()["errors"][0]["field"] == "name"
    assert [k["name"] for k in served.get("/v1/keys", headers=admin).json()["items"]] == ["it-ops", "demo-clerk"]


def test_plain_names_in_latin_letters_or_chinese_are_accepted(served: TestClient, hub: ContactHub) -> None:
    admin = bearer(new_key(hub, Role.ADMIN, "it-ops"))
    for name in ("store-0571-03", "王芳 store 3", "ivr.gateway_2", "li@audit"):
        assert served.post("/v1/keys", json={"role": "clerk", "name": name}, headers=admin).status_code == 201, name


def test_who_created_and_revoked_each_key_is_recorded(served: TestClient, hub: ContactHub, database_url: str) -> None:
    """F7: key creation and revocation recorded no admin."""
    admin_key = new_key(hub, Role.ADMIN, "it-ops")
    admin_id = admin_key.split("_")[1]
    created = served.post("/v1/keys", json={"role": "clerk", "name": "store-0571-03"}, headers=bearer(admin_key))
    key_id = created.json()["key"]["key_id"]
    assert created.json()["key"]["created_by"] == f"key {admin_id} (it-ops)"
    revoked = served.post(f"/v1/keys/{key_id}/revoke", headers=bearer(admin_key)).json()
    assert revoked["revoked_by"] == f"key {admin_id} (it-ops)" and revoked["revoked_at"]

    result = CliRunner().invoke(main, ["keys", "create", "--role", "auditor", "--name", "audit-li"],
                                env={"CONTACTHUB_DATABASE_URL": database_url, "CONTACTHUB_LOG_LEVEL": "warning",
                                     "USER": "ops-zhang"})
    assert result.exit_code == 0, result.output
    listed = {k["name"]: k for k in served.get("/v1/keys", headers=bearer(admin_key)).json()["items"]}
    assert listed["audit-li"]["created_by"] == "cli ops-zhang"
    assert listed["store-0571-03"]["revoked_by"] == f"key {admin_id} (it-ops)"


def test_the_desk_cookie_is_a_session_that_logging_out_ends(served: TestClient, hub: ContactHub) -> None:
    """F8: the login cookie held the raw API key; after logging out the same cookie still opened every page."""
    boss, hotline = new_key(hub, Role.CHANNEL, channel=BOSS), new_key(hub, Role.CHANNEL, channel="hotline")
    served.post("/v1/events", json={"events": [registered("C1")]}, headers=bearer(boss))
    position = served.post("/v1/events", json={"events": [complaint_opened("K1")]}, headers=bearer(hotline)).json()["position"]
    assert hub.projector.wait_for(position, 5)
    clerk = new_key(hub, Role.CLERK, "store-0571-03")

    login = served.post("/desk/login", data={"key": clerk}, follow_redirects=False)
    assert login.status_code == 303
    cookie = served.cookies.get(SESSION_COOKIE)
    assert cookie and clerk not in login.headers["set-cookie"] and clerk.split("_", 2)[2] not in login.headers["set-cookie"]
    assert "HttpOnly" in login.headers["set-cookie"] and "SameSite=strict" in login.headers["set-cookie"]
    assert cookie not in str(hub.event_log.read_store.query("SELECT * FROM desk_sessions"))  # only its hash is kept
    assert served.get("/desk/customers/C1").status_code == 200
    assert served.get("/v1/complaints/K1").status_code == 200  # the session opens the pages' JSON links (GET)

    assert served.post("/desk/logout", follow_redirects=False).status_code == 303
    assert SESSION_COOKIE not in served.cookies
    served.cookies.set(SESSION_COOKIE, cookie)  # the old cookie, replayed
    assert served.get("/desk/customers/C1", follow_redirects=False).status_code == 303
    assert served.get("/v1/complaints/K1").status_code == 401
    assert served.post("/desk/complaints/K1/actions", data={"action": "note"}, follow_redirects=False).status_code == 303

    # The key itself never works as a cookie.
    served.cookies.clear()
    served.cookies.set("contacthub_key", clerk)
    served.cookies.set(SESSION_COOKIE, clerk)
    assert served.get("/desk/customers/C1", follow_redirects=False).status_code == 303


def test_a_session_ends_with_its_key_and_at_its_expiry(served: TestClient, hub: ContactHub) -> None:
    clerk = new_key(hub, Role.CLERK, "store-0571-03")
    assert served.post("/desk/login", data={"key": clerk}, follow_redirects=False).status_code == 303
    assert served.get("/desk", follow_redirects=False).status_code == 200
    served.app.state.api_keys.revoke(clerk.split("_")[1])  # type: ignore[attr-defined]
    assert served.get("/desk", follow_redirects=False).status_code == 303

    other = new_key(hub, Role.CLERK, "store-0571-04")
    assert served.post("/desk/login", data={"key": other}, follow_redirects=False).status_code == 303
    assert served.get("/desk", follow_redirects=False).status_code == 200
    with hub.event_log.read_store.transaction(commit=True) as sql:
        sql.execute("UPDATE desk_sessions SET expires_at = ?", ("2000-01-01T00:00:00.000000+00:00",))
    served.app.state.api_keys.forget_sessions()  # type: ignore[attr-defined]  # as after the cache time
    assert served.get("/desk", follow_redirects=False).status_code == 303
