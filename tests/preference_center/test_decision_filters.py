"""Hard filters the customer set: topics left, their own frequency limit, and addresses
suppressed after a bounce or a STOP — each with its reason, none overridden."""

from datetime import UTC, datetime

from preference_center import ConsentState, CustomerProfile, DecisionPolicy, SendRequest, decide

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GRANTED = ConsentState("granted", "signup_form", datetime(2026, 1, 1, tzinfo=UTC))
LEFT = ConsentState("revoked", "preference_page", datetime(2026, 11, 1, tzinfo=UTC))


def profile(**overrides: object) -> CustomerProfile:
    base: dict[str, object] = {
        "customer_id": "c1",
        "addresses": {"email": "ada@example.com", "sms": "+14155550100"},
        "consents": {("email", "marketing"): GRANTED, ("sms", "marketing"): GRANTED},
        "timezone": "UTC",
    }
    return CustomerProfile(**{**base, **overrides})  # type: ignore[arg-type]


def request(topic: str | None = "promotions", purpose: str = "marketing") -> SendRequest:
    return SendRequest(purpose=purpose, channels=("email", "sms"), available=("email", "sms"),
                       topic=topic, kind=topic or purpose)  # fmt: skip


def test_a_topic_left_on_one_channel_moves_the_message_to_the_next() -> None:
    decision = decide(
        profile(topics={("promotions", "email"): LEFT}), request(), NOON, DecisionPolicy()
    )
    assert decision.channel == "sms"
    topic = next(r for r in decision.reasons if r.check == "topic")
    assert (topic.channel, topic.outcome) == ("email", "fail")
    assert "left the topic promotions on 2026-11-01 via preference_page" in topic.message


def test_a_topic_left_everywhere_sends_nothing_but_other_topics_still_go() -> None:
    left = profile(topics={("promotions", "all"): LEFT})
    assert decide(left, request(), NOON, DecisionPolicy()).channel is None
    assert "left the topic" in (decide(left, request(), NOON, DecisionPolicy()).skip_reason or "")
    assert decide(left, request("newsletter"), NOON, DecisionPolicy()).channel == "email"


def test_the_customers_own_weekly_limit_is_stricter_than_the_companys() -> None:
    mine = profile(max_per_week=1, marketing_this_week=1, recent_marketing=1)
    decision = decide(mine, request(), NOON, DecisionPolicy(marketing_cap=3))
    assert decision.channel is None
    assert decision.skip_reason == (
        "the customer's own limit: 1 marketing messages in the last 7 days "
        "(they asked for at most 1 a week)"
    )
    # Transactional messages are not marketing: no limit applies.
    assert decide(mine, request(None, "transactional"), NOON, DecisionPolicy()).channel == "email"


def test_a_suppressed_address_is_skipped_whatever_the_consent() -> None:
    bounced = profile(suppressed={"email": "bounce"})
    decision = decide(bounced, request(), NOON, DecisionPolicy())
    assert decision.channel == "sms"
    assert [str(r) for r in decision.reasons if r.check == "suppression"] == [
        "email: the email address is suppressed (bounce)"
    ]
