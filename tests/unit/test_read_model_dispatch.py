"""What a read model does with the events it ignores: nothing at all."""

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


def test_a_family_is_every_stored_class_derived_from_its_base() -> None:
    assert Customer.SlaBreached in family(Customer.ComplaintStep)  # a step of a step is a step too
    assert Customer.ComplaintOpened not in family(Customer.ComplaintStep)
    assert family(Customer.ComplaintStep) <= STORED_EVENTS


# That each read model handles or ignores every type, never both: tests/unit/test_catalogue.py.


class _NoSql:
    """A cursor that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a batch of ignored events used Sql.{name}")


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_a_batch_of_ignored_events_touches_no_table(view: ReadModel[Any]) -> None:
    # Only the class of an event decides whether a read model looks at it: blank instances will do.
    ignored = sorted(view.ignores, key=lambda cls: cls.TOPIC)
    view.apply(_NoSql(), [(position, cls.__new__(cls)) for position, cls in enumerate(ignored, 1)])  # type: ignore[arg-type]
