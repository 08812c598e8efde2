"""What erasure refuses and what it keeps, on the ingest service over an in-memory log.

`IngestService.erase` records customer.erased and frees the customer's numbers, all at once;
from then on nothing new is accepted about the customer, while the event ids already stored
still answer "duplicate". That no personal value is left in the database, that the chains
still verify, and the CLI and HTTP refusals (unknown customer, empty reason, roles):
tests/e2e/test_erasure.py.
"""

from __future__ import annotations

import pytest

from contacthub.domain.customer import Customer
from contacthub.services.ports import ERASED_DIGEST
from helpers import complaint_opened, contact, registered
from support.services import Services, errors

MSISDN = "13912345678"


@pytest.fixture
def erased(services: Services) -> Services:
    """C1 (13912345678) with a contact and complaint K1, then erased; C2 untouched."""
    services.given(
        registered("C1", (MSISDN,)), registered("C2", ("13800000002",)),
        contact({"msisdn": MSISDN}, event_id="c1-call"), complaint_opened("K1", {"customer_id": "C1"}),
    )
    assert services.ingest.erase("C1", by="admin-li", reason="工单 RQ-88") == ("recorded", 5)
    return services


def test_an_unknown_customer_cannot_be_erased(services: Services) -> None:
    with pytest.raises(LookupError):
        services.ingest.erase("NOPE", by="admin", reason="x")
    assert services.log.head_position() == 0


def test_erasure_is_recorded_once_and_a_second_erasure_answers_already_erased(erased: Services) -> None:
    assert erased.ingest.erase("C1", by="admin-li", reason="again") == ("already_erased", 5)

    assert erased.stored_types("C1")[-1] == "customer.erased"
    assert erased.stored_types("C1").count("customer.erased") == 1
    assert erased.customer("C1").erased_at == erased.clock()


def test_nothing_new_is_accepted_about_an_erased_customer(erased: Services) -> None:
    by_id = contact({"customer_id": "C1"})
    rejected = erased.refused(by_id)
    assert (rejected.status_code, errors(rejected)) == (409, [(0, by_id["event_id"], "customer_id")])
    assert "erased" in rejected.errors[0].message

    # ... nor on their complaint, which still names them
    action = erased.refused_action("K1", action="note", text="客户来电")
    assert [e.field for e in action.errors] == ["customer_id"]


def test_an_erased_customers_number_leads_to_nobody_and_can_be_registered_again(erased: Services) -> None:
    # Erased at the instant of registration (the clock has not moved): the number is free from then on,
    # so a touchpoint from it is an unknown caller's, not the erased customer's
    by_number = erased.given(contact({"msisdn": MSISDN}))
    party = erased.party_of(MSISDN)
    assert by_number.results[0].status == "recorded"
    assert erased.stored_types(party) == ["caller.unidentified", "contact.logged"]

    erased.given(registered("C3", (MSISDN,)), contact({"msisdn": MSISDN}))

    # ... and the new holder takes it (within the look-back) with their own
    assert erased.customer("C3").contact_count == 2
    assert erased.customer(party).parked == {}
    assert erased.log.lookup_claims("msisdn", [MSISDN, "13800000002"]) == {MSISDN: "C3", "13800000002": "C2"}


def test_the_unidentified_parties_of_an_erased_customers_numbers_are_erased_with_them(services: Services) -> None:
    """A party names its number and its marks name the customer its touchpoints joined: it goes too."""
    services.given(contact({"msisdn": MSISDN}, occurred_at="2026-11-01T09:00:00+08:00"))
    party = services.party_of(MSISDN)
    services.given(registered("C1", (MSISDN,)))
    assert services.customer("C1").contact_count == 1

    services.ingest.erase("C1", by="admin-li", reason="工单 RQ-90")

    assert services.customer(party).erased_at == services.clock()
    assert services.stored_types(party)[-1] == "customer.erased"
    assert services.party_of(MSISDN) == ""  # its number is nobody's party now
    services.clock.advance(days=1)
    services.given(contact({"msisdn": MSISDN}, occurred_at="2026-11-03T09:00:00+08:00"))  # a new unknown caller
    assert services.party_of(MSISDN) not in ("", party)


def test_an_erased_customers_stored_events_still_answer_duplicate_whatever_their_content(erased: Services) -> None:
    same = contact({"msisdn": MSISDN}, event_id="c1-call")  # what was stored: the content is gone, the id is not
    changed = contact({"msisdn": MSISDN}, event_id="c1-call", channel="web")

    answers = [erased.given(same), erased.given(changed)]

    assert [(r.status, r.position) for a in answers for r in a.results] == [("duplicate", 3), ("duplicate", 3)]
    assert {k.digest for k in erased.log.lookup_keys(["c1-call"]).values()} == {ERASED_DIGEST}


def test_the_other_customers_are_untouched(erased: Services) -> None:
    erased.given(contact({"msisdn": "13800000002"}))

    c2 = erased.customer("C2")
    assert (c2.erased_at, c2.msisdns, c2.contact_count) == (None, ("13800000002",), 1)
    assert not any(isinstance(e, Customer.Erased) for _, e in erased.log.customer_history("C2"))

