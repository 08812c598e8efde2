"""Settings, read once from the environment. Every name starts with CONTACTHUB_."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigurationError(ValueError):
    """A setting has a value ContactHub cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///contacthub.db"
    """`sqlite:///path` (embedded default) or `postgresql://user:password@host:port/dbname`."""
    timezone: str = "Asia/Shanghai"
    """The operator's time zone: times in API responses and pages are shown in it."""
    log_format: str = "auto"
    """`json`, `console`, or `auto` (console on a terminal, JSON lines otherwise)."""
    log_level: str = "info"
    read_wait_timeout_s: float = 5.0
    """How long a read with `min_position` waits for the read models before answering 503."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest request body accepted by `POST /v1/events` (413 above it)."""
    customer_cache_size: int = 200_000
    """Customers whose decision state the writer keeps in memory between batches."""
    embedded_projector: bool = True
    """Run the projector inside the server process (`contacthub project` runs it on its own)."""
    projector_batch_size: int = 2000
    future_tolerance_s: int = 86_400
    """How far in the future an `occurred_at` may lie (channel clocks drift); beyond it: rejected."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("CONTACTHUB_" + f.name.upper())
            if raw is None or raw == "":
                continue
            kind = type(f.default)
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
        if not (self.database_url.startswith("sqlite:") or self.database_url.startswith(("postgresql:", "postgres:"))):
            raise ConfigurationError("CONTACTHUB_DATABASE_URL must start with sqlite:/// or postgresql://")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(raw)
