"""Dispatch keeps every result it got and stops in time: a provider's long back-off holds
the whole provider at once, an unexpected exception in one message loses none of the
others' receipts, and no request starts after the batch's deadline (a share of its lease).

The providers here are fakes of a boundary we don't own, each answering one way on purpose;
the same paths run against the emulators in test_dispatch.py and test_chaos.py."""

import threading
import time

from channels import Receipt, SmsMessage, TransientChannelError
from touchline.engine.dispatch import DeadlineDeferred, Outgoing, RetryPolicy, dispatch
from touchline.engine.ratelimit import RateLimiter


def messages(n: int, channel: str) -> list[Outgoing]:
    return [
        Outgoing(f"t{i}", channel, SmsMessage(touch_id=f"t{i}", to=f"+1415555{i:04d}", body="b"))
        for i in range(n)
    ]


class OverItsDailyCap:
    """Every request answers 429 with a reset an hour away (X after its daily DM cap)."""

    name, provider = "x", "x"

    def __init__(self) -> None:
        self.calls, self.lock = 0, threading.Lock()

    def send(self, message: SmsMessage) -> Receipt:
        with self.lock:
            self.calls += 1
        raise TransientChannelError("Too Many Requests", provider="x", status=429, retry_after=3600)


def test_a_long_back_off_holds_the_whole_provider_at_once() -> None:
    provider = OverItsDailyCap()
    limiter = RateLimiter(max_wait=30.0, sleep=lambda _: None)
    first = dispatch({"x": provider}, messages(50, "x"), concurrency=4, retry=RetryPolicy(),
                     limiter=limiter)  # fmt: skip
    # The few requests already in flight learn of the cap; the rest never ask.
    assert provider.calls <= 4
    assert sum(r.attempts == 0 for r in first) >= 46
    again = dispatch({"x": provider}, messages(50, "x"), concurrency=4, retry=RetryPolicy(),
                     limiter=limiter)  # fmt: skip
    assert provider.calls <= 4 and all(r.attempts == 0 for r in again)


class OneMessageBreaksTheSdk:
    name, provider = "sms", "twilio"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, message: SmsMessage) -> Receipt:
        if message.touch_id == "t3":
            raise ValueError("unexpected response body")  # a proxy's HTML page, say
        with self.lock:
            self.sent.append(message.touch_id)
        return Receipt("twilio", f"SM{message.touch_id}", "queued")


def test_an_unexpected_exception_is_in_doubt_and_the_other_receipts_are_kept() -> None:
    provider = OneMessageBreaksTheSdk()
    results = dispatch({"sms": provider}, messages(10, "sms"), concurrency=4,
                       retry=RetryPolicy(), limiter=RateLimiter())  # fmt: skip
    assert sorted(r.touch_id for r in results if r.receipt) == sorted(provider.sent)
    [broken] = [r for r in results if r.touch_id == "t3"]
    assert broken.receipt is None and broken.attempts == 1
    assert broken.error is not None and broken.error.status is None  # in doubt: look it up
    assert "unexpected response body" in broken.error.message


class Slow:
    name, provider = "sms", "twilio"

    def send(self, message: SmsMessage) -> Receipt:
        time.sleep(0.05)
        return Receipt("twilio", f"SM{message.touch_id}", "queued")


def test_no_request_starts_after_the_deadline() -> None:
    started = time.monotonic()
    results = dispatch({"sms": Slow()}, messages(64, "sms"), concurrency=2, retry=RetryPolicy(),
                       limiter=RateLimiter(), deadline=started + 0.3)  # fmt: skip
    took = time.monotonic() - started
    sent = [r for r in results if r.receipt]
    deferred = [r for r in results if isinstance(r.error, DeadlineDeferred)]
    assert 0 < len(sent) < 64 and len(sent) + len(deferred) == 64
    assert all(r.attempts == 0 for r in deferred)
    assert took < 0.3 + 0.2  # at most the requests in flight at the deadline finish


def test_attempts_the_provider_refused_leave_no_marker_to_look_up(
    engine, db, sandbox_client, published
) -> None:  # type: ignore[no-untyped-def]
    """A marker means "this may have gone out: ask the provider first". An attempt refused
    with an answer (401 here) certainly did not go out, so its marker goes, and the next
    run sends at once instead of spending scarce lookups (SendGrid: 6 a minute)."""
    from datetime import timedelta

    from pydantic import SecretStr
    from sqlalchemy import func, select

    from tests.conftest import START
    from tests.touchline.engine.test_advance import advance, send_events, signup
    from touchline.engine import Engine
    from touchline.record import Interaction
    from touchline.record.touches import DISPATCHING

    send_events(db, signup("c1"), signup("c2"))
    revoked = engine.settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.revoked")})
    broken = Engine.from_settings(revoked, db)
    try:
        assert advance(broken, START).aborted
    finally:
        broken.close()
    with db.session() as session:
        markers = session.execute(
            select(func.count()).select_from(Interaction).where(Interaction.kind == DISPATCHING)
        ).scalar_one()
    assert markers == 0 and not sandbox_client.emails()
    advance(engine, START + timedelta(minutes=10))
    assert sorted(m["to"] for m in sandbox_client.emails()) == ["c1@example.com", "c2@example.com"]
