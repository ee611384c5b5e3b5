"""Sending a batch of messages concurrently, with retries where retrying makes sense.

Provider SDKs are blocking, so a thread pool gives the concurrency. Transient failures
(429, 5xx, timeouts) are retried with exponential backoff and full jitter, waiting at least
as long as the provider asked (Retry-After, X-RateLimit-Reset). A permanent failure is final
for its message. A configuration failure (bad credentials) is final for the whole batch:
the remaining messages are not attempted, since they would fail the same way.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.2
    backoff_max: float = 10.0

    def delay(self, attempt: int, asked: float | None, rng: random.Random) -> float:
        exponential = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        jittered = rng.uniform(0, exponential)
        # Never earlier than the provider asked, but never hold a worker thread for minutes.
        return min(max(jittered, asked or 0.0), self.backoff_max)


def dispatch(
    channels: Mapping[str, Channel],
    outgoing: Sequence[Outgoing],
    *,
    concurrency: int,
    retry: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> list[DispatchResult]:
    if not outgoing:
        return []
    abort = threading.Event()
    local = threading.local()

    def send_one(item: Outgoing) -> DispatchResult:
        rng = getattr(local, "rng", None) or random.Random()
        local.rng = rng
        channel = channels[item.channel]
        attempts = 0
        while True:
            if abort.is_set():
                return DispatchResult(item.touch_id, item.channel, None, None, attempts)
            attempts += 1
            try:
                receipt = channel.send(item.message)
                return DispatchResult(item.touch_id, item.channel, receipt, None, attempts)
            except ProviderConfigurationError as exc:
                abort.set()
                return DispatchResult(item.touch_id, item.channel, None, exc, attempts)
            except PermanentChannelError as exc:
                return DispatchResult(item.touch_id, item.channel, None, exc, attempts)
            except TransientChannelError as exc:
                if attempts >= retry.max_attempts:
                    return DispatchResult(item.touch_id, item.channel, None, exc, attempts)
                sleep(retry.delay(attempts, exc.retry_after, rng))

    with ThreadPoolExecutor(
        max_workers=min(concurrency, len(outgoing)), thread_name_prefix="dispatch"
    ) as pool:
        return list(pool.map(send_one, outgoing))
