"""`contacthub keys`: create, list and revoke API keys (roles: domain/roles.py), and the demo's ready-made keys.

Whoever can run this has the database URL, so it needs no key itself: it is how the
first admin key is made. Errors end with one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import os
from typing import Any

import click

from contacthub.domain.roles import BOSS, SOURCES, Role

DEMO_KEY_PREFIX = "demo-"


def _cli() -> Any:
    # Imported when used: cli.py imports this module at its end, and `python -m contacthub.adapters.cli` runs it as __main__.
    from contacthub.adapters import cli

    return cli


def _store(hub: Any) -> Any:
    from contacthub.adapters.store.api_keys import ApiKeys

    return ApiKeys(hub.event_log.read_store, hub.clock)


def _when(moment: Any, zone: Any) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S%z") if moment else "-"


@click.group()
def keys() -> None:
    """API keys: each has a role (channel, clerk, auditor, admin); only its hash is stored."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="What the key may do.")
@click.option("--name", required=True, help="Who holds it: a person, a team or a system (unique among active keys).")
@click.option("--channel", type=click.Choice(SOURCES), help=f"Channel keys only: the channel it posts for ({BOSS}: the billing system).")
def create(role: str, name: str, channel: str | None) -> None:
    """Create a key and print it (it is shown this once)."""
    from contacthub.adapters.store.api_keys import KeyProblem

    cli = _cli()
    with cli._hub(cli._settings()) as hub:
        try:
            key, plaintext = _store(hub).create(role, name, channel, by=cli_user())
        except KeyProblem as problem:
            raise cli._Failure(str(problem)) from None
        bound = f", channel {key.channel}" if key.channel else ""
        click.echo(f"created key {key.key_id} ({key.role.value}{bound}) named {key.name!r}:")
        click.echo(plaintext)
        click.echo("This key is shown once and cannot be shown again: store it now (only its hash is kept).")


@keys.command("list")
@click.option("--active", is_flag=True, help="Leave out revoked keys.")
def list_keys(active: bool) -> None:
    """Every key (never a secret): id, role, channel, name, created, revoked."""
    cli = _cli()
    with cli._hub(cli._settings()) as hub:
        found = _store(hub).list_keys(include_revoked=not active)
        zone = hub.settings.zone
        click.echo(f"{'key_id':<12}  {'role':<7}  {'channel':<15}  {'created':<24}  {'revoked':<24}  name")
        for key in found:
            click.echo(f"{key.key_id:<12}  {key.role.value:<7}  {key.channel or '-':<15}  "
                       f"{_when(key.created_at, zone):<24}  {_when(key.revoked_at, zone):<24}  {key.name}")
        click.echo(f"{len(found)} key(s), {sum(1 for k in found if k.active)} active")


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key: from now on it is refused (401). Its row stays, so the access log still names its holder."""
    from contacthub.adapters.store.api_keys import KeyProblem

    cli = _cli()
    with cli._hub(cli._settings()) as hub:
        store = _store(hub)
        before = store.get(key_id)
        try:
            key = store.revoke(key_id, by=cli_user())
        except KeyProblem as problem:
            raise cli._Failure(str(problem)) from None
        if before is not None and not before.active:
            click.echo(f"key {key.key_id} ({key.name}) was already revoked at {_when(key.revoked_at, hub.settings.zone)}")
        else:
            click.echo(f"revoked key {key.key_id} ({key.role.value}, {key.name})")


def cli_user() -> str:
    """How a key created or revoked from the command line records who did it: `cli <operating-system user>`."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid
        user = f"uid {os.getuid()}"
    return f"cli {user}"[:200]


def demo_keys(hub: Any, channels: tuple[str, ...] = SOURCES) -> list[tuple[str, str]]:
    """Fresh demo keys, one per role and one per channel (and BOSS): (name, plaintext) pairs.

    Plaintexts cannot be shown again, so each run revokes the previous run's demo keys and creates new ones.
    """
    store = _store(hub)
    for key in store.list_keys(include_revoked=False):
        if key.name.startswith(DEMO_KEY_PREFIX):
            store.revoke(key.key_id, by="contacthub demo")
    wanted: list[tuple[Role, str | None]] = [(Role.ADMIN, None), (Role.CLERK, None), (Role.AUDITOR, None),
                                             (Role.INTEGRATION, None)]
    wanted += [(Role.CHANNEL, channel) for channel in channels]
    made = []
    for role, channel in wanted:
        name = f"{DEMO_KEY_PREFIX}{channel or role.value}"
        _, plaintext = store.create(role, name, channel, by="contacthub demo")
        made.append((name, plaintext))
    return made


def print_demo_keys(hub: Any) -> None:
    """The demo's ready-made keys, for the desk's login, curl and the channels."""
    made = demo_keys(hub)
    click.echo("demo API keys (new on every run; the previous run's are revoked):")
    for name, plaintext in made:
        click.echo(f"  {name:<28} {plaintext}")
    click.echo("  log in at /desk/login with demo-clerk (or demo-auditor); curl -H 'Authorization: Bearer <key>' ...")
