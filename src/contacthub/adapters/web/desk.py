"""The store clerk's desk: find a customer by phone number, see every complaint and contact, act on it.

Server-rendered pages over the same queries and the same complaint actions as the JSON
API (`ComplaintActions.take`), so a step taken at the counter meets the same contract and
rules as one posted by the hotline. No JavaScript: plain forms, POST-redirect-GET.

Login with an API key (`/desk/login`): a clerk or an auditor key opens a server-side session
whose random token is kept in an HttpOnly, SameSite=Strict cookie (`SESSION_COOKIE`,
adapters/http/authentication.py) that the analytics page shares; the key itself is never in
a cookie, and logging out ends the session. A page without a live session answers 303 to the login page; a key whose role may not do something gets
a 403 page naming the roles that may. Clerks read and act; auditors read (no forms). Every
customer and complaint page a clerk or auditor opens is recorded in the access log. The
forms are protected from other sites by the cookie's SameSite=Strict and the Origin check
(`same_origin`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextlib import suppress
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from contacthub.adapters.http.access_log import record_shown
from contacthub.adapters.http.authentication import LOGIN_PATH, OLD_KEY_COOKIE, SESSION_COOKIE, LoginRequired
from contacthub.adapters.http.dependencies import Hub, Keys, PageForbidden, hub_of, require_page, wait_for_position
from contacthub.adapters.http.errors import ApiError
from contacthub.adapters.http.limits import MAX_SMALL_BODY_BYTES
from contacthub.adapters.http.parameters import IDENTIFIER
from contacthub.adapters.web.i18n import Translator, choose_language, when
from contacthub.bootstrap import ContactHub
from contacthub.contract import normalise_msisdn
from contacthub.domain.complaint import ACTIONS, OPEN_STATUSES
from contacthub.domain.roles import Capability, Principal, roles_with
from contacthub.domain.vocabulary import Channel, ComplaintStatus
from contacthub.projections.complaint_queries import QueueFilter
from contacthub.services.complaint_actions import UnknownComplaint
from contacthub.services.ingest import IngestRejected

router = APIRouter(include_in_schema=False)
static = StaticFiles(packages=[("contacthub.adapters.web", "static")])
"""The stylesheet, mounted by the app at /desk/static."""

_templates = Environment(
    loader=PackageLoader("contacthub.adapters.web", "templates"),
    autoescape=True,  # every value from a channel is text, never markup
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# Each rendered form carries its own idempotency key: submitting it twice records it once.
_templates.globals["new_event_id"] = lambda: f"desk-{uuid.uuid4()}"

LANG_COOKIE = "desk_lang"
STAFF_COOKIE = "desk_staff"
"""The staff id a shared counter's clerk once typed: no longer read (a clerk acts as the logged-in key's holder); cleared at logout."""
FLASH_COOKIE = "desk_flash"
LOGIN_AGE_S = 12 * 3600  # a shift, as the staff id
PAGE_CAPABILITIES = (Capability.READ_CUSTOMERS, Capability.READ_METRICS)
"""A key may log in to the pages when its role holds one of these (the desk, the analytics page)."""
DESK_FORMS = ("resolve", "handover", "follow_up", "note")
"""The actions a store clerk takes at the counter, in the order their forms are shown."""
ACTIVE_STATUSES = frozenset(OPEN_STATUSES | {ComplaintStatus.RESOLVED})
"""Complaints shown in full on the customer page: work to do, or a follow-up still to make."""
TIMELINE_SHOWN = 50
TIMELINE_PAGE = 500
FORM_MAX_BYTES = MAX_SMALL_BODY_BYTES  # a longer form never reaches the page (http/limits.py answers 413)
R = TypeVar("R", bound=Response)

_IDENTIFIER = re.compile(IDENTIFIER)
_PHONE_LIKE = re.compile(r"^\+?[0-9]{5,17}$")
_SMALL_NUMBER = re.compile(r"^[0-9]{1,3}$")


# --- rendering --------------------------------------------------------------------------


def _desk_url(kind: str, ident: str) -> str:
    return f"/desk/{kind}/{quote(ident, safe='')}"


def _with_lang(page_url: str, lang: str) -> str:
    parts = urlsplit(page_url)
    query = [(k, v) for k, values in parse_qs(parts.query).items() for v in values if k != "lang"]
    return f"{parts.path}?{urlencode([*query, ('lang', lang)])}"


def _cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, quote(value, safe=""), max_age=max_age, path="/desk", httponly=True, samesite="lax")


class Page:
    """One request's language, clerk and flash message: what every page shows around its content."""

    def __init__(self, request: Request, page_url: str, who: Principal | None = None) -> None:
        self.request = request
        lang, self.remember_lang = choose_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
        self.t = Translator(lang)
        self.page_url = page_url
        self.who = who
        self.staff = who.name if who else ""  # a clerk acts as themselves: the logged-in key's holder
        self.had_flash = FLASH_COOKIE in request.cookies
        self.flash = _read_flash(request.cookies.get(FLASH_COOKIE))

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        hub = hub_of(self.request)
        other = "en" if self.t.lang == "zh" else "zh"
        html = _templates.get_template(template).render(
            t=self.t,
            when=when,
            page_url=self.page_url,
            switch_url=_with_lang(self.page_url, other),
            staff=self.staff,
            who=self.who,
            can_act=self.who is not None and self.who.may(Capability.ACT_ON_COMPLAINTS),
            flash=self.flash,
            channels=[c.value for c in Channel],
            desk_forms=DESK_FORMS,
            zone=hub.settings.timezone,
            form_error=context.pop("form_error", None),
            counter_error=context.pop("counter_error", None),
            severities=SEVERITIES,
            visit_outcomes=VISIT_OUTCOMES,
            q=context.pop("q", ""),
            **context,
        )
        return self.finish(HTMLResponse(html, status_code=status_code))

    def redirect(self, url: str) -> RedirectResponse:
        return self.finish(RedirectResponse(url, status_code=303))

    def finish(self, response: R) -> R:
        if self.remember_lang:
            _cookie(response, LANG_COOKIE, self.t.lang, 365 * 86400)
        if self.had_flash:  # shown once
            response.delete_cookie(FLASH_COOKIE, path="/desk")
        return response

    def error(self, status_code: int, message: str, reason: str = "") -> HTMLResponse:
        return self.render("error.html", status_code, message=message, reason=reason)


def _read_flash(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    kind, _, rest = unquote(raw).partition("|")
    action, _, rest = rest.partition("|")
    complaint_id, _, position = rest.partition("|")
    if (kind not in ("done", "duplicate", "catching_up") or (action not in ACTIONS and action not in COUNTER_FORMS)
            or not _IDENTIFIER.match(complaint_id)):
        return None
    flash = {"kind": kind, "action": action, "complaint_id": complaint_id}
    if position.isdigit() and len(position) < 19:
        flash["position"] = position  # the action's log position: the page shown next reads at least that far
    return flash


async def _reads_after_flash(request: Request, page: Page) -> None:
    """The page after an action reads what the action wrote: with reads from a standby, it waits for the
    standby to reach the action's position, or reads from the primary (as a read with `min_position`)."""
    if page.flash is None or "position" not in page.flash:
        return
    with suppress(ApiError):  # not there in time (or a cookie naming no position): the page shows what there is
        await wait_for_position(request, int(page.flash["position"]))


# --- search -----------------------------------------------------------------------------


class NotSearchable(ValueError):
    """Neither a phone number nor an id: nothing could ever match it."""


def find(hub: ContactHub, text: str) -> tuple[str, str] | None:
    """Where a search leads (a customer page) and whose it is, or None when nothing matches."""
    compact = re.sub(r"[\s\-]", "", text)
    phone_like = bool(_PHONE_LIKE.match(compact))
    if phone_like:
        try:
            customer_id = hub.customers.customer_id_for_msisdn(normalise_msisdn(compact))
        except ValueError:
            customer_id = None
        if customer_id is not None:
            return _desk_url("customers", customer_id), customer_id
    if _IDENTIFIER.match(text):
        if hub.customers.customer_exists(text):
            return _desk_url("customers", text), text
        customer_id = hub.complaints.customer_of(text)
        if customer_id is not None:
            return f"{_desk_url('customers', customer_id)}#complaint-{text}", customer_id
        return None
    if phone_like:
        return None
    raise NotSearchable(text)


def unidentified(hub: ContactHub, text: str) -> tuple[str | None, int, list[dict[str, Any]]]:
    """A number nobody holds now: its unknown callers' touchpoints (docs/events.md §3.13), newest first."""
    compact = re.sub(r"[\s\-]", "", text)
    if not _PHONE_LIKE.match(compact):
        return None, 0, []
    try:
        number = normalise_msisdn(compact)
    except ValueError:
        return None, 0, []
    return hub.customers.unidentified_contacts(number, TIMELINE_SHOWN)


Reader = Annotated[Principal, Depends(require_page(Capability.READ_CUSTOMERS))]
"""A clerk or an auditor; the page is recorded in the access log."""
Searcher = Annotated[Principal, Depends(require_page(Capability.READ_CUSTOMERS, record=False))]
"""A search that finds a customer is recorded (whose number or id it was; what was typed, masked); one that finds nobody is not."""
Actor = Annotated[Principal, Depends(require_page(Capability.ACT_ON_COMPLAINTS, record=True))]
"""Recorded like a read: a refused form shows the whole page again."""


@router.get("/desk")
async def search(request: Request, hub: Hub, who: Searcher, q: str = "") -> Response:
    text = q.strip()[:200]
    page = Page(request, f"/desk?{urlencode({'q': text})}" if text else "/desk", who)
    if not text:
        return page.render("search.html")
    try:
        target = await run_in_threadpool(find, hub, text)
    except NotSearchable:
        message = page.t("search.bad_input", q=text)
        return page.render("search.html", 422, q=text, problem=message, hint=page.t("search.bad_input_hint"))
    if target is None:
        party_id, count, contacts = await run_in_threadpool(unidentified, hub, text)
        if party_id is not None and count:
            record_shown(request, [party_id])  # a number's touchpoints are shown: recorded like a customer's
            days = f"{hub.settings.unidentified_look_back_days:g}"
            message = page.t("search.unidentified", q=text, n=count)
            return page.render("search.html", 404, q=text, problem=message,
                               hint=page.t("search.unidentified_hint", days=days), contacts=contacts,
                               contact_total=count)
        message = page.t("search.not_found", q=text)
        return page.render("search.html", 404, q=text, problem=message, hint=page.t("search.not_found_hint"))
    url, customer_id = target
    record_shown(request, [customer_id])
    return page.redirect(url)


# --- customer and complaint pages -----------------------------------------------------------


def customer_page_data(hub: ContactHub, customer_id: str, all_contacts: bool) -> dict[str, Any] | None:
    view = hub.customers.customer_360(customer_id)
    if view is None:
        return None
    active, finished = [], []
    records = [view["customer_id"], *(m["customer_id"] for m in view["merged_records"])]  # a merged person's, all
    for summary in hub.complaints.for_customer(view["customer_id"], open_only=False, records=records):
        if summary["status"] in ACTIVE_STATUSES:
            # The card shows ownership changes, which only the full complaint has.
            active.append(hub.complaints.complaint(summary["complaint_id"]) or summary)
        else:
            finished.append(summary)
    if all_contacts:
        contacts: list[dict[str, Any]] = []
        after = None
        for _ in range(100):  # keyset pages, oldest first (up to 50,000 contacts); shown newest first
            items, after = hub.customers.timeline(customer_id, after, TIMELINE_PAGE)
            contacts += items
            if after is None:
                break
        contacts.reverse()
    else:
        contacts = hub.customers.latest_contacts(customer_id, TIMELINE_SHOWN)
    return {
        "customer": view,
        "complaints": active,
        "finished_complaints": finished,
        "contacts": contacts,
        "contact_total": view["contact_count"],
    }


def complaint_page_data(hub: ContactHub, complaint_id: str) -> dict[str, Any] | None:
    complaint = hub.complaints.complaint(complaint_id)
    if complaint is None:
        return None
    return {"complaint": complaint, "customer": hub.customers.customer_360(complaint["customer_id"])}


@router.get("/desk/customers/{customer_id}")
async def customer_page(request: Request, hub: Hub, customer_id: str, who: Reader, contacts: str = "") -> Response:
    url = _desk_url("customers", customer_id)
    page = Page(request, url + ("?contacts=all" if contacts == "all" else ""), who)
    data = None
    if _IDENTIFIER.match(customer_id):
        await _reads_after_flash(request, page)
        data = await run_in_threadpool(customer_page_data, hub, customer_id, contacts == "all")
    if data is None:
        return page.error(404, page.t("error.no_customer", id=customer_id))
    _record_person_shown(request, data["customer"], customer_id)
    return page.render("customer.html", return_to=url, **data)


@router.get("/desk/complaints/{complaint_id}")
async def complaint_page(request: Request, hub: Hub, complaint_id: str, who: Reader) -> Response:
    url = _desk_url("complaints", complaint_id)
    page = Page(request, url, who)
    data = None
    if _IDENTIFIER.match(complaint_id):
        await _reads_after_flash(request, page)
        data = await run_in_threadpool(complaint_page_data, hub, complaint_id)
    if data is None:
        return page.error(404, page.t("error.no_complaint", id=complaint_id))
    _record_person_shown(request, data["customer"], data["complaint"]["customer_id"])
    return page.render("complaint.html", return_to=url, **data)


def _record_person_shown(request: Request, view: dict[str, Any] | None, recorded: str | None) -> None:
    """A merged person's page shows every record of it (the 360° view is the survivor's, of all of them):
    each record besides `recorded` (the one the request's own access-log entry names) is recorded too."""
    if view is not None:
        records = [view["customer_id"], *(m["customer_id"] for m in view["merged_records"])]
        record_shown(request, [r for r in records if r != recorded])


# --- acting on a complaint -----------------------------------------------------------------


def safe_return(value: str | None, default: str) -> str:
    """Where to go after an action: a desk page of this server, never elsewhere."""
    if not value or len(value) > 500 or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/desk/") or ".." in parts.path.split("/"):
        return default
    return value


def read_form(content_type: str, body: bytes) -> dict[str, str]:
    """An urlencoded form, first value of each field. ValueError if it is not one."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded" or len(body) > FORM_MAX_BYTES:
        raise ValueError("not an urlencoded form")
    fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    return {name: values[0] for name, values in fields.items()}


def action_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The form as `ComplaintActions.take` reads it: blank fields left out (so a missing one is named)."""
    body: dict[str, Any] = {}
    for name, value in form.items():
        if name == "return_to" or not value.strip():
            continue
        body[name] = value.strip()
    if "satisfaction" in body and _SMALL_NUMBER.match(body["satisfaction"]):
        body["satisfaction"] = int(body["satisfaction"])
    return body


def same_origin(request: Request) -> bool:
    """Whether a form post comes from the desk's own pages (a page elsewhere must not act for a clerk).

    Browsers send Origin on every POST and Sec-Fetch-Site on modern ones; a request with
    neither (a script, a test client) is not a browser carrying a clerk's session.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def posted_form(request: Request, page: Page) -> dict[str, str] | Response:
    """A form posted from the desk's own pages, read; or the error page saying why it is not taken."""
    if not same_origin(request):
        return page.error(403, page.t("error.cross_site"))
    try:
        return read_form(request.headers.get("content-type", ""), await request.body())
    except (ValueError, UnicodeDecodeError):
        return page.error(422, page.t("error.bad_form"))


@router.post("/desk/complaints/{complaint_id}/actions")
async def act(request: Request, hub: Hub, complaint_id: str, who: Actor) -> Response:
    complaint_url = _desk_url("complaints", complaint_id)
    form = await posted_form(request, Page(request, complaint_url, who))
    if isinstance(form, Response):
        return form
    return_to = safe_return(form.get("return_to"), complaint_url)
    page = Page(request, return_to.partition("#")[0], who)
    body = action_body(form)
    body["by"] = who.name  # a step at the desk is taken by whoever is logged in (ComplaintActions.take)

    def take() -> Response:
        try:
            outcome = hub.complaint_actions.take(complaint_id, body, actor=who)
        except UnknownComplaint:
            return page.error(404, page.t("error.no_complaint", id=complaint_id))
        except IngestRejected as rejected:
            return rerender(hub, page, complaint_id, form, rejected)
        caught_up = hub.projector.wait_for(outcome.position, hub.settings.read_wait_timeout_s)
        kind = "duplicate" if outcome.result == "duplicate" else "done" if caught_up else "catching_up"
        response = page.redirect(return_to)
        _cookie(response, FLASH_COOKIE, f"{kind}|{body['action']}|{complaint_id}|{outcome.position}", None)
        return response

    return await run_in_threadpool(take)


def rerender(hub: ContactHub, page: Page, complaint_id: str, form: dict[str, str], rejected: IngestRejected) -> Response:
    """The page the clerk was on, with what they typed and why nothing was recorded."""
    customer_id = hub.complaints.customer_of(complaint_id)
    on_customer_page = customer_id is not None and urlsplit(page.page_url).path == _desk_url("customers", customer_id)
    if on_customer_page:
        data = customer_page_data(hub, customer_id, all_contacts=False)  # type: ignore[arg-type]
        template = "customer.html"
    else:
        page.page_url = _desk_url("complaints", complaint_id)
        data = complaint_page_data(hub, complaint_id)
        template = "complaint.html"
    if data is None:  # the read model has not seen the complaint yet
        return page.error(rejected.status_code, "; ".join(f"{e.field}: {e.message}" for e in rejected.errors))
    _record_person_shown(page.request, data["customer"], customer_id)
    complaints = data["complaints"] if on_customer_page else [data["complaint"]]
    complaint = next((c for c in complaints if c["complaint_id"] == complaint_id), None)
    action = form.get("action", "")
    t = page.t
    errors = []
    for error in rejected.errors:
        message = t(f"message.{error.message}") if t.has(f"message.{error.message}") else error.message
        if rejected.status_code == 409 and error.field == "action" and complaint is not None:
            allowed = [t.term("action", a) for a in complaint["allowed_actions"]]
            message = t("error.not_allowed", status=t.term("status", complaint["status"]),
                        action=t.term("action", action), allowed="、".join(allowed) if t.lang == "zh" else ", ".join(allowed))
        label = t(f"field.{error.field}") if t.has(f"field.{error.field}") else error.field
        errors.append({"field": error.field, "label": label, "message": message,
                       "original": error.message if message != error.message else None})
    form_error = {"complaint_id": complaint_id, "action": action, "status_code": rejected.status_code,
                  "errors": errors, "fields": {e["field"] for e in errors}, "values": form}
    return page.render(template, rejected.status_code, return_to=page.page_url, form_error=form_error, **data)


# --- working at the counter: a complaint accepted here, the visit itself ---------------------


COUNTER_FORMS = ("open", "visit")
"""The counter's own forms on a customer's page: open a complaint (一点受理), log the store visit."""
SEVERITIES = ("low", "medium", "high", "critical")
VISIT_OUTCOMES = ("resolved", "unresolved", "transferred")


@router.post("/desk/customers/{customer_id}/complaints")
async def open_at_counter(request: Request, hub: Hub, customer_id: str, who: Actor) -> Response:
    return await _counter(request, hub, customer_id, who, "open")


@router.post("/desk/customers/{customer_id}/visits")
async def log_visit(request: Request, hub: Hub, customer_id: str, who: Actor) -> Response:
    return await _counter(request, hub, customer_id, who, "visit")


async def _counter(request: Request, hub: ContactHub, customer_id: str, who: Principal, form_name: str) -> Response:
    url = _desk_url("customers", customer_id)
    page = Page(request, url, who)
    form = await posted_form(request, page)
    if isinstance(form, Response):
        return form
    if not _IDENTIFIER.match(customer_id):
        return page.error(404, page.t("error.no_customer", id=customer_id))
    body = {name: value.strip() for name, value in form.items() if value.strip()}

    def record() -> Response:
        try:
            if form_name == "open":
                outcome = hub.counter_work.open_complaint(customer_id, body, who)
            else:
                outcome = hub.counter_work.log_visit(customer_id, body, who)
        except IngestRejected as rejected:
            data = customer_page_data(hub, customer_id, all_contacts=False)
            if data is None:
                return page.error(404, page.t("error.no_customer", id=customer_id))
            _record_person_shown(request, data["customer"], customer_id)
            errors = [{"field": e.field, "label": page.t(f"field.{e.field}") if page.t.has(f"field.{e.field}") else e.field,
                       "message": e.message} for e in rejected.errors]
            counter_error = {"form": form_name, "status_code": rejected.status_code, "errors": errors,
                             "fields": {e["field"] for e in errors}, "values": form}
            return page.render("customer.html", rejected.status_code, return_to=url, counter_error=counter_error, **data)
        caught_up = hub.projector.wait_for(outcome.position, hub.settings.read_wait_timeout_s)
        kind = "duplicate" if outcome.result == "duplicate" else "done" if caught_up else "catching_up"
        target = _desk_url("complaints", outcome.complaint_id) if outcome.complaint_id else url
        response = page.redirect(target)
        _cookie(response, FLASH_COOKIE, f"{kind}|{form_name}|{outcome.complaint_id or customer_id}|{outcome.position}", None)
        return response

    return await run_in_threadpool(record)


# --- work queues ---------------------------------------------------------------------------------

QUEUE_VIEWS = ("mine", "store", "due", "followup")
"""The desk's queues: my open complaints; my store's; my store's due soon or overdue; follow-up calls to make."""
QUEUE_PAGE_SIZE = 20


def queue_filter(view: str, staff: str, colleagues: tuple[str, ...]) -> QueueFilter | None:
    """What a queue view lists for `staff`; None when it needs a site the staff directory does not give."""
    if view == "mine":
        return QueueFilter(statuses=("open",), owner=staff, sort="deadline")
    if not colleagues:
        return None
    if view == "store":
        return QueueFilter(statuses=("open",), owners=colleagues, sort="deadline")
    if view == "due":
        return QueueFilter(statuses=("open",), owners=colleagues, sla="attention", sort="deadline")
    return QueueFilter(owners=colleagues, followup="due", sort="followup_due")


@router.get("/desk/queue")
async def queue_page(request: Request, hub: Hub, who: Reader, view: str = "mine", page: int = 1) -> Response:
    view = view if view in QUEUE_VIEWS else "mine"
    number = page if 1 <= page <= 10_000 else 1
    shown = Page(request, f"/desk/queue?{urlencode({'view': view, 'page': number})}", who)
    colleagues = hub.sites.colleagues(who.name)
    wanted = queue_filter(view, who.name, colleagues)
    if wanted is None:
        return shown.render("queue.html", section="queue", view=view, views=QUEUE_VIEWS, items=[], total=0, page=1,
                            pages=1, no_site=True, site=None)
    items, total = await run_in_threadpool(hub.complaints.queue, wanted, number, QUEUE_PAGE_SIZE)
    record_shown(request, (item["customer_id"] for item in items))
    pages = max(1, -(-total // QUEUE_PAGE_SIZE))
    site = hub.sites.site_of(who.name)
    return shown.render("queue.html", section="queue", view=view, views=QUEUE_VIEWS, items=items, total=total,
                        page=number, pages=pages, no_site=False, site=site.name if site else None)


# --- logging in with an API key ---------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a desk or analytics page of this server, never elsewhere."""
    default = "/desk"
    if not value or len(value) > 1000 or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or ".." in parts.path.split("/") or parts.path.startswith(LOGIN_PATH):
        return default
    if not (parts.path in ("/desk", "/analytics") or parts.path.startswith("/desk/")):
        return default
    return value


def _login_url(next_url: str) -> str:
    return f"{LOGIN_PATH}?{urlencode({'next': next_url})}" if next_url != "/desk" else LOGIN_PATH


def _roles_text(t: Translator, capabilities: tuple[Capability, ...]) -> str:
    people = roles_with(Capability.USE_PAGES)
    roles = dict.fromkeys(r for c in capabilities for r in roles_with(c) if r in people)
    joiner = "、" if t.lang == "zh" else " / "
    return joiner.join(t.term("role", r.value) for r in roles)


def _login_page(request: Request, status_code: int = 200, problem: str | None = None) -> HTMLResponse:
    next_url = safe_next(request.query_params.get("next"))
    page = Page(request, _login_url(next_url))
    return page.render("login.html", status_code, next_url=next_url, problem=problem,
                       roles=_roles_text(page.t, PAGE_CAPABILITIES))


@router.get(LOGIN_PATH)
async def login_page(request: Request) -> Response:
    return _login_page(request)


@router.post(LOGIN_PATH)
async def log_in(request: Request, keys: Keys) -> Response:
    page = Page(request, LOGIN_PATH)
    form = await posted_form(request, page)
    if isinstance(form, Response):
        return form
    next_url = safe_next(form.get("next"))
    key = form.get("key", "").strip()
    principal = await run_in_threadpool(keys.authenticate, key) if key else None
    page = Page(request, _login_url(next_url))
    roles = _roles_text(page.t, PAGE_CAPABILITIES)
    if principal is None:
        problem = page.t("login.bad_key") if key else page.t("login.no_key")
        return page.render("login.html", 401, next_url=next_url, problem=problem, roles=roles)
    if not principal.may(Capability.USE_PAGES) or not any(principal.may(c) for c in PAGE_CAPABILITIES):
        problem = page.t("login.wrong_role", name=principal.name, role=page.t.term("role", principal.role.value),
                         roles=roles)
        return page.render("login.html", 403, next_url=next_url, problem=problem, roles=roles)
    token = await run_in_threadpool(keys.open_session, principal, LOGIN_AGE_S)
    response = page.redirect(next_url)
    response.set_cookie(SESSION_COOKIE, token, max_age=LOGIN_AGE_S, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    response.delete_cookie(OLD_KEY_COOKIE, path="/")
    return response


@router.post("/desk/logout")
async def log_out(request: Request, keys: Keys) -> Response:
    page = Page(request, LOGIN_PATH)
    if not same_origin(request):
        return page.error(403, page.t("error.cross_site"))
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(keys.end_session, token)  # the cookie, if kept or copied, opens nothing any more
    response = page.redirect(LOGIN_PATH)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(OLD_KEY_COOKIE, path="/")
    response.delete_cookie(STAFF_COOKIE, path="/desk")
    return response


def install_login_handlers(app: FastAPI) -> None:
    """Pages without a valid login go to the login page (303); a role that may not gets a 403 page."""

    @app.exception_handler(LoginRequired)
    async def _login_required(_: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(_login_url(safe_next(exc.next_url)), status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        page = Page(request, request.url.path, exc.principal)
        joiner = "、" if page.t.lang == "zh" else " / "
        roles = joiner.join(page.t.term("role", r.value) for r in exc.roles)
        return page.error(403, page.t("error.forbidden", name=exc.principal.name,
                                      role=page.t.term("role", exc.principal.role.value), roles=roles), "forbidden")
