"""A demo operator: a deterministic, realistic customer population as channel events.

The events are JSON-ready dicts in exactly the shape channels post to `POST /v1/events`
(see `contacthub.contract`), so a demo exercises the same ingest path as production.

How the population is made, and why:

- Each customer's life is written as independent *episodes* (an order journey, a
  complaint lifecycle, a chain of repeat calls about one issue). Every episode is in
  causal order on its own, and the only thing episodes share is the registration that
  precedes them, so merging a customer's episodes by time always gives a history the
  domain accepts.
- Episodes run on past the plan's end date and are then cut at `end`. That is what makes
  the end of the window look like any working day at an operator: orders still waiting
  for the technician, complaints acknowledged but not resolved, follow-up calls not yet made.
- Complaints follow catalogue v2 (TMF621 statuses): the first-contact owner hands the
  complaint over to a department handler, who starts on it; some wait on the customer
  (pending) or on a network repair (held), a few are withdrawn (cancelled) or turn out to
  be duplicates (rejected); a dissatisfied follow-up reopens a complaint before it is
  closed. The SLA monitor escalates when the time limit of ContactHub's packaged SLA
  policy (tier x severity, clock paused while pending) runs out: level 1 at the deadline,
  level 2 one allowance later. SLA warnings and breaches are not posted: ContactHub's own
  SLA watcher records them.
- The first customers are *showcase* customers with scripted stories, so that a demo can
  always point at them and a small plan still contains every state:

  ======== =================================================================
  C000001  the bundle that took three weeks, 21 hotline calls and 4 technician
           visits before every service worked (the source documents' example)
  C000002  one-point acceptance: complains on the hotline, asks in a store how
           it is going, resolved, reopened before it was closed, resolved
           again and closed
  C000003  a broadband + IPTV order still waiting for installation at the end
  C000004  a broadband order cancelled: no fibre resource at the address
  C000005  a complaint e-mailed just before the end: acknowledged, not yet
           worked on
  C000006  a complaint pending: the billing desk waits for the customer's
           roaming bill screenshot, the SLA clock paused
  C000007  a complaint past its time limit twice: escalated to level 2, in
           progress
  C000008  a complaint resolved, waiting for its follow-up call (回访)
  C000009  a complaint held: the network team's fix waits on a base-station
           repair
  ======== =================================================================

Everything is drawn from one `random.Random(seed)`, so the same plan always gives the
same events with the same `event_id`s (`demo-<seed>-<customers>c<months>m-<end date>-<n>`), and re-ingesting a demo is
idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator

from contacthub.contract import MAX_BATCH
from contacthub.demo.operator import Operator
from contacthub.demo.plan import CHINA_TIME, DEFAULT_END, DemoPlan, Event, estimate_event_count

SHOWCASE_CUSTOMER = "C000001"
"""The first showcase customer: always in the demo, so its presence says a database holds the demo."""

__all__ = [
    "CHINA_TIME",
    "DEFAULT_END",
    "SHOWCASE_CUSTOMER",
    "DemoPlan",
    "Event",
    "estimate_event_count",
    "generate_batches",
    "generate_events",
]


def generate_events(plan: DemoPlan) -> Iterator[Event]:
    """Every event of the demo population, in time order across customers.

    Ingested in this order, every event is accepted: per customer, registration comes
    first and each event is strictly later than the one before.
    """
    return Operator(plan).events()


def generate_batches(plan: DemoPlan, batch_size: int = 500) -> Iterator[list[Event]]:
    """The same events, cut into request bodies of at most `batch_size` events."""
    # Checked here rather than in the generator, so a bad size fails at the call.
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
    return _batches(plan, batch_size)


def _batches(plan: DemoPlan, batch_size: int) -> Iterator[list[Event]]:
    batch: list[Event] = []
    for event in generate_events(plan):
        batch.append(event)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
