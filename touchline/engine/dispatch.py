"""Sending a batch of messages concurrently, at the providers' pace, with retries where
retrying is safe.

Provider SDKs are blocking, so threads give the concurrency: one pool per provider, sized by
``concurrency`` and the provider's in-flight cap, so a slow provider never starves a fast one
of threads. Every request first takes a slot from the :class:`RateLimiter` (the channel's
rate, the provider's in-flight cap, any back-off the provider asked for).

Errors, as ``channels/`` classifies them:

- transient with an HTTP answer (429, 5xx): the provider did not process the request, so it
  is retried — exponential backoff with full jitter, and never before the provider asked
  (Retry-After, X-RateLimit-Reset). A 429, or any answer that names a wait, also holds back
  the whole provider (:meth:`RateLimiter.back_off`), not just this thread. A wait longer
  than the limiter's ``max_wait`` is not waited out here: the message returns with its error
  and a later run sends it, so a batch never outlives its lease.
- transient without an answer (a timeout, a dropped connection): the request may have been
  processed. It is not retried blindly — that is how messages go out twice. It returns with
  its error; its ``dispatching`` marker makes the next run ask the provider before sending.
- permanent: final for this message. Configuration: final for every message to that
  provider in the batch (they would fail the same way); other providers carry on.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from channels import (
    Channel,
    ChannelError,
    Message,
    PermanentChannelError,
    ProviderConfigurationError,
    Receipt,
    TransientChannelError,
)
from touchline.engine.ratelimit import RateLimiter


@dataclass(frozen=True)
class Outgoing:
    touch_id: str
    channel: str
    message: Message


@dataclass(frozen=True)
class DispatchResult:
    touch_id: str
    channel: str
    receipt: Receipt | None
    error: ChannelError | None
    attempts: int

    @property
    def not_attempted(self) -> bool:
        return self.attempts == 0


class RateLimitDeferred(TransientChannelError):
    """Not sent in this run: the provider's pace would have kept it waiting too long."""


class DeadlineDeferred(TransientChannelError):
    """Not sent in this run: the batch's time (a share of its lease) ran out first. Another
    worker may claim the batch once the lease expires; it must not find this message still
    being sent."""


class HaltDeferred(TransientChannelError):
    """Not sent: the journey was paused (or stopped) before this request could start. The
    provider never saw it; the enrollment holds at this step until the journey resumes."""


# Called right before each provider request; yields why it must not start (None: go
# ahead), and is held until the request is answered (touchline.lifecycle.fence).
Halt = Callable[[], AbstractContextManager[str | None]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.2
    backoff_max: float = 10.0

    def delay(self, attempt: int, asked: float | None, rng: random.Random) -> float:
        """Seconds before the next attempt: our own backoff (jittered, capped), or what the
        provider asked if that is longer — never earlier than asked."""
        exponential = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return max(rng.uniform(0, exponential), asked or 0.0)


def dispatch(
    channels: Mapping[str, Channel],
    outgoing: Sequence[Outgoing],
    *,
    concurrency: int,
    retry: RetryPolicy,
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    halt: Halt | None = None,
) -> list[DispatchResult]:
    """Send every message; results in the order given. ``concurrency`` is the number of
    requests in flight per provider (the limiter may cap it lower). Without a ``limiter``
    there is no rate limit, and the provider's back-off is still honoured, waiting through
    ``sleep``. No request starts, and no wait is begun, after ``deadline`` (``clock()``
    seconds): those messages return unsent, for a later run. ``halt`` is consulted right
    before each request starts, and held while it runs: once it names a reason, no request
    starts and the rest return unsent with a :class:`HaltDeferred`."""
    if not outgoing:
        return []
    limiter = limiter or RateLimiter(sleep=sleep)
    aborted: dict[str, threading.Event] = defaultdict(threading.Event)
    halted: list[str] = []  # the reason, once a gate said so: the rest need not ask again
    local = threading.local()

    def send_one(item: Outgoing) -> DispatchResult:
        rng = getattr(local, "rng", None) or random.Random()
        local.rng = rng
        channel = channels[item.channel]
        provider = channel.provider
        attempts = 0
        last: ChannelError | None = None
        while True:
            if aborted[provider].is_set():
                return DispatchResult(item.touch_id, item.channel, None, last, attempts)
            if deadline is not None and clock() >= deadline:
                error = last or DeadlineDeferred(
                    "not sent before the batch's time ran out; left to a later run",
                    provider=provider,
                )
                return DispatchResult(item.touch_id, item.channel, None, error, attempts)
            with limiter.slot(item.channel, provider) as granted:
                if not granted:
                    error = last or RateLimitDeferred(
                        f"rate limit: not sent within {limiter.max_wait:g}s, left to a later run",
                        provider=provider,
                    )
                    return DispatchResult(item.touch_id, item.channel, None, error, attempts)
                with halt() if halt is not None and not halted else nullcontext(None) as why:
                    why = why or (halted[0] if halted else None)
                    if why is not None:
                        halted[:1] = [why]
                        # Earlier attempts (if any) were answered with an error: the
                        # provider processed none of them.
                        return DispatchResult(
                            item.touch_id, item.channel, None,
                            HaltDeferred(f"not sent: {why}", provider=provider), attempts,
                        )  # fmt: skip
                    attempts += 1
                    try:
                        receipt = channel.send(item.message)
                        return DispatchResult(item.touch_id, item.channel, receipt, None, attempts)
                    except ProviderConfigurationError as exc:
                        aborted[provider].set()
                        return DispatchResult(item.touch_id, item.channel, None, exc, attempts)
                    except PermanentChannelError as exc:
                        return DispatchResult(item.touch_id, item.channel, None, exc, attempts)
                    except TransientChannelError as exc:
                        last = exc
                    except Exception as exc:
                        # Something the channel did not classify (a truncated read, a
                        # proxy's HTML page). The request may have been processed: in
                        # doubt, like a timeout. Raising instead would throw away every
                        # other result of the batch, including messages the providers
                        # accepted.
                        last = TransientChannelError(
                            f"unexpected error: {exc!r}", provider=provider, status=None
                        )
            if last.status is None or attempts >= retry.max_attempts:
                # No answer (in doubt: the next run asks the provider), or no tries left.
                return DispatchResult(item.touch_id, item.channel, None, last, attempts)
            wait = retry.delay(attempts, last.retry_after, rng)
            if last.status == 429 or last.retry_after is not None:
                # The provider is telling all of us to slow down: the limiter holds every
                # thread for this provider, this one included (it waits in the next slot).
                # Even when the wait is too long for this run: the batch's other messages
                # must not each spend an attempt learning the same thing.
                limiter.back_off(provider, wait)
                if wait > limiter.max_wait:
                    return DispatchResult(item.touch_id, item.channel, None, last, attempts)
                continue
            if wait > limiter.max_wait or (deadline is not None and clock() + wait >= deadline):
                return DispatchResult(item.touch_id, item.channel, None, last, attempts)
            sleep(wait)

    by_provider: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(outgoing):
        by_provider[channels[item.channel].provider].append(index)
    futures: dict[int, Future[DispatchResult]] = {}
    pools = []
    try:
        for provider, indexes in by_provider.items():
            cap = limiter.concurrency(provider)
            workers = min(concurrency, cap or concurrency, len(indexes))
            pool = ThreadPoolExecutor(workers, thread_name_prefix=f"dispatch-{provider}")
            pools.append(pool)
            futures.update((i, pool.submit(send_one, outgoing[i])) for i in indexes)
    finally:
        for pool in pools:
            pool.shutdown(wait=True)
    return [futures[i].result() for i in range(len(outgoing))]
