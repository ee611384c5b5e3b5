"""The per-channel token buckets and per-provider caps, on a clock the tests move."""

import threading
import time

import pytest

from touchline.engine.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    """Monotonic seconds that move only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_bucket_allows_its_burst_then_spaces_messages_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=3, clock=clock)
    waits = [bucket.reserve() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])
    clock.now += 1.0  # a quiet second refills the burst
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_a_reservation_beyond_the_longest_wait_books_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2, burst=1, clock=clock)
    assert bucket.reserve(max_wait=1) == 0
    assert bucket.reserve(max_wait=1) == pytest.approx(0.5)
    assert bucket.reserve(max_wait=1) == pytest.approx(1.0)
    assert bucket.reserve(max_wait=1) is None
    assert bucket.reserve(max_wait=1) is None  # refused reservations took no slot
    clock.now += 1.5
    assert bucket.reserve(max_wait=1) == pytest.approx(0.0)


def test_a_hold_stops_everything_until_then_and_resumes_without_a_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=5, clock=clock)
    bucket.hold(clock.now + 2)
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([2.0, 2.1, 2.2])


def test_back_pressure_holds_every_channel_of_the_provider_and_no_other() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"sms": 100, "whatsapp": 10}, clock=clock, sleep=clock.sleep, max_wait=30)
    for channel, provider in (("sms", "twilio"), ("whatsapp", "twilio"), ("email", "sendgrid")):
        with limiter.slot(channel, provider) as granted:
            assert granted
    assert clock.slept == []

    # A 429 from Twilio asking for 3 s: SMS and WhatsApp wait, email does not.
    limiter.back_off("twilio", 3.0)
    with limiter.slot("email", "sendgrid"):
        pass
    assert clock.slept == []
    with limiter.slot("sms", "twilio") as granted:
        assert granted
    assert clock.slept == pytest.approx([3.0])
    with limiter.slot("whatsapp", "twilio"):
        pass
    assert clock.slept == pytest.approx([3.0])  # the 3 s had passed for it too
    # A channel first used during the hold is held as well.
    limiter.back_off("twilio", 1.0)
    with limiter.slot("mms", "twilio"):
        pass
    assert clock.slept[-1] == pytest.approx(1.0)


def test_a_wait_beyond_max_wait_is_refused_rather_than_slept() -> None:
    clock = FakeClock()
    # Ten threads asking at the same moment (their sleeps do not move this clock).
    limiter = RateLimiter({"x": 200 / 900}, clock=clock, sleep=clock.slept.append, max_wait=30)
    granted = []
    for _ in range(10):
        with limiter.slot("x", "x") as ok:
            granted.append(ok)
    # one DM at once, then one every 4.5 s: 7 booked within 30 s, the rest left to a later run
    assert granted == [True] * 7 + [False] * 3
    assert clock.slept == pytest.approx([4.5 * n for n in range(1, 7)])
    limiter.back_off("x", 600)  # x-rate-limit-reset ten minutes away
    with limiter.slot("x", "x") as ok:
        assert not ok


def test_limits_are_divided_between_the_worker_processes() -> None:
    limiter = RateLimiter({"sms": 100, "email": 0}, {"twilio": 100}, workers=4)
    assert (limiter.rate("sms"), limiter.rate("email")) == (25, None)
    assert (limiter.concurrency("twilio"), limiter.concurrency("sendgrid")) == (25, None)


def test_requests_in_flight_never_exceed_the_providers_cap() -> None:
    limiter = RateLimiter(concurrency={"twilio": 3})
    in_flight, peak, lock = 0, 0, threading.Lock()

    def request() -> None:
        nonlocal in_flight, peak
        with limiter.slot("sms", "twilio"):
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.01)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 3


def test_the_bucket_holds_its_rate_across_threads_on_the_real_clock() -> None:
    limiter = RateLimiter({"sms": 200})  # a burst of 200, then 200/s

    def send_fifty() -> None:
        for _ in range(50):
            with limiter.slot("sms", "twilio") as granted:
                assert granted

    began = time.monotonic()
    threads = [threading.Thread(target=send_fifty) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 300 messages: 200 at once, the other 100 at 200/s
    assert 0.45 <= time.monotonic() - began < 1.5
