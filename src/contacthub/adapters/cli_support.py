"""What every `contacthub` command shares: one-line failures, settings, and a built ContactHub.

Kept apart from cli.py so the command groups in other modules (cli_audit.py, cli_keys.py)
can use it however cli.py is started (`contacthub ...` or `python -m contacthub.adapters.cli`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from contacthub.config import ConfigurationError, Settings
from contacthub.logs import configure_logging


class _Failure(click.ClickException):
    def show(self, file: Any = None) -> None:
        click.echo(f"contacthub: {self.message}", err=True)


@contextmanager
def _hub(settings: Settings, **options: Any) -> Iterator[Any]:
    """ContactHub on the configured database (`options`: bootstrap.build's keywords)."""
    from contacthub.bootstrap import build

    try:
        hub = build(settings, **options)
    except (ConfigurationError, ValueError) as exc:
        raise _Failure(str(exc)) from None
    except Exception as exc:  # the database is unreachable, or the URL points nowhere usable
        raise _Failure(f"cannot open the database: {exc}".splitlines()[0]) from None
    try:
        yield hub
    finally:
        hub.close()


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        raise _Failure(str(exc)) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings
