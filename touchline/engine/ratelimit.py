"""How fast, and how many at once, one worker process may send through each provider.

Two limits, because providers enforce two different things:

- a **rate** per channel (messages per second), the sender's documented throughput: a token
  bucket, one per channel, since SMS and WhatsApp share Twilio but each sender has its own
  messages-per-second;
- a cap on **requests in flight** per provider, the account's concurrency (Twilio answers
  429 / 20429 beyond it): a semaphore per provider.

Back-pressure: when a provider answers 429 (or asks for a pause with Retry-After or
X-RateLimit-Reset), :meth:`RateLimiter.back_off` holds every channel of that provider until
then, and the buckets restart at their steady rate rather than with a burst. One thread's
rejection slows all of them, instead of each thread discovering the limit on its own.

Across processes the buckets are not shared: each process takes ``1 / workers`` of every
limit (``TOUCHLINE_DISPATCH_WORKERS``). A shared bucket in Redis would adapt when some workers
sit idle, but it costs a round trip per message, a service the product otherwise does without,
and a second code path for when Redis is down. The provider stays the authority either way:
a static share that turns out too generous meets 429s, which back off the whole process.

Clock and sleep are injected (monotonic seconds), so tests drive time themselves.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from touchline.config import Settings

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class TokenBucket:
    """A thread-safe token bucket holding reservations (GCRA): ``reserve`` says how long the
    caller must wait before its message may go, and books that moment, so waiting callers
    leave one interval apart instead of racing for the next token."""

    def __init__(self, rate: float | None, burst: int = 1, *, clock: Clock = time.monotonic):
        if rate is not None and rate <= 0:
            raise ValueError(f"a rate limit must be positive, not {rate}")
        self.rate = rate
        self._interval = 1.0 / rate if rate else 0.0
        self._tolerance = (max(1, burst) - 1) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = -math.inf  # theoretical arrival time of the next message

    def reserve(self, max_wait: float | None = None) -> float | None:
        """Seconds to wait before sending, with the slot booked; None (nothing booked) if
        that would be longer than ``max_wait``."""
        with self._lock:
            now = self._clock()
            start = max(now, self._tat - self._tolerance)
            wait = start - now
            if max_wait is not None and wait > max_wait:
                return None
            self._tat = max(self._tat, now) + self._interval
            return wait

    def hold(self, until: float) -> None:
        """Nothing leaves before ``until``; from then on, the steady rate without a burst
        (the provider just said we were too fast)."""
        with self._lock:
            self._tat = max(self._tat, until + self._tolerance)


class RateLimiter:
    """Per-channel buckets and per-provider in-flight caps for one worker process."""

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        concurrency: Mapping[str, int] | None = None,
        *,
        workers: int = 1,
        max_wait: float = 30.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        # 0 or a missing entry means no limit of ours: the provider's 429s still apply.
        self._rates = {k: v / workers for k, v in (rates or {}).items() if v and v > 0}
        self._caps = {k: max(1, v // workers) for k, v in (concurrency or {}).items() if v > 0}
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._provider_of: dict[str, str] = {}
        self._held: dict[str, float] = {}
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            settings.channel_rate_limits,
            settings.provider_concurrency,
            workers=settings.dispatch_workers,
            max_wait=settings.dispatch_max_wait,
        )

    def rate(self, channel: str) -> float | None:
        """Messages per second this process may send on ``channel`` (None: no limit)."""
        return self._rates.get(channel)

    def concurrency(self, provider: str) -> int | None:
        """Requests this process may have in flight with ``provider`` (None: no cap)."""
        return self._caps.get(provider)

    def now(self) -> float:
        return self._clock()

    @contextmanager
    def slot(self, channel: str, provider: str) -> Iterator[bool]:
        """Wait for a free in-flight slot and a token, then yield True while the request is
        made. Yields False at once (nothing taken) if the wait would exceed ``max_wait``:
        the message is better left to a later run than holding the batch past its lease."""
        semaphore = self._semaphore(provider)
        if semaphore is not None:
            semaphore.acquire()
        try:
            wait = self._bucket(channel, provider).reserve(self.max_wait)
            if wait is not None:
                # A back-off that arrived after the booking was made still applies.
                wait = max(wait, self._held.get(provider, -math.inf) - self._clock())
            if wait is None or wait > self.max_wait:
                yield False
                return
            if wait > 0:
                self._sleep(wait)
            yield True
        finally:
            if semaphore is not None:
                semaphore.release()

    def back_off(self, provider: str, seconds: float) -> None:
        """The provider asked us to slow down: nothing more goes to it for ``seconds``."""
        until = self._clock() + max(0.0, seconds)
        with self._lock:
            self._held[provider] = max(self._held.get(provider, -math.inf), until)
            buckets = [b for c, b in self._buckets.items() if self._provider_of[c] == provider]
        for bucket in buckets:
            bucket.hold(until)

    def _bucket(self, channel: str, provider: str) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(channel)
            if bucket is None:
                rate = self._rates.get(channel)
                # A second's worth of burst (at least one message): threads starting together
                # all go at once, and a sustained stream is held to the rate.
                bucket = TokenBucket(rate, math.ceil(rate) if rate else 1, clock=self._clock)
                if provider in self._held:
                    bucket.hold(self._held[provider])
                self._buckets[channel] = bucket
                self._provider_of[channel] = provider
            return bucket

    def _semaphore(self, provider: str) -> threading.BoundedSemaphore | None:
        cap = self._caps.get(provider)
        if cap is None:
            return None
        with self._lock:
            semaphore = self._semaphores.get(provider)
            if semaphore is None:
                semaphore = self._semaphores[provider] = threading.BoundedSemaphore(cap)
            return semaphore
