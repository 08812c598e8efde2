"""`contacthub audit`: verify the hash chains, anchor their heads, check the read models for drift."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click
import orjson

from contacthub.adapters.cli_support import _Failure, _hub, _settings

ANCHOR_FORMAT = "contacthub-chain-anchor/1"


@click.group()
def audit() -> None:
    """Tamper evidence and drift checks for auditors and operators."""


def _read_anchor(path: Path) -> tuple[dict[str, object], dict[str, object]]:
    from contacthub.domain.event_chain import ChainHead, anchor_root

    try:
        document = orjson.loads(path.read_bytes())
        if document.get("format") != ANCHOR_FORMAT:
            raise ValueError(f"not a {ANCHOR_FORMAT} file")
        heads = {h["customer_id"]: ChainHead(h["customer_id"], int(h["version"]), h["hash"]) for h in document["heads"]}
    except OSError as exc:
        raise _Failure(f"--anchor {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _Failure(f"--anchor {path}: unreadable anchor ({exc})") from None
    if anchor_root(heads.values()) != document.get("root"):
        raise _Failure(f"--anchor {path}: its root does not match its heads; the anchor file itself was altered")
    return document, heads  # type: ignore[return-value]


@audit.command()
@click.option("--customer", "customers", multiple=True, help="Only this customer (repeatable).")
@click.option("--anchor", "anchor_path", type=click.Path(path_type=Path),
              help="An anchor file from `contacthub audit anchor`: also find chains truncated or recomputed since.")
def verify(customers: tuple[str, ...], anchor_path: Path | None) -> None:
    """Check every customer's hash chain against the stored events (exit 1 on any finding)."""
    from tqdm import tqdm


    heads = _read_anchor(anchor_path)[1] if anchor_path else {}
    with _hub(_settings()) as hub:
        chain = hub.chains
        wanted = list(customers) or None
        total = None if wanted else chain.event_count()
        with tqdm(total=total, unit="ev", desc="verify", file=sys.stderr) as bar:
            report = chain.verify(wanted, heads, on_progress=bar.update)
    for finding in report.findings:
        where = f" position {finding.position}" if finding.position else ""
        click.echo(f"{finding.problem.upper():<9} {finding.customer_id} version {finding.version}{where}: {finding.detail}")
    summary = f"{report.events} events of {report.customers} customers"
    if report.findings:
        raise _Failure(f"{len(report.findings)} findings in {summary}")
    click.echo(f"intact: {summary}" + (f", consistent with the anchor {anchor_path}" if anchor_path else ""))


@audit.command()
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Where to write the anchor (JSON). Keep it, or its root, outside the database.")
def anchor(out: Path) -> None:
    """Write down every customer's chain head and one root digest over them.

    Publish or archive the root (a ticket, an email to internal audit, WORM storage): an
    edit of the database that recomputes the chains, or drops a customer's latest events,
    is then found by `contacthub audit verify --anchor FILE`.
    """
    from contacthub.domain.event_chain import anchor_root

    with _hub(_settings()) as hub:
        position = hub.event_log.head_position()
        heads = hub.chains.heads()
    root = anchor_root(heads)
    document = {
        "format": ANCHOR_FORMAT,
        "taken_at": datetime.now(timezone.utc).isoformat(),
        "log_position": position,
        "customers": len(heads),
        "root": root,
        "heads": [{"customer_id": h.customer_id, "version": h.version, "hash": h.hash} for h in heads],
    }
    try:
        out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        raise _Failure(f"--out {out}: {exc.strerror}") from None
    click.echo(f"anchored {len(heads)} chains at log position {position}: root {root}")


@audit.command()
def projections() -> None:
    """Rebuild every read model from the log in a scratch area and compare it with the live one (exit 1 on drift)."""
    from tqdm import tqdm

    with _hub(_settings()) as hub, tqdm(total=hub.event_log.head_position(), unit="ev", desc="rebuild",
                                       file=sys.stderr) as bar:
        comparisons = hub.audit.compare_read_models(on_progress=bar.update)
    drifted = [c for c in comparisons if c.differing_tables]
    for c in comparisons:
        verdict = "differs in " + ", ".join(c.differing_tables) if c.differing_tables else "matches"
        click.echo(f"{c.name:<20} position {c.position:>10}  {verdict}")
    if drifted:
        raise _Failure(f"{len(drifted)} read models differ from a rebuild of the log: run `contacthub rebuild`")
    click.echo(f"all {len(comparisons)} read models match a rebuild of the log")


@click.command()
@click.argument("customer_id")
@click.option("--by", required=True, help="Who erases (recorded in the erasure event), e.g. admin-li.")
@click.option("--reason", required=True, help="Why, e.g. the ticket of the customer's request (no personal data).")
def forget(customer_id: str, by: str, reason: str) -> None:
    """Erase a customer's personal data: destroy their key and record the erasure as an event.

    The log keeps every event (the hash chains still verify); the customer's names, numbers
    and free text can no longer be decrypted and read as erased everywhere. The read models
    are brought up to date before the command ends; on SQLite the database file is then
    compacted so no freed page still holds the old rows (docs/audit.md, "Erasure").
    """
    if not by.strip() or not reason.strip():
        raise _Failure("--by and --reason must not be empty")
    with _hub(_settings()) as hub:
        try:
            outcome = hub.erasure.forget(customer_id, by=by.strip(), reason=reason.strip(), wait_s=5,
                                      run_projector=True)
        except LookupError:
            raise _Failure(f"no customer {customer_id}") from None
        except ValueError as problem:
            raise _Failure(f"--reason: {problem}") from None
    if outcome.result == "already_erased":
        click.echo(f"{customer_id} was already erased (log position {outcome.position})")
    elif not outcome.read_models_updated:
        raise _Failure(f"{customer_id} erased at log position {outcome.position}, but the read models did not "
                       "catch up: run `contacthub project` (or the server) to finish it")
    else:
        click.echo(f"{customer_id} erased at log position {outcome.position}: key destroyed, read models updated")
