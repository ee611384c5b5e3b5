"""The oracle judged on timelines written by hand: it must flag each kind of forbidden send
(so the property test cannot pass because the oracle sees nothing) and let allowed ones
through (so it cannot fail by accident). No database, no emulators."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from tests.conftest import START
from tests.properties.oracle import Rules, Violation, in_window, journey_rules, judge
from tests.properties.world import Accepted, Fact, TouchInfo

RULES = Rules(marketing_cap=2, cap_window=timedelta(days=7), default_timezone="UTC",
              sms_quiet=(time(21, 0), time(8, 0)))  # fmt: skip
NOON = START - timedelta(hours=2)  # 12:00 UTC


@dataclass
class Timeline:
    """Facts and messages, in order; every call is one step of the world."""

    at: datetime = NOON
    facts: list[Fact] = field(default_factory=list)
    messages: list[Accepted] = field(default_factory=list)
    touches: dict[str, TouchInfo] = field(default_factory=dict)

    def fact(self, kind: str, **data: Any) -> Timeline:
        self.facts.append(Fact(len(self.facts) + 1, self.at, kind, data))
        return self

    def later(self, **delta: float) -> Timeline:
        self.at += timedelta(**delta)
        return self

    def signup(self, cid: str, *, sms: bool | None = True, prefs: dict | None = None,
               event: str | None = None, etype: str = "customer.signed_up") -> Timeline:  # fmt: skip
        consents = [("email", "marketing", "granted", True)]
        if sms is not None:
            consents.append(("sms", "marketing", "granted", sms))
        return self.fact(
            "event", id=event or f"signup-{cid}", type=etype, customer=cid,
            addresses=[("email", f"{cid}@example.com"), ("phone", phone(cid))],
            consents=consents, preferences=prefs or {"timezone": "UTC"},
        )  # fmt: skip

    def sent(self, cid: str, *, channel: str = "email", journey: str = "welcome",
             step: str | None = None, to: str | None = None, trigger: str | None = None,
             topic: str | None = None, purpose: str = "marketing") -> Timeline:  # fmt: skip
        """An advance run in which one message was accepted."""
        self.fact("advance")
        touch = f"t{len(self.messages) + 1}"
        self.touches[touch] = TouchInfo(
            journey, step or f"{channel}_step", purpose, topic, trigger or f"signup-{cid}",
            NOON, False,
        )  # fmt: skip
        address = to or (f"{cid}@example.com" if channel == "email" else phone(cid))
        self.messages.append(
            Accepted(self.facts[-1].seq, len(self.messages), channel, address, touch, self.at)
        )
        return self

    def judged(self) -> list[Violation]:
        return judge(self.facts, self.messages, self.touches, RULES, journey_rules())

    def rules_broken(self) -> list[str]:
        return [v.rule for v in self.judged()]


def phone(cid: str) -> str:
    return f"+14155550{int(cid[1:]):03d}"


def test_an_allowed_message_passes() -> None:
    assert Timeline().signup("c1").sent("c1").sent("c1", channel="sms", step="sms").judged() == []


def test_a_message_after_a_revocation_is_flagged() -> None:
    t = Timeline().signup("c1")
    t.fact("consent", customer="c1", channel="email", purpose="marketing", status="revoked",
           confirmed=True)  # fmt: skip
    [violation] = t.sent("c1").judged()
    assert violation.rule == "consent" and "revoked" in violation.detail
    # Granted again: the latest word wins.
    t.fact("consent", customer="c1", channel="email", purpose="marketing", status="granted",
           confirmed=False)  # fmt: skip
    assert len(t.sent("c1", step="again").judged()) == 1


def test_an_unconfirmed_sms_grant_is_pending_unless_already_granted() -> None:
    assert Timeline().signup("c1", sms=False).sent("c1", channel="sms").rules_broken() == [
        "consent"
    ]
    t = Timeline().signup("c1", sms=True)
    t.fact("consent", customer="c1", channel="sms", purpose="marketing", status="granted",
           confirmed=False)  # fmt: skip
    assert t.sent("c1", channel="sms").judged() == []


def test_transactional_messages_need_no_grant_but_stop_at_a_revocation() -> None:
    t = Timeline().signup("c1", sms=None)
    t.sent("c1", channel="sms", journey="sms_double_opt_in", purpose="transactional")
    t.fact("consent", customer="c1", channel="sms", purpose="transactional", status="revoked",
           confirmed=True)  # fmt: skip
    t.sent("c1", channel="sms", journey="sms_double_opt_in", purpose="transactional")
    assert [v.message.index for v in t.judged()] == [1]


def test_an_address_unlinked_or_given_to_someone_else_is_flagged() -> None:
    t = Timeline().signup("c1").signup("c2")
    t.fact("unlink", customer="c1", address=("phone", phone("c1")))
    t.sent("c1", channel="sms", step="a")
    t.fact("link", customer="c2", address=("phone", phone("c1")))
    t.sent("c1", channel="sms", step="b")
    details = [v.detail for v in t.judged()]
    assert details[0].endswith("belongs to no one (unlinked) — meant for c1")
    assert details[1] == f"{phone('c1')} belongs to c2, not c1"


def test_a_suppressed_address_is_flagged() -> None:
    t = Timeline().signup("c1")
    t.fact("suppress", address=("email", "c1@example.com"))
    assert t.sent("c1").rules_broken() == ["suppression"]


def test_a_topic_left_on_all_channels_is_flagged_until_rejoined_on_that_channel() -> None:
    t = Timeline().signup("c1")
    t.fact("topic", customer="c1", channel="all", status="revoked")
    t.sent("c1", journey="cart_abandonment", topic="promotions", step="a")
    t.fact("topic", customer="c1", channel="email", status="granted")
    t.sent("c1", journey="cart_abandonment", topic="promotions", step="b")
    t.sent("c1", channel="sms", journey="cart_abandonment", topic="promotions", step="c")
    topic = [(v.message.index, v.rule) for v in t.judged() if v.rule != "cap"]
    assert topic == [(0, "topic"), (2, "topic")]


def test_the_company_cap_and_the_customers_own_limit() -> None:
    t = Timeline().signup("c1")
    for step in ("a", "b", "c"):
        t.sent("c1", journey="cart_abandonment", step=step).later(hours=1)
    assert [v.message.index for v in t.judged()] == [2]
    t.later(days=7)  # the window has passed
    t.sent("c1", journey="cart_abandonment", step="d")
    assert [v.message.index for v in t.judged()] == [2]
    own = Timeline().signup("c1", prefs={"timezone": "UTC", "max_per_week": 1})
    own.sent("c1").later(days=1).sent("c1", channel="sms", step="nudge")
    assert "own limit 1/week" in own.judged()[0].detail


def test_quiet_hours_in_the_customers_zone() -> None:
    # 12:00 UTC is 21:00 in Tokyo: SMS waits for the company's quiet hours, email does not.
    t = Timeline().signup("c1", prefs={"timezone": "Asia/Tokyo"})
    t.sent("c1", step="email").sent("c1", channel="sms", step="sms")
    assert [(v.message.channel, v.rule) for v in t.judged()] == [("sms", "quiet hours")]
    own = Timeline().signup("c1", prefs={"timezone": "UTC"})
    own.fact(
        "prefs", customer="c1", preferences={"quiet_hours": {"start": "09:00", "end": "18:00"}}
    )
    assert own.sent("c1").rules_broken() == ["quiet hours"]
    assert in_window(time(23, 0), (time(21, 0), time(8, 0)))
    assert not in_window(time(8, 0), (time(21, 0), time(8, 0)))


def test_an_exit_event_ends_the_enrollment_but_not_a_later_one() -> None:
    t = Timeline().signup("c1")
    t.fact("event", id="buy-1", type="customer.first_purchase", customer="c1", addresses=[],
           consents=[], preferences=None)  # fmt: skip
    assert t.sent("c1").rules_broken() == ["exit"]
    cart = Timeline().signup("c1")
    cart.fact("event", id="order-1", type="order.placed", customer="c1", addresses=[],
              consents=[], preferences=None)  # fmt: skip
    cart.later(hours=1).signup("c1", event="cart-1", etype="cart.abandoned")
    cart.sent("c1", journey="cart_abandonment", trigger="cart-1")
    # The order came before this cart's enrollment started: it does not end it.
    assert cart.judged() == []


def test_a_merge_joins_the_histories() -> None:
    # c2's word, said through the link of an email sent before the merge, is c1's now.
    t = Timeline().signup("c1").signup("c2").sent("c2")
    t.fact("merge", source="c2", target="c1")
    t.fact("unsubscribe", touch_id="t1", channel="email")
    assert t.sent("c1", journey="cart_abandonment").rules_broken() == ["consent"]


@pytest.mark.parametrize("merge_first", [True, False])
def test_reentry_once_counts_the_merged_profiles_sends(merge_first: bool) -> None:
    t = Timeline().signup("c1").signup("c2").sent("c2", step="welcome_email")
    if merge_first:
        t.fact("merge", source="c2", target="c1")
    t.sent("c1", step="welcome_email")
    # Before the merge they were two people, each welcomed once.
    assert t.rules_broken() == (["reentry"] if merge_first else [])


def test_a_message_the_record_knows_nothing_of_is_flagged() -> None:
    t = Timeline().signup("c1").sent("c1")
    t.touches.clear()
    assert t.rules_broken() == ["unknown message"]
