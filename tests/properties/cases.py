"""What a generated scenario is made of, and the hypothesis strategies that make them.

A scenario: three customers appear (a sign-up, or a guest's abandoned cart carrying their
addresses and consents), then a random interleaving of operations, each after a random
pause on the clock — consent grants and revocations, leaving and rejoining a topic,
suppressions, addresses moving to another customer or replaced, merges, quiet-hour and
frequency-limit changes, new sign-ups, carts (the cart journey's sends fill the caps the
welcome journey must respect), orders and first purchases (exit events), one-click
unsubscribes from received emails, and advance runs. The world then lets three days pass
in advance runs, so every deferred or waiting message comes due.

Only event types the shipped journeys use: customer.signed_up, cart.abandoned,
order.placed, customer.first_purchase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from hypothesis import strategies as st

# None of them falls in the cart journey's 10 % holdout (ids.fraction): all can be sent to.
CUSTOMERS = ("c1", "c4", "c5")
ZONES = ("Europe/London", "America/Los_Angeles", "Asia/Tokyo")
# None clears the customer's quiet hours; a daytime window makes deferrals common.
QUIET = (None, (time(22, 0), time(7, 0)), (time(9, 0), time(18, 0)))
PAUSES = tuple(
    timedelta(minutes=m) for m in (0, 5, 30, 60, 180, 420, 780, 1500)
)  # up to a day and an hour
UNSET: Any = object()


@dataclass(frozen=True)
class Profile:
    email: str
    phone: str


@dataclass(frozen=True)
class ConsentGiven:
    channel: str  # email | sms (marketing, granted)
    confirmed: bool = True  # SMS: the double opt-in was done elsewhere (else pending)


@dataclass(frozen=True)
class Op:
    after: timedelta = field(default=timedelta(0), kw_only=True)


@dataclass(frozen=True)
class Prefs(Op):
    customer: str
    timezone: Any = UNSET
    quiet: Any = UNSET  # None (clear) or (start, end)
    max_per_week: Any = UNSET

    def given(self) -> dict[str, Any]:
        """The fields stated, as intake and PreferencesIn take them."""
        out: dict[str, Any] = {}
        if self.timezone is not UNSET:
            out["timezone"] = self.timezone
        if self.quiet is not UNSET:
            out["quiet_hours"] = (
                None
                if self.quiet is None
                else {"start": f"{self.quiet[0]:%H:%M}", "end": f"{self.quiet[1]:%H:%M}"}
            )
        if self.max_per_week is not UNSET:
            out["max_per_week"] = self.max_per_week
        return out

    def __repr__(self) -> str:  # shrunk examples read as what happened
        return f"Prefs({self.customer}, {self.given()}, after={self.after})"


@dataclass(frozen=True)
class Signup(Op):
    customer: str
    profile: Profile
    consents: tuple[ConsentGiven, ...]
    preferences: Prefs | None = None


@dataclass(frozen=True)
class GuestCart(Op):
    """A first contact without a sign-up: a guest checkout gave addresses and consents."""

    customer: str
    profile: Profile
    consents: tuple[ConsentGiven, ...]
    preferences: Prefs | None = None
    total: int = 25


@dataclass(frozen=True)
class Advance(Op):
    pass


@dataclass(frozen=True)
class Cart(Op):
    customer: str
    total: int  # the cart journey starts at 10 and more


@dataclass(frozen=True)
class Order(Op):
    customer: str


@dataclass(frozen=True)
class FirstPurchase(Op):
    customer: str


@dataclass(frozen=True)
class Consent(Op):
    customer: str
    channel: str
    status: str
    purpose: str = "marketing"
    confirmed: bool = True


@dataclass(frozen=True)
class Topic(Op):
    customer: str
    channel: str  # email | sms | all
    status: str  # granted (rejoin) | revoked (leave)


@dataclass(frozen=True)
class Unsubscribe(Op):
    pick: int  # which received email's link is clicked (modulo how many there are)


@dataclass(frozen=True)
class Suppress(Op):
    customer: str
    kind: str  # email | phone
    reason: str


@dataclass(frozen=True)
class Move(Op):
    customer: str
    kind: str
    to: str | None  # another customer takes the address; None: a new one replaces it
    new_value: str = ""


@dataclass(frozen=True)
class Merge(Op):
    source: str
    target: str


@dataclass(frozen=True)
class Scenario:
    first_contacts: tuple[Op, ...]
    ops: tuple[Op, ...]


def profile_of(customer: str) -> Profile:
    n = CUSTOMERS.index(customer) + 1
    return Profile(f"{customer}@example.com", f"+141555501{n:02d}")


customers = st.sampled_from(CUSTOMERS)
pauses = st.sampled_from(PAUSES)


@st.composite
def preferences(draw: st.DrawFn, customer: str, *, partial: bool = True) -> Prefs:
    def maybe(values: st.SearchStrategy[Any]) -> Any:
        return draw(st.one_of(st.just(UNSET), values)) if partial else draw(values)

    return Prefs(
        customer,
        timezone=maybe(st.sampled_from(ZONES)),
        quiet=maybe(st.sampled_from(QUIET)),
        max_per_week=maybe(st.sampled_from((None, 1, 2))),
    )


@st.composite
def consents_given(draw: st.DrawFn) -> tuple[ConsentGiven, ...]:
    given = []
    if draw(st.sampled_from((True, True, True, False))):
        given.append(ConsentGiven("email"))
    sms = draw(st.sampled_from(("confirmed", "confirmed", "unconfirmed", "none")))
    if sms != "none":
        given.append(ConsentGiven("sms", confirmed=sms == "confirmed"))
    return tuple(given)


@st.composite
def first_contact(draw: st.DrawFn, customer: str) -> Op:
    kind = draw(st.sampled_from((Signup, GuestCart)))
    return kind(
        customer,
        profile_of(customer),
        draw(consents_given()),
        draw(preferences(customer, partial=False)),
    )


@st.composite
def operation(draw: st.DrawFn) -> Op:
    after = draw(pauses)
    who = draw(customers)
    kind = draw(
        st.sampled_from(
            ("advance",) * 5
            + ("consent", "consent", "topic", "prefs", "cart", "cart", "signup", "signup",
               "order", "purchase", "unsubscribe", "unsubscribe", "suppress", "move", "move",
               "merge", "merge", "merge")
        )
    )  # fmt: skip
    if kind == "advance":
        return Advance(after=after)
    if kind == "consent":
        return Consent(
            who,
            draw(st.sampled_from(("email", "sms"))),
            draw(st.sampled_from(("granted", "revoked"))),
            purpose=draw(st.sampled_from(("marketing",) * 4 + ("transactional",))),
            confirmed=draw(st.booleans()),
            after=after,
        )
    if kind == "topic":
        return Topic(
            who,
            draw(st.sampled_from(("email", "sms", "all"))),
            draw(st.sampled_from(("granted", "revoked"))),
            after=after,
        )
    if kind == "prefs":
        return Prefs(**{**draw(preferences(who)).__dict__, "after": after})
    if kind == "cart":
        return Cart(who, draw(st.sampled_from((25, 25, 5))), after=after)
    if kind == "signup":
        return Signup(who, profile_of(who), draw(consents_given()), after=after)
    if kind == "order":
        return Order(who, after=after)
    if kind == "purchase":
        return FirstPurchase(who, after=after)
    if kind == "unsubscribe":
        return Unsubscribe(draw(st.integers(0, 20)), after=after)
    if kind == "suppress":
        return Suppress(
            who,
            draw(st.sampled_from(("email", "phone"))),
            draw(st.sampled_from(("bounce", "spamreport"))),
            after=after,
        )
    if kind == "move":
        address_kind = draw(st.sampled_from(("email", "phone")))
        to = draw(st.one_of(st.none(), customers))
        n = draw(st.integers(0, 9))
        new = f"{who}.new{n}@example.com" if address_kind == "email" else f"+1415555020{n}"
        return Move(who, address_kind, None if to == who else to, new, after=after)
    source, target = draw(st.lists(customers, min_size=2, max_size=2, unique=True))
    return Merge(source, target, after=after)


@st.composite
def scenarios(draw: st.DrawFn, max_ops: int = 30) -> Scenario:
    first = tuple(draw(first_contact(c)) for c in CUSTOMERS)
    ops = tuple(draw(st.lists(operation(), min_size=6, max_size=max_ops)))
    return Scenario(first, ops)
