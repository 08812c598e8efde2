"""Settings, read once from the environment. Every name starts with CONTACTHUB_."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contacthub.domain.calendar import CalendarError, WorkingCalendar, register_calendar
from contacthub.domain.complaint import SlaPolicy
from contacthub.domain.sites import NO_SITES, StaffDirectory
from contacthub.domain.subscriptions import parse_allowed_hosts

MAX_JEOPARDY_DAYS = 3650


class ConfigurationError(ValueError):
    """A setting has a value ContactHub cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///contacthub.db"
    """`sqlite:///path` (embedded default) or `postgresql://user:password@host:port/dbname`; a cluster's
    servers as libpq lists them: `postgresql://h1:p1,h2:p2,h3:p3/dbname?target_session_attrs=read-write`."""
    read_database_url: str = ""
    """Where the API and the pages read the read models from: a hot standby, e.g.
    `postgresql://h1:p1,h2:p2,h3:p3/dbname?target_session_attrs=prefer-standby`; empty: the primary
    (adapters/store/standby.py). Writes, the access log, the watchers and every POST use the primary."""
    standby_wait_s: float = 1.0
    """How long a read with `min_position` waits for the standby before it is served from the primary."""
    timezone: str = "Asia/Shanghai"
    """The operator's time zone: times in API responses and pages are shown in it."""
    log_format: str = "auto"
    """`json`, `console`, or `auto` (console on a terminal, JSON lines otherwise)."""
    log_level: str = "info"
    read_wait_timeout_s: float = 5.0
    """How long a read with `min_position` waits for the read models before answering 503."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body accepted by `POST /v1/events` (413 above it)."""
    max_body_bytes_in_flight: int = 64 * 1024 * 1024
    """All the request bodies one server process may be receiving at once; a body past it is answered 503."""
    body_timeout_s: float = 30.0
    """A request's body must arrive whole within this many seconds of its headers (408 otherwise)."""
    header_timeout_s: float = 10.0
    """A request's line and headers must arrive within this many seconds (408 and the connection closed)."""
    keep_alive_s: int = 5
    """An idle kept-alive connection is closed after this many seconds."""
    max_connections: int = 1000
    """Open connections one server process holds at most; one more is answered 503 and closed."""
    ingest_events_per_s: float = 10_000.0
    """Events one API key may post per second, per server process (429 past it); 0: no limit."""
    ingest_burst_events: int = 20_000
    """Events one API key may post at once before its rate applies."""
    max_lag_events: int = 50_000
    """Ingest is answered 503 while the read models are more than this many events behind the log; 0: no bound."""
    customer_cache_size: int = 200_000
    """Customers whose decision state the writer keeps in memory between batches."""
    embedded_projector: bool = True
    """Run the projector inside the server process (`contacthub project` runs it on its own)."""
    projector_batch_size: int = 2000
    future_tolerance_s: int = 86_400
    """How far in the future an `occurred_at` may lie (channel clocks drift); beyond it: rejected."""
    unresolved_horizon_days: float = 7.0
    """Late references: a step of an order or a complaint recorded this many days ago whose order or
    complaint has still not come is listed by GET /v1/conflicts as unresolved."""
    unidentified_look_back_days: float = 30.0
    """Unknown callers: a touchpoint from a number nobody held at its moment joins the customer who
    takes the number within this many days after it; older ones stay on the number's unidentified
    party (domain/numbers.py). Decided when the touchpoint or the registration is recorded: set it
    once, the same for every process."""
    sla_policy: str = ""
    """Path of the complaint SLA policy file (TOML); empty: the packaged default (sla_policy.toml)."""
    sites: str = ""
    """Path of the staff directory (TOML: [[site]] tables with name, supervisor and staff); empty: no sites
    known (the desk's "my store" queue is empty and a breach action's hand-over to the site supervisor
    is skipped). `./dev run` uses the demo's, src/contacthub/demo/sites.toml."""
    sla_watch_interval_s: float = 30.0
    """How often the server's watchers (SLA, order jeopardy, the at-risk snapshot) run; 0: no watchers in the server."""
    risk_refresh_s: float = 60.0
    """How old the at-risk snapshot may grow before a watcher pass counts it again.

    `GET /v1/customers/at-risk` without `as_of` is answered from the snapshot while it is
    younger than twice the longer of this and `sla_watch_interval_s`, and counts the window
    itself otherwise; 0: no snapshot, every request counts (services/risk_watch.py)."""
    jeopardy_days: float = 7.0
    """An order still in progress this many days after it was placed is in jeopardy."""
    jeopardy_calls: int = 5
    """An order is in jeopardy at the customer's this-many-th inbound hotline call while it is in progress."""
    workers: int = 1
    """Server processes `contacthub serve` starts (`--workers`); the projector and watchers run once, in the parent."""
    key_cache_s: float = 5.0
    """How long a server process trusts an API key it has verified before looking it up again.

    A key revoked through this process's API is refused at once, and so is every read the
    access log records (its entry is written only for a key still active); any other request
    with a key revoked elsewhere (another worker, `contacthub keys revoke`) within this time.
    0: every request looks its key up."""

    callback_hosts: str = ""
    """Webhook callbacks may go only to these hosts: comma-separated names or addresses, each optionally
    with `:port` (`hooks.example.cn, 10.1.2.3:8443`). Empty (the default): no callback is allowed,
    so nothing is called until an operator allows it (domain/subscriptions.py)."""
    deliver_webhooks: bool = True
    """Deliver webhook subscriptions from the server process (in the parent with `--workers N`), as the
    projector runs there; each subscription is delivered by one process at a time (its lease)."""
    webhook_first_retry_s: float = 1.0
    """After a failed delivery the same request is tried again after this many seconds, then twice as
    long each time, up to 10 minutes."""
    webhook_timeout_s: float = 10.0
    """How long a webhook request may take (connecting, then answering) before it counts as failed."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("CONTACTHUB_" + f.name.upper())
            if raw is None or raw == "":
                continue
            kind: type[Any] = type(f.default)
            try:
                if kind is bool:
                    values[f.name] = _parse_bool(raw)
                else:
                    values[f.name] = kind(raw)
            except ValueError:
                raise ConfigurationError(
                    f"CONTACTHUB_{f.name.upper()}={raw!r} is not a valid {kind.__name__}"
                ) from None
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"CONTACTHUB_TIMEZONE={self.timezone!r} is not a known time zone") from None
        if self.log_format not in ("auto", "json", "console"):
            raise ConfigurationError("CONTACTHUB_LOG_FORMAT must be auto, json or console")
        if self.sla_watch_interval_s < 0:
            raise ConfigurationError("CONTACTHUB_SLA_WATCH_INTERVAL_S must be 0 (off) or a number of seconds")
        if not (math.isfinite(self.risk_refresh_s) and 0 <= self.risk_refresh_s <= 86_400):
            raise ConfigurationError("CONTACTHUB_RISK_REFRESH_S must be 0 (no snapshot) or a number of seconds up to 86400")
        if not (math.isfinite(self.jeopardy_days) and 0 < self.jeopardy_days <= MAX_JEOPARDY_DAYS):
            raise ConfigurationError(
                f"CONTACTHUB_JEOPARDY_DAYS must be a number of days above 0 and at most {MAX_JEOPARDY_DAYS}"
            )
        if not (math.isfinite(self.unidentified_look_back_days) and 0 <= self.unidentified_look_back_days <= 366):
            raise ConfigurationError("CONTACTHUB_UNIDENTIFIED_LOOK_BACK_DAYS must be a number of days from 0 to 366")
        if not (math.isfinite(self.unresolved_horizon_days) and 0 <= self.unresolved_horizon_days <= 366):
            raise ConfigurationError("CONTACTHUB_UNRESOLVED_HORIZON_DAYS must be a number of days from 0 to 366")
        if not (math.isfinite(self.webhook_first_retry_s) and 0 < self.webhook_first_retry_s <= 600):
            raise ConfigurationError("CONTACTHUB_WEBHOOK_FIRST_RETRY_S must be a number of seconds above 0, at most 600")
        if not (math.isfinite(self.webhook_timeout_s) and 0 < self.webhook_timeout_s <= 120):
            raise ConfigurationError("CONTACTHUB_WEBHOOK_TIMEOUT_S must be a number of seconds above 0, at most 120")
        for host in parse_allowed_hosts(self.callback_hosts):
            if not host.replace(".", "").replace("-", "").replace(":", "").replace("[", "").replace("]", "").isalnum():
                raise ConfigurationError(f"CONTACTHUB_CALLBACK_HOSTS: {host!r} is not a host name or address, "
                                         "optionally with :port")
        if self.workers < 1:
            raise ConfigurationError("CONTACTHUB_WORKERS must be a whole number of server processes, at least 1")
        if not (math.isfinite(self.key_cache_s) and 0 <= self.key_cache_s <= 3600):
            raise ConfigurationError("CONTACTHUB_KEY_CACHE_S must be 0 (no cache) or a number of seconds up to 3600")
        for name, value in (("BODY_TIMEOUT_S", self.body_timeout_s), ("HEADER_TIMEOUT_S", self.header_timeout_s)):
            if not (math.isfinite(value) and 0 < value <= 3600):
                raise ConfigurationError(f"CONTACTHUB_{name} must be a number of seconds above 0 and at most 3600")
        if not 1 <= self.keep_alive_s <= 3600:
            raise ConfigurationError("CONTACTHUB_KEEP_ALIVE_S must be a whole number of seconds from 1 to 3600")
        if not (math.isfinite(self.ingest_events_per_s) and self.ingest_events_per_s >= 0):
            raise ConfigurationError("CONTACTHUB_INGEST_EVENTS_PER_S must be 0 (no limit) or a number of events per second")
        if self.ingest_burst_events < 1 or self.max_lag_events < 0:
            raise ConfigurationError("CONTACTHUB_INGEST_BURST_EVENTS must be at least 1 and CONTACTHUB_MAX_LAG_EVENTS at least 0")
        if self.max_connections < 1:
            raise ConfigurationError("CONTACTHUB_MAX_CONNECTIONS must be a whole number of connections, at least 1")
        if self.max_body_bytes_in_flight < self.max_body_bytes:
            raise ConfigurationError("CONTACTHUB_MAX_BODY_BYTES_IN_FLIGHT must be at least CONTACTHUB_MAX_BODY_BYTES")
        if self.jeopardy_calls < 1:
            raise ConfigurationError("CONTACTHUB_JEOPARDY_CALLS must be a whole number of calls, at least 1")
        if not (self.database_url.startswith("sqlite:") or self.database_url.startswith(("postgresql:", "postgres:"))):
            raise ConfigurationError("CONTACTHUB_DATABASE_URL must start with sqlite:/// or postgresql://")
        if self.read_database_url and not self.read_database_url.startswith(("postgresql:", "postgres:")):
            raise ConfigurationError("CONTACTHUB_READ_DATABASE_URL must be empty or start with postgresql://")
        if self.read_database_url and self.database_url.startswith("sqlite:"):
            raise ConfigurationError("CONTACTHUB_READ_DATABASE_URL: reads from a standby need CONTACTHUB_DATABASE_URL on "
                                     "PostgreSQL")
        if not (math.isfinite(self.standby_wait_s) and 0 <= self.standby_wait_s <= 3600):
            raise ConfigurationError("CONTACTHUB_STANDBY_WAIT_S must be a number of seconds from 0 to 3600")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def load_sla_policy(self) -> SlaPolicy:
        """The SLA policy file, read and checked; a ConfigurationError names the file and the bad entry."""
        if self.sla_policy:
            source = Path(self.sla_policy)
            try:
                text = source.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigurationError(f"CONTACTHUB_SLA_POLICY={self.sla_policy!r}: {exc.strerror}") from None
        else:
            source = Path("sla_policy.toml (packaged default)")
            text = resources.files("contacthub").joinpath("sla_policy.toml").read_text(encoding="utf-8")
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"SLA policy {source}: {exc}") from None
        calendar = None
        named = document.get("calendar")
        if named is not None:
            if not isinstance(named, str) or not named.strip():
                raise ConfigurationError(f"SLA policy {source}: calendar: must name a packaged calendar or a file")
            calendar = load_calendar(named, source.parent if self.sla_policy else None)
            register_calendar(calendar)  # complaints opened under this policy name it: known_calendar finds it
        try:
            return SlaPolicy.from_mapping({k: v for k, v in document.items() if k != "calendar"}, calendar)
        except ValueError as exc:
            raise ConfigurationError(f"SLA policy {source}: {exc}") from None


    def load_sites(self) -> StaffDirectory:
        """The staff directory; a ConfigurationError names the file and the first problem."""
        if not self.sites:
            return NO_SITES
        source = Path(self.sites)
        try:
            return StaffDirectory.from_mapping(tomllib.loads(source.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigurationError(f"CONTACTHUB_SITES={self.sites!r}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, ValueError) as exc:
            raise ConfigurationError(f"staff directory {source}: {exc}") from None


PACKAGED_CALENDARS = ("cn-national",)


def load_calendar(named: str, beside: Path | None = None) -> WorkingCalendar:
    """A working calendar: a packaged one by name (`cn-national`), or a file (relative to `beside`, the
    policy's folder); a ConfigurationError lists every problem of the file, one line each."""
    if named in PACKAGED_CALENDARS:
        source = Path(f"calendars/{named}.toml (packaged)")
        text = resources.files("contacthub").joinpath(f"calendars/{named}.toml").read_text(encoding="utf-8")
    else:
        source = Path(named)
        if beside is not None and not source.is_absolute():
            source = beside / source
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"calendar {source}: {exc.strerror}") from None
    try:
        return WorkingCalendar.from_mapping(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"calendar {source}: {exc}") from None
    except CalendarError as exc:
        raise ConfigurationError("\n".join(f"calendar {source}: {problem}" for problem in exc.problems)) from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(raw)
