"""Every read model decides about every event type: each stored event class is handled or ignored, never both."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contacthub.bootstrap import read_models
from contacthub.domain.customer import Customer
from contacthub.projections.base import STORED_EVENTS, ReadModel, family

VIEWS = read_models(ZoneInfo("UTC"))


def _topics(classes: Any) -> list[str]:
    return sorted(cls.TOPIC for cls in classes)


def test_the_stored_event_classes_are_every_concrete_customer_event() -> None:
    declared = {c for c in vars(Customer).values() if isinstance(c, type) and issubclass(c, Customer.Event)}
    assert STORED_EVENTS == declared - {Customer.Event, Customer.ComplaintStep}
    assert Customer.SlaBreached in family(Customer.ComplaintStep)  # a step of a step is a step too
    assert Customer.ComplaintOpened not in family(Customer.ComplaintStep)


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_each_event_class_is_handled_or_ignored_exactly_once(view: ReadModel[Any]) -> None:
    handled, ignored = set(view.handlers), set(view.ignores)
    assert isinstance(view.ignores, frozenset)
    assert _topics(handled & ignored) == []
    assert _topics(STORED_EVENTS - handled - ignored) == [], "neither handled nor ignored"
    assert _topics((handled | ignored) - STORED_EVENTS) == [], "not a stored event class"
    assert all(callable(handler) for handler in view.handlers.values())


class _NoSql:
    """A cursor that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a batch of ignored events used Sql.{name}")


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_a_batch_of_ignored_events_touches_no_table(view: ReadModel[Any]) -> None:
    # Only the class of an event decides whether a read model looks at it: blank instances will do.
    ignored = sorted(view.ignores, key=lambda cls: cls.TOPIC)
    view.apply(_NoSql(), [(position, cls.__new__(cls)) for position, cls in enumerate(ignored, 1)])  # type: ignore[arg-type]
