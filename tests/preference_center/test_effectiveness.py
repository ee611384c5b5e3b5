"""Ranking channels by what the refresh learned: whose rates count, and the seed case."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from preference_center import (
    ConsentState,
    CustomerProfile,
    DecisionPolicy,
    SendRequest,
    decide,
    load_profiles,
)
from preference_center.effectiveness import rank_channels
from preference_center.learned import Figure, Learned, Scope, load_learned
from preference_center.learning import refresh
from tests.preference_center.test_learning import NOW, SETTINGS, Record, smooth
from touchline.db import Database
from touchline.record import Consent, Identity

BOTH = ("email", "sms")


def learned_for(db: Database, *customers: tuple[str, str | None]) -> dict[str, Learned]:
    refresh(db, NOW, SETTINGS)
    with db.session() as session:
        return load_learned(session, [c for c, _ in customers], dict(customers))


@pytest.fixture
def record(db: Database) -> Record:
    return Record(db)


def test_the_customers_own_rates_rank_when_they_have_enough(db: Database, record: Record) -> None:
    record.customer("ann", segment="vip")
    record.messages("ann", "email", sent=25, engaged=3).messages("ann", "sms", sent=17, engaged=7)
    ann = learned_for(db, ("ann", "vip"))["ann"]
    ranking = rank_channels(ann, BOTH, "promotions", ("email", "sms"))
    assert ranking.channels == ("sms", "email") and ranking.scope == "customer"
    global_sms, global_email = smooth(7, 17, 0.3), smooth(3, 25, 0.2)  # ann is everyone here
    sms = smooth(7, 17, smooth(7, 17, global_sms))
    email = smooth(3, 25, smooth(3, 25, global_email))
    assert ranking.rates == {"sms": pytest.approx(sms), "email": pytest.approx(email)}
    assert ranking.explanation == (
        f"sms {sms:.0%} (7 of 17), email {email:.0%} (3 of 25) — this customer's history for "
        "promotions"
    )


def test_too_little_data_falls_back_to_the_segment_then_everyone(
    db: Database, record: Record
) -> None:
    record.customer("ann", segment="vip").customer("bob", segment="vip").customer("cy")
    record.customer("dee", segment="new")
    # The segment has enough (bob); ann has 2 messages on 1 channel; cy is in no segment.
    record.messages("ann", "email", sent=2, engaged=2)
    record.messages("bob", "email", sent=4).messages("bob", "sms", sent=4, engaged=4)
    record.messages("cy", "email", sent=1)
    learned = learned_for(db, ("ann", "vip"), ("cy", None), ("dee", "new"), ("eve", None))

    ann = rank_channels(learned["ann"], BOTH, "promotions", ("email", "sms"))
    assert (ann.channels, ann.scope) == (("sms", "email"), "segment")
    assert ann.explanation.endswith(
        "— segment vip for promotions (this customer's history: 2 messages on 1 channel)"
    )
    cy = rank_channels(learned["cy"], BOTH, "promotions", ("email", "sms"))
    assert (cy.channels, cy.scope) == (("sms", "email"), "global")
    assert "— all customers for promotions (this customer's history: 1 message on 1" in (
        cy.explanation
    )
    # dee's segment has no data at all; eve is new: everyone's rates.
    assert rank_channels(learned["dee"], BOTH, "promotions", BOTH).scope == "global"
    assert rank_channels(learned["eve"], BOTH, "promotions", BOTH).scope == "global"


def test_nothing_is_claimed_below_the_minimum_anywhere(db: Database, record: Record) -> None:
    record.customer("ann", segment="vip")
    record.messages("ann", "email", sent=5, engaged=5)  # one channel only
    ann = learned_for(db, ("ann", "vip"))["ann"]
    ranking = rank_channels(ann, BOTH, "promotions", BOTH)
    assert ranking.channels == () and ranking.scope is None
    assert ranking.explanation == (
        "not enough data to rank channels for promotions (this customer's history: 5 messages "
        "on 1 channel; segment vip: 5 messages on 1 channel; all customers: 5 messages on 1 "
        "channel; needs 3 on 2)"
    )
    # Another kind of message has no data of its own, whatever promotions say.
    assert rank_channels(ann, BOTH, "newsletter", BOTH).channels == ()
    assert rank_channels(Learned(), BOTH, "promotions", BOTH).channels == ()


def test_a_channel_the_scope_never_used_takes_the_wider_rate(db: Database, record: Record) -> None:
    record.customer("ann").customer("bob")
    record.messages("ann", "email", sent=3, engaged=3).messages("ann", "sms", sent=3)
    record.messages("bob", "whatsapp", sent=2, engaged=2)
    bob_and_ann = learned_for(db, ("ann", None))["ann"]
    ranking = rank_channels(bob_and_ann, ("sms", "whatsapp", "email"), "promotions", ())
    assert ranking.scope == "customer"
    assert ranking.channels == ("email", "whatsapp", "sms")
    assert "whatsapp " in ranking.explanation and "(none sent; the wider rate)" in (
        ranking.explanation
    )


def test_ties_follow_the_stated_order_then_the_candidates() -> None:
    even = Figure(3, 1, 0.3)
    rates = {("promotions", "email"): even, ("promotions", "sms"): even}
    learned = Learned(customer=Scope("customer", "ann", rates))
    assert rank_channels(learned, BOTH, "promotions", ("sms",)).channels == ("sms", "email")
    assert rank_channels(learned, BOTH, "promotions", ()).channels == ("email", "sms")


# --- the seed case: stated email first, the record says SMS engages better -----------------

POLICY = DecisionPolicy(default_channel_order=BOTH, default_timezone="UTC")
GRANTED = ConsentState("granted", "signup_form", datetime(2026, 1, 1, tzinfo=UTC))


def seed_case(db: Database, record: Record) -> CustomerProfile:
    record.customer("texter", segment="vip")
    with db.session() as session:
        session.execute(
            insert(Identity),
            [{"customer_id": "texter", "kind": "email", "value": "t@example.com",
              "source": "test", "created_at": NOW},
             {"customer_id": "texter", "kind": "phone", "value": "+14155550100",
              "source": "test", "created_at": NOW}],
        )  # fmt: skip
        session.execute(
            insert(Consent),
            [{"customer_id": "texter", "channel": c, "purpose": "marketing", "status": "granted",
              "source": "test", "evidence": {}, "recorded_at": NOW} for c in BOTH],
        )  # fmt: skip
    record.messages("texter", "email", sent=8, engaged=0)
    record.messages("texter", "sms", sent=4, engaged=4)
    refresh(db, NOW, SETTINGS)
    with db.session() as session:
        profile = load_profiles(session, ["texter"], learned=True)["texter"]
    assert profile.learned.segment is not None and profile.learned.segment.key == "vip"
    return CustomerProfile(
        customer_id="texter",
        addresses=profile.addresses,
        consents=profile.consents,
        channel_order=("email", "sms"),
        timezone="UTC",
        learned=profile.learned,
    )


def test_best_picks_the_channel_that_engages_and_keeps_the_stated_preference(
    db: Database, record: Record
) -> None:
    profile = seed_case(db, record)
    request = SendRequest("marketing", None, BOTH, policy="best", kind="promotions")
    decision = decide(profile, request, NOW, POLICY)
    assert decision.channel == "sms"
    [note] = [r.message for r in decision.reasons if r.check == "ranking"]
    assert note.startswith("best: sms ") and "(4 of 4), email " in note and "(0 of 8)" in note
    assert "this customer's history for promotions" in note
    assert note.endswith("although the customer states email first")


def test_preferred_keeps_the_stated_order_whatever_the_data(db: Database, record: Record) -> None:
    profile = seed_case(db, record)
    request = SendRequest("marketing", None, BOTH, policy="preferred", kind="promotions")
    decision = decide(profile, request, NOW, POLICY)
    assert decision.channel == "email"
    assert str(decision.reasons[0]) == "the customer's stated order: email, sms"


def test_best_without_data_for_this_kind_uses_the_stated_order_and_says_so(
    db: Database, record: Record
) -> None:
    profile = seed_case(db, record)
    request = SendRequest("marketing", None, BOTH, policy="best", kind="newsletter")
    decision = decide(profile, request, NOW, POLICY)
    assert decision.channel == "email"
    assert str(decision.reasons[0]).startswith(
        "best: not enough data to rank channels for newsletter"
    )
    assert str(decision.reasons[0]).endswith("using the customer's stated order: email, sms")
