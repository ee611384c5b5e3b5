"""Dispatch throughput per channel against emulators that answer after a set latency, at
several concurrencies: how fast one worker process moves a batch to each provider.

    python -m bench.dispatch [--messages 2000] [--latency-ms 50] [--concurrency 1,8,32,64]

The ceiling at each concurrency is concurrency / latency (all time spent waiting); the
ratio printed is the throughput measured against that ceiling, in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench._support import Emulators
from channels import EmailMessage, SmsMessage
from channels.sendgrid_email import SendGridEmail
from channels.twilio_sms import TwilioSms
from touchline.engine.dispatch import Outgoing, RetryPolicy, dispatch

console = Console(width=120)


def messages(channel: str, count: int, offset: int) -> list[Outgoing]:
    out = []
    for n in range(offset, offset + count):
        touch = f"{channel}-{n}"
        if channel == "email":
            message: EmailMessage | SmsMessage = EmailMessage(
                touch, f"r{n}@example.com", "The winter sale is on",
                "<p>25% off until December 6 with code SNOW25.</p>" * 10, "25% off until December 6.",
            )  # fmt: skip
        else:
            message = SmsMessage(
                touch,
                f"+1212{2000000 + n:07d}",
                "Winter sale: 25% off with SNOW25. Reply STOP to opt out.",
            )
        out.append(Outgoing(touch, channel, message))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", default="1,8,32,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    table = Table(
        title=f"Dispatch to emulators answering after {args.latency_ms:.0f} ms",
        header_style="bold",
    )
    for column in (
        "channel",
        "concurrency",
        "messages",
        "seconds",
        "messages/s",
        "vs ceiling",
        "errors",
    ):
        table.add_column(column, justify="left" if column == "channel" else "right")
    with tempfile.TemporaryDirectory(prefix="touchline-dispatch-") as tmp:
        emulators = Emulators(Path(tmp))
        try:
            channels = {
                "email": SendGridEmail(api_key="SG.sandbox-key", host=emulators.sendgrid_url,
                                       from_email="hello@touchline.example", timeout=30),
                "sms": TwilioSms(account_sid="AC00000000000000000000000000000000",
                                 auth_token="sandbox-auth-token", base_url=emulators.twilio_url,
                                 from_number="+15005550006", timeout=30),
            }  # fmt: skip
            offset = 0
            for channel in ("email", "sms"):
                for level in levels:
                    emulators.reset(args.latency_ms)
                    count = min(
                        args.messages, max(50, int(level * 1000 / max(args.latency_ms, 1) * 10))
                    )
                    batch = messages(channel, count, offset)
                    offset += count
                    began = time.perf_counter()
                    results = dispatch(channels, batch, concurrency=level, retry=RetryPolicy(1))
                    seconds = time.perf_counter() - began
                    errors = sum(1 for r in results if r.receipt is None)
                    rate = count / seconds
                    ceiling = level * 1000 / args.latency_ms if args.latency_ms else float("inf")
                    table.add_row(
                        channel, str(level), f"{count:,}", f"{seconds:.2f}", f"{rate:,.0f}",
                        f"{rate / ceiling:.0%}" if ceiling != float("inf") else "-", str(errors),
                    )  # fmt: skip
        finally:
            emulators.close()
    console.print(table)


if __name__ == "__main__":
    main()
