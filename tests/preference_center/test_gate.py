"""still_allowed, the final gate's verdict, rule by rule and in order; and the snapshot's
cap counts, which include messages still on their way."""

from datetime import UTC, datetime, time, timedelta

from preference_center import ConsentState, CustomerProfile, DecisionPolicy, QuietHours
from preference_center.gate import (
    ALLOWED,
    DEFER,
    REDIRECT,
    SKIP,
    PendingSend,
    gate_batch,
    load_snapshot,
    still_allowed,
)
from touchline.db import Database
from touchline.record import Customer, Enrollment, Interaction, Journey, Preference, Touch

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GRANTED = ConsentState("granted", "signup_form", datetime(2026, 1, 1, tzinfo=UTC))
REVOKED = ConsentState("revoked", "sms_keyword", datetime(2026, 11, 23, tzinfo=UTC))
POLICY = DecisionPolicy(
    company_quiet_hours=QuietHours(time(21), time(8)), marketing_cap=3, default_timezone="UTC"
)


def profile(**overrides: object) -> CustomerProfile:
    base: dict[str, object] = {
        "customer_id": "c1",
        "addresses": {"sms": "+14155550100"},
        "consents": {("sms", "marketing"): GRANTED},
        "timezone": "UTC",
    }
    return CustomerProfile(**{**base, **overrides})  # type: ignore[arg-type]


def sms(touch: str = "t1", topic: str | None = "promotions", purpose: str = "marketing"):
    return PendingSend(touch, "c1", "sms", "+14155550100", purpose, topic)


def test_nothing_changed_means_allowed_to_the_same_address() -> None:
    verdict = still_allowed(profile(), sms(), NOON, POLICY)
    assert (verdict.outcome, verdict.address, verdict.sends) == (ALLOWED, "+14155550100", True)


def test_each_rule_says_why() -> None:
    cases = {
        "address changed before dispatch: no phone number on file": profile(addresses={}),
        "address suppressed before dispatch: the phone number is suppressed (spamreport)": (
            profile(suppressed={"sms": "spamreport"})
        ),
        "consent changed before dispatch: opted out of sms marketing on 2026-11-23 via "
        "sms_keyword": profile(consents={("sms", "marketing"): REVOKED}),
        "left the topic before dispatch: left the topic promotions on 2026-11-23 via "
        "sms_keyword": profile(topics={("promotions", "all"): REVOKED}),
    }
    for reason, changed in cases.items():
        verdict = still_allowed(changed, sms(), NOON, POLICY)
        assert (verdict.outcome, verdict.reason, verdict.sends) == (SKIP, reason, False)


def test_caps_then_quiet_hours_then_the_address() -> None:
    capped = still_allowed(profile(recent_marketing=3), sms(), NOON, POLICY)
    assert capped.outcome == SKIP and capped.reason.startswith("frequency cap reached")
    own = still_allowed(profile(max_per_week=1, marketing_this_week=1), sms(), NOON, POLICY)
    assert own.outcome == SKIP and "the customer's own limit" in own.reason
    late = still_allowed(profile(), sms(), NOON.replace(hour=22), POLICY)
    assert (late.outcome, late.until) == (DEFER, NOON.replace(hour=8) + timedelta(days=1))
    moved = still_allowed(profile(addresses={"sms": "+14155550199"}), sms(), NOON, POLICY)
    assert (moved.outcome, moved.address) == (REDIRECT, "+14155550199")


def test_transactional_messages_skip_caps_and_quiet_hours_but_not_a_stop() -> None:
    receipt = sms(purpose="transactional", topic=None)
    night = NOON.replace(hour=23)
    assert still_allowed(profile(recent_marketing=9), receipt, night, POLICY).outcome == ALLOWED
    stopped = profile(consents={("sms", "transactional"): REVOKED})
    assert still_allowed(stopped, receipt, NOON, POLICY).outcome == SKIP


def test_a_batch_counts_what_it_lets_through() -> None:
    verdicts = gate_batch(
        {"c1": profile(recent_marketing=1)}, [sms("t1"), sms("t2"), sms("t3")], NOON, POLICY
    )
    assert [v.outcome for v in verdicts.values()] == [ALLOWED, ALLOWED, SKIP]


def test_the_snapshot_counts_messages_on_their_way_but_not_the_touch_itself(db: Database) -> None:
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=NOON, updated_at=NOON))
        session.add(Preference(customer_id="c1", max_per_week=2, updated_at=NOON))
        session.add(Journey(key="j", version=1, name="J", definition={}, digest="x",
                            published_at=NOON))  # fmt: skip
        session.flush()
        session.add(Enrollment(id="e1", journey_id=1, journey_key="j", journey_version=1,
                               customer_id="c1", trigger_at=NOON, entered_at=NOON,
                               updated_at=NOON))  # fmt: skip
        session.flush()
        for tid, kinds in {"sent": ["dispatching", "sent"], "flying": ["dispatching"],
                           "gated": ["dispatching"], "old": ["sent"]}.items():  # fmt: skip
            at = NOON - timedelta(days=9 if tid == "old" else 0, minutes=5)
            session.add(Touch(id=tid, enrollment_id="e1", customer_id="c1", journey_key="j",
                              journey_version=1, step_id=tid, purpose="marketing",
                              channel="sms", address="+1", scheduled_for=at, created_at=at))  # fmt: skip
            session.flush()
            session.add_all(
                Interaction(id=f"{tid}-{kind}", touch_id=tid, customer_id="c1", kind=kind,
                            occurred_at=at, recorded_at=at)
                for kind in kinds
            )  # fmt: skip
    with db.session() as session:
        snapshot = load_snapshot(session, ["c1"], purpose="marketing", now=NOON, policy=POLICY,
                                 exclude_touches={"gated"})  # fmt: skip
    assert (snapshot["c1"].recent_marketing, snapshot["c1"].marketing_this_week) == (2, 2)
