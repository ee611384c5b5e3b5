from datetime import UTC, datetime, time

from preference_center import (
    ConsentState,
    CustomerProfile,
    DecisionPolicy,
    QuietHours,
    SendRequest,
    decide,
)

NOON_UTC = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = DecisionPolicy(
    default_channel_order=("email", "sms"),
    default_timezone="UTC",
    company_quiet_hours=QuietHours(time(21), time(8)),
    quiet_hours_channels=frozenset({"sms"}),
)
BOTH = ("email", "sms")


def consent(status: str, source: str = "signup_form") -> ConsentState:
    return ConsentState(status, source, datetime(2026, 1, 1, tzinfo=UTC))


def customer(**overrides: object) -> CustomerProfile:
    base: dict[str, object] = {
        "customer_id": "c1",
        "addresses": {"email": "ada@example.com", "sms": "+14155550100"},
        "consents": {
            ("email", "marketing"): consent("granted"),
            ("sms", "marketing"): consent("granted"),
        },
        "timezone": "Europe/London",
    }
    base.update(overrides)
    return CustomerProfile(**base)  # type: ignore[arg-type]


def marketing(channels: tuple[str, ...] | None) -> SendRequest:
    return SendRequest(purpose="marketing", channels=channels, available=BOTH)


def test_the_journeys_channel_is_chosen_with_its_reasons() -> None:
    decision = decide(customer(), marketing(("email",)), NOON_UTC, POLICY)
    assert (decision.channel, decision.address, decision.send_at) == (
        "email",
        "ada@example.com",
        NOON_UTC,
    )
    assert [r.check for r in decision.reasons] == ["policy", "consent"]
    assert "granted on 2026-01-01 via signup_form" in str(decision.reasons[1])


def test_an_opted_out_channel_is_never_used_even_when_stated_first() -> None:
    profile = customer(
        channel_order=("sms", "email"),
        consents={
            ("sms", "marketing"): consent("revoked", "sms_keyword"),
            ("email", "marketing"): consent("granted"),
        },
    )
    decision = decide(profile, marketing(None), NOON_UTC, POLICY)
    assert decision.channel == "email"
    assert "sms: opted out of sms marketing on 2026-01-01 via sms_keyword" in [
        str(r) for r in decision.reasons
    ]


def test_an_opted_out_only_channel_means_no_touch_and_says_why() -> None:
    profile = customer(consents={("sms", "marketing"): consent("revoked", "sms_keyword")})
    decision = decide(profile, marketing(("sms",)), NOON_UTC, POLICY)
    assert decision.channel is None
    assert decision.skip_reason == "sms: opted out of sms marketing on 2026-01-01 via sms_keyword"


def test_fallback_follows_the_journeys_order() -> None:
    profile = customer(addresses={"sms": "+14155550100"})
    decision = decide(
        profile, marketing(("email", "sms")), datetime(2026, 11, 23, 12, tzinfo=UTC), POLICY
    )
    assert decision.channel == "sms"
    assert "email: no email address on file" in [str(r) for r in decision.reasons]


def test_preferred_uses_the_stated_order_then_the_company_default() -> None:
    assert (
        decide(customer(channel_order=("sms", "email")), marketing(None), NOON_UTC, POLICY).channel
        == "sms"
    )
    decision = decide(customer(), marketing(None), NOON_UTC, POLICY)
    assert decision.channel == "email"
    assert "company default" in str(decision.reasons[0])


def test_pending_consent_is_not_consent() -> None:
    profile = customer(consents={("sms", "marketing"): consent("pending")})
    assert (
        decide(profile, marketing(("sms",)), NOON_UTC, POLICY).skip_reason
        == "sms: marketing consent for sms awaits confirmation"
    )


def test_never_asked_is_not_consent() -> None:
    assert (
        decide(customer(consents={}), marketing(("email",)), NOON_UTC, POLICY).skip_reason
        == "email: no marketing consent for email"
    )


def test_transactional_needs_no_opt_in_but_stops_at_a_revocation() -> None:
    receipt = SendRequest(purpose="transactional", channels=("sms",), available=BOTH)
    assert decide(customer(consents={}), receipt, NOON_UTC, POLICY).channel == "sms"
    stopped = customer(consents={("sms", "transactional"): consent("revoked", "sms_keyword")})
    assert decide(stopped, receipt, NOON_UTC, POLICY).channel is None


def test_quiet_hours_are_the_customers_local_hours() -> None:
    # 05:00 UTC is 21:00 the evening before in Los Angeles and 06:00 in London.
    at = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    la = decide(customer(timezone="America/Los_Angeles"), marketing(("sms",)), at, POLICY)
    assert la.send_at == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles
    assert "21:00 America/Los_Angeles is within quiet hours for sms (21:00–08:00)" in str(
        la.reasons[-1]
    )
    london = decide(customer(timezone="Europe/London"), marketing(("sms",)), at, POLICY)
    assert london.send_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_company_quiet_hours_spare_email_but_the_customers_own_do_not() -> None:
    night = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert decide(customer(), marketing(("email",)), night, POLICY).send_at == night
    own = customer(quiet_hours=QuietHours(time(22), time(7)))
    assert decide(own, marketing(("email",)), night, POLICY).send_at == datetime(
        2026, 11, 24, 7, 0, tzinfo=UTC
    )


def test_transactional_messages_ignore_quiet_hours() -> None:
    night = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    request = SendRequest(purpose="transactional", channels=("sms",), available=BOTH)
    assert decide(customer(), request, night, POLICY).send_at == night


def test_a_channel_the_template_cannot_speak_is_passed_over() -> None:
    request = SendRequest(purpose="marketing", channels=("sms", "email"), available=("email",))
    decision = decide(customer(), request, NOON_UTC, POLICY)
    assert decision.channel == "email"
    assert "sms: the template has no content for it" in [str(r) for r in decision.reasons]


def test_an_unknown_time_zone_falls_back_and_says_so() -> None:
    decision = decide(customer(timezone="Mars/Olympus"), marketing(("sms",)), NOON_UTC, POLICY)
    assert decision.channel == "sms"
    assert "unknown time zone 'Mars/Olympus'; using UTC" in [str(r) for r in decision.reasons]


def test_the_decision_serialises_every_reason() -> None:
    record = decide(customer(), marketing(("sms",)), NOON_UTC, POLICY).to_record()
    assert record["channel"] == "sms"
    assert {r["check"] for r in record["reasons"]} == {"policy", "consent", "quiet_hours"}


def test_best_follows_what_was_learned_and_keeps_the_stated_first_channel() -> None:
    from preference_center.learned import Figure, Learned, Scope

    rates = {("promotions", "email"): Figure(8, 0, 0.1), ("promotions", "sms"): Figure(4, 4, 0.8)}
    profile = customer(
        channel_order=("email", "sms"), learned=Learned(customer=Scope("customer", "c1", rates))
    )
    best = SendRequest("marketing", None, BOTH, policy="best", kind="promotions")
    decision = decide(profile, best, NOON_UTC, POLICY)
    assert decision.channel == "sms"
    assert str(decision.reasons[0]) == (
        "best: sms 80% (4 of 4), email 10% (0 of 8) — this customer's history for promotions"
        " — although the customer states email first"
    )
    # Learned for promotions says nothing about the newsletter: the stated order, and why.
    newsletter = SendRequest("marketing", None, BOTH, policy="best", kind="newsletter")
    assert decide(profile, newsletter, NOON_UTC, POLICY).channel == "email"
