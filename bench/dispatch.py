"""Dispatch throughput per channel against emulators that answer after a set latency: how
fast one worker process moves a batch to each provider.

    python -m bench.dispatch [--messages 2000] [--latency-ms 50] [--concurrency 1,8,32,64]
                             [--seconds 5] [--skip-levels]

Two tables:

1. **Concurrency alone** (email, SMS): the bare dispatcher at several concurrencies, no rate
   limit. The ceiling at each concurrency is concurrency / latency (all time spent waiting).
2. **The rate-limited dispatcher as configured** (every channel with an adapter: email, SMS,
   WhatsApp, X): the default ``dispatch_concurrency``, the default per-channel rate limits
   and per-provider concurrency caps (``touchline.config``), as a worker sends. Each channel
   gets about ``--seconds`` of work at its expected pace. The table shows the measured rate
   against the concurrency ceiling, and the sustained rate after the opening burst (a
   second's worth of messages leaves at once) against the configured rate limit.

The emulators run in a process of their own, as a real provider is elsewhere.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench._support import Emulators
from channels import (
    Channel,
    DirectMessage,
    EmailMessage,
    Message,
    SmsMessage,
    WhatsAppMessage,
    build_channels,
)
from touchline.config import Settings
from touchline.engine.dispatch import Outgoing, RetryPolicy, dispatch
from touchline.engine.ratelimit import RateLimiter

console = Console(width=140)
# The cart reminder template the WhatsApp emulator has approved (templates/cart/).
WHATSAPP_TEMPLATE = "HX3c1f0a9b8e7d6c5b4a39281706f5e4d3"


def message(channel: str, n: int) -> Message:
    touch = f"{channel}-{n}"
    if channel == "email":
        return EmailMessage(
            touch, f"r{n}@example.com", "The winter sale is on",
            "<p>25% off until December 6 with code SNOW25.</p>" * 10, "25% off until December 6.",
        )  # fmt: skip
    if channel == "sms":
        return SmsMessage(
            touch,
            f"+1212{2000000 + n:07d}",
            "Winter sale: 25% off with SNOW25. Reply STOP to opt out.",
        )
    if channel == "whatsapp":
        return WhatsAppMessage(
            touch,
            f"+1212{2000000 + n:07d}",
            content_sid=WHATSAPP_TEMPLATE,
            content_variables={"1": "Ann", "2": "$42.50", "3": "https://shop.example/cart"},
        )
    return DirectMessage(touch, f"customer{n}", "Winter sale: 25% off with SNOW25.")


def batch(channel: str, count: int, offset: int) -> list[Outgoing]:
    return [
        Outgoing(f"{channel}-{n}", channel, message(channel, n))
        for n in range(offset, offset + count)
    ]


def timed(
    channels: dict[str, Channel], outgoing: list[Outgoing], **kwargs: object
) -> tuple[float, int, str]:
    began = time.perf_counter()
    results = dispatch(channels, outgoing, **kwargs)  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    failed = [r for r in results if r.receipt is None]
    first = failed[0].error.describe() if failed and failed[0].error else ""
    return seconds, len(failed), first


def concurrency_table(
    emulators: Emulators, channels: dict[str, Channel], args: argparse.Namespace
) -> Table:
    levels = [int(c) for c in args.concurrency.split(",")]
    table = Table(
        title=f"1. Concurrency alone: no rate limit, emulators answering after {args.latency_ms:.0f} ms",
        header_style="bold",
    )
    for column in ("channel", "concurrency", "messages", "seconds", "messages/s", "vs ceiling", "errors"):  # fmt: skip
        table.add_column(column, justify="left" if column == "channel" else "right")
    offset = 0
    for channel in ("email", "sms"):
        for level in levels:
            emulators.reset(args.latency_ms)
            count = min(args.messages, max(50, int(level * 1000 / max(args.latency_ms, 1) * 10)))
            seconds, errors, _ = timed(
                channels, batch(channel, count, offset), concurrency=level, retry=RetryPolicy(1)
            )
            offset += count
            rate = count / seconds
            ceiling = level * 1000 / args.latency_ms if args.latency_ms else math.inf
            table.add_row(
                channel, str(level), f"{count:,}", f"{seconds:.2f}", f"{rate:,.0f}",
                f"{rate / ceiling:.0%}" if ceiling != math.inf else "-", str(errors),
            )  # fmt: skip
    return table


def limited_table(
    emulators: Emulators, channels: dict[str, Channel], settings: Settings, args: argparse.Namespace
) -> Table:
    table = Table(
        title=(
            f"2. The rate-limited dispatcher as configured (dispatch_concurrency "
            f"{settings.dispatch_concurrency}), emulators answering after {args.latency_ms:.0f} ms"
        ),
        header_style="bold",
    )
    for column in (
        "channel", "provider", "concurrency", "rate limit/s", "messages", "seconds",
        "messages/s", "after burst/s", "vs concurrency ceiling", "vs rate limit", "not sent",
    ):  # fmt: skip
        table.add_column(column, justify="left" if column in ("channel", "provider") else "right")
    problems = []
    for channel in ("email", "sms", "whatsapp", "x"):
        if channel not in channels:
            continue
        # A fresh limiter per channel, as a worker starts: each row starts with a full bucket.
        limiter = RateLimiter.from_settings(settings)
        provider = channels[channel].provider
        cap = limiter.concurrency(provider)
        concurrency = min(settings.dispatch_concurrency, cap or settings.dispatch_concurrency)
        ceiling = concurrency * 1000 / args.latency_ms if args.latency_ms else math.inf
        limit = limiter.rate(channel)
        expected_rate = min(ceiling, limit or math.inf)
        burst = math.ceil(limit) if limit else 0
        # About --seconds of sending at the expected pace (plus the opening burst), never more
        # than one run may wait for (dispatch_max_wait).
        seconds_of_work = min(args.seconds, settings.dispatch_max_wait * 0.9)
        count = max(3, burst + int(expected_rate * seconds_of_work))
        count = min(count, args.messages * 5)
        emulators.reset(args.latency_ms)
        seconds, not_sent, first = timed(
            channels,
            batch(channel, count, 0),
            concurrency=settings.dispatch_concurrency,
            retry=RetryPolicy(
                settings.dispatch_max_attempts,
                settings.dispatch_backoff_base,
                settings.dispatch_backoff_max,
            ),
            limiter=limiter,
        )
        sent = count - not_sent
        rate = sent / seconds
        # The opening burst (a second's worth) leaves at once; the rate limit is about the
        # sustained pace that follows it.
        sustained = (sent - min(burst, sent)) / seconds if limit else rate
        if first:
            problems.append(f"{channel}: {not_sent} not sent, e.g. {first}")
        table.add_row(
            channel, provider, str(concurrency), f"{limit:.3g}" if limit else "none",
            f"{count:,}", f"{seconds:.2f}", f"{rate:,.1f}", f"{sustained:,.1f}",
            f"{rate / ceiling:.0%}" if ceiling != math.inf else "-",
            f"{sustained / limit:.0%}" if limit else "-", str(not_sent),
        )  # fmt: skip
    for problem in problems:
        console.print(f"[yellow]{problem}[/yellow]")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=5, help="work per channel in table 2")
    parser.add_argument("--skip-levels", action="store_true", help="only table 2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="touchline-dispatch-") as tmp:
        emulators = Emulators(Path(tmp))
        try:
            settings = emulators.settings()
            channels = build_channels(settings)
            if not args.skip_levels:
                console.print(concurrency_table(emulators, channels, args))
            console.print(limited_table(emulators, channels, settings, args))
        finally:
            emulators.close()


if __name__ == "__main__":
    main()
