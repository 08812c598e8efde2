"""The event catalogue is complete: no event type can be half-added.

Every type declared in contract/catalogue.py has a heading in docs/events.md, a label in
both languages, and a decision (handled or ignored) in every read model; every event class
the customer aggregate can store is declared; and the lists other modules use are the
catalogue's, not kept by hand.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from contacthub.adapters.web.i18n import LANGUAGES, TEXT
from contacthub.bootstrap import read_models
from contacthub.contract import (
    ACTION_EVENT,
    CATALOGUE,
    CHANNEL_EVENTS,
    COMMANDS,
    DOMAIN_EVENTS,
    EVENT_TYPES,
    IngestBatch,
    validate_event,
)
from contacthub.domain.complaint import ACTIONS
from contacthub.domain.customer import Customer
from contacthub.services.audit import EVENT_TYPES as HISTORY_FILTER

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
ABSTRACT = {Customer.Event, Customer.ComplaintStep}
NAMES = sorted(EVENT_TYPES)


def storable_event_classes() -> set[type]:
    return {
        cls for cls in vars(Customer).values()
        if isinstance(cls, type) and issubclass(cls, Customer.Event) and cls not in ABSTRACT
    }


def test_every_event_class_of_the_customer_is_declared_once() -> None:
    declared = [entry.domain_event for entry in CATALOGUE]
    assert len(declared) == len(set(declared))
    assert set(declared) == storable_event_classes()


@pytest.mark.parametrize("name", NAMES)
def test_every_type_has_a_heading_in_the_event_catalogue_doc(name: str) -> None:
    headings = [line for line in EVENTS_DOC.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert any(f"`{name}`" in heading for heading in headings), f"docs/events.md has no heading naming `{name}`"


@pytest.mark.parametrize("name", NAMES)
def test_every_type_has_a_label_in_both_languages(name: str) -> None:
    label = TEXT.get(EVENT_TYPES[name].label)
    assert label is not None, f"adapters/web/i18n.py has no {EVENT_TYPES[name].label!r}"
    for language in LANGUAGES:
        assert label.get(language, "").strip(), f"{name} has no {language} label"


@pytest.mark.parametrize("name", NAMES)
def test_every_read_model_handles_or_ignores_every_type(name: str) -> None:
    event_class = EVENT_TYPES[name].domain_event
    for view in read_models():
        handled, ignored = event_class in view.handlers, event_class in view.ignores
        assert handled != ignored, (
            f"read model {view.name} must either handle or list as ignored {name}"
            + (" (it does both)" if handled else "")
        )


def test_read_models_decide_nothing_beyond_the_catalogue() -> None:
    declared = {entry.domain_event for entry in CATALOGUE}
    for view in read_models():
        assert set(view.handlers) | set(view.ignores) <= declared, view.name


def test_channels_may_post_exactly_the_types_declared_for_them() -> None:
    posted = {e.name for e in CATALOGUE if e.posted_by == "channel"}
    assert set(CHANNEL_EVENTS) == posted
    union = typing.get_args(typing.get_args(IngestBatch.model_fields["events"].annotation)[0])[0]
    assert {m.model_fields["type"].annotation.__args__[0] for m in typing.get_args(union)} == posted
    for name in set(EVENT_TYPES) - posted:
        _event, errors = validate_event(0, {"type": name, "event_id": "e1", "occurred_at": "2026-11-02T09:00:00+08:00",
                                            "customer_id": "C1"})
        assert [e.field for e in errors] == ["type"], f"a channel could post {name}"


def test_every_complaint_action_records_a_declared_step() -> None:
    assert set(ACTION_EVENT) == set(ACTIONS)
    for action, name in ACTION_EVENT.items():
        assert getattr(EVENT_TYPES[name].domain_event, "ACTION", None) == action


def test_every_recorded_type_is_decided_by_a_customer_command() -> None:
    for entry in CATALOGUE:
        if entry.schema is not None:
            assert COMMANDS[entry.name] is entry.decide
            assert callable(getattr(Customer, entry.decide.__name__))  # type: ignore[union-attr]


def test_the_auditors_history_filter_offers_stored_types_only() -> None:
    assert set(HISTORY_FILTER) == set(DOMAIN_EVENTS)
    assert "customer.erased" in HISTORY_FILTER
    assert not [t for t in HISTORY_FILTER if not re.fullmatch(r"[a-z]+\.[a-z_]+", t) or t.startswith("contacthub.")]
