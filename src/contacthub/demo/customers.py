"""The demo's customers: what the operator knows of each, and the population a plan deals out."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from contacthub.demo.plan import Event
from contacthub.demo.world import (
    COMPANY_BRANDS,
    COMPANY_TRADES,
    GIVEN_NAME_CHARACTERS,
    HIGH_TIERS,
    OWN_PREFIXES,
    PORTED_IN_PREFIXES,
    TIER_SHARES,
    Store,
    pick_store,
    pick_surname,
)

# The first customers are the showcase (see the package's docstring).
SHOWCASE_CUSTOMERS = 9


@dataclass
class CustomerRecord:
    index: int
    customer_id: str
    name: str
    segment: str
    tier: str  # at registration; BOSS's later reviews are in tier_changes
    msisdns: tuple[str, ...]
    store: Store
    services: set[str]
    account_manager: str | None
    registered_at: int = 0
    joined_in_window: bool = False
    # Scripted stories own the customer until this time, so that their numbers (such as
    # "21 calls") are not blurred by unrelated contacts.
    background_from: int = 0
    tier_changes: list[tuple[int, str]] = field(default_factory=list)  # (when, new tier), in time order
    journal: list[tuple[int, int, Event]] = field(default_factory=list)

    def tier_at(self, t: int) -> str:
        """The tier ContactHub knows at `t`: the one the SLA policy measures a complaint opened then by.

        A review at the same second counts: reviews are journalled before any episode, so
        they come first when the timeline is merged.
        """
        tier = self.tier
        for changed_at, new_tier in self.tier_changes:
            if changed_at > t:
                break
            tier = new_tier
        return tier


def population(count: int, rng: random.Random) -> list[CustomerRecord]:
    """The plan's `count` customers, in customer-id order, with nothing yet written for them."""
    # Tiers are dealt from a deck rather than drawn, so even a small plan has a
    # diamond customer and the shares hold exactly.
    deck: list[str] = []
    if count >= len(TIER_SHARES):
        for tier, share in TIER_SHARES[:-1]:
            deck += [tier] * max(1, round(share * count))
    deck += ["ordinary"] * (count - len(deck))
    rng.shuffle(deck)
    numbers_in_use: set[str] = set()
    customers = []
    for i, tier in enumerate(deck, start=1):
        showcase = i <= SHOWCASE_CUSTOMERS
        corporate = not showcase and rng.random() < 0.08
        customers.append(_customer(rng, numbers_in_use, i, tier, corporate))
    return customers


def _customer(rng: random.Random, numbers_in_use: set[str], index: int, tier: str, corporate: bool) -> CustomerRecord:
    store: Store = pick_store(rng)
    if corporate:
        name = f"{store.city}{rng.choice(COMPANY_BRANDS)}{rng.choice(COMPANY_TRADES)}有限公司"
        numbers = rng.randint(3, 9)
        services = {"mobile", "landline", "broadband"}
    else:
        given = "".join(rng.choice(GIVEN_NAME_CHARACTERS) for _ in range(1 if rng.random() < 0.3 else 2))
        name = pick_surname(rng) + given
        draw = rng.random()
        numbers = 1 if draw < 0.82 else 2 if draw < 0.96 else 3
        services = {"mobile"}
        if rng.random() < 0.55:
            services.add("broadband")
            if rng.random() < 0.5:
                services.add("iptv")
        if rng.random() < 0.08:
            services.add("landline")
    # Corporate and high-value customers have a dedicated account manager.
    managed = corporate or tier in HIGH_TIERS
    return CustomerRecord(
        index=index,
        customer_id=f"C{index:06d}",
        name=name,
        segment="corporate" if corporate else "individual",
        tier=tier,
        msisdns=tuple(_new_number(rng, numbers_in_use) for _ in range(numbers)),
        store=store,
        services=services,
        account_manager=f"am-{rng.randint(1, 40):03d}" if managed else None,
    )


def _new_number(rng: random.Random, numbers_in_use: set[str]) -> str:
    while True:
        prefixes = OWN_PREFIXES if rng.random() < 0.87 else PORTED_IN_PREFIXES
        number = rng.choice(prefixes) + f"{rng.randrange(100_000_000):08d}"
        if number not in numbers_in_use:
            numbers_in_use.add(number)
            return number
