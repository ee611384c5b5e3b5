"""The engagement simulator: what recipients do with what the emulators accepted.

Each accepted message gets a deterministic future (seeded by the message id): an email is
processed, delivered (or bounced), perhaps opened at some hour, perhaps clicked; an SMS is
sent then delivered (or undelivered). Each recipient has an appetite of their own, derived
from their address, so the same person behaves consistently across messages.

The future is a queue of webhook deliveries in sandbox time; ``due(until)`` hands out
those whose moment has come, for the server to post signed.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

BOUNCE_DOMAIN_SUFFIXES = (".invalid", "bounce.example")
UNDELIVERABLE_SMS_ERRORS = (30003, 30005, 30006)


@dataclass(order=True)
class Delivery:
    due: datetime
    seq: int
    kind: Literal["sendgrid", "twilio"] = field(compare=False)
    body: dict[str, Any] = field(compare=False)  # SendGrid: one event; Twilio: form params
    url: str | None = field(default=None, compare=False)  # Twilio: the StatusCallback
    attempts: int = field(default=0, compare=False)


@dataclass
class EngagementModel:
    """Probabilities of the simulated audience. Set per run through the control API."""

    open_rate_low: float = 0.15  # each recipient's own open rate lies between these
    open_rate_high: float = 0.75
    click_given_open: float = 0.35
    sms_undelivered_rate: float = 0.02
    mean_hours_to_open: float = 7.0
    seed: str = "touchline"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngagementModel:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown engagement settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def appetite(self, address: str) -> float:
        digest = hashlib.sha256(f"{self.seed}:{address.lower()}".encode()).digest()
        unit = int.from_bytes(digest[:8], "big") / 2**64
        return self.open_rate_low + unit * (self.open_rate_high - self.open_rate_low)


class EngagementSimulator:
    def __init__(self, model: EngagementModel | None = None):
        self.model = model or EngagementModel()
        self._queue: list[Delivery] = []
        self._seq = itertools.count()

    def pending(self) -> int:
        return len(self._queue)

    def clear(self) -> None:
        self._queue.clear()

    # --- email --------------------------------------------------------------------------

    def email_accepted(
        self,
        *,
        message_id: str,
        to: str,
        accepted_at: datetime,
        custom_args: dict[str, str],
        categories: list[str],
        first_link: str | None,
        suppressed: str | None,
    ) -> None:
        # Seeded by recipient and touch (not the random message id): the same audience
        # behaves the same way run after run, so a demo's figures can be quoted.
        rng = random.Random(f"{self.model.seed}:{to}:{custom_args.get('touch_id') or message_id}")
        n = itertools.count()

        def event(kind: str, at: datetime, **extra: Any) -> None:
            body = {
                "email": to,
                "timestamp": int(at.timestamp()),
                "event": kind,
                "sg_event_id": f"{rng.getrandbits(128):032x}",
                # SendGrid's sg_message_id is the X-Message-Id plus a filter suffix.
                "sg_message_id": f"{message_id}.filterdrecv-{rng.randrange(16**8):08x}-{next(n)}-0",
                "smtp-id": f"<{message_id}@ismtpd-sandbox>",
                **({"category": categories} if categories else {}),
                **custom_args,
                **extra,
            }
            self._push(Delivery(at, next(self._seq), "sendgrid", body))

        event("processed", accepted_at)
        if suppressed:
            event("dropped", accepted_at + timedelta(seconds=1), reason=suppressed)
            return
        delivered_at = accepted_at + timedelta(seconds=rng.uniform(1, 45))
        if to.lower().endswith(BOUNCE_DOMAIN_SUFFIXES) or to.lower().startswith("bounce"):
            event(
                "bounce",
                delivered_at,
                type="bounce",
                status="5.1.1",
                reason="550 5.1.1 The email account that you tried to reach does not exist",
            )
            return
        event("delivered", delivered_at, response="250 2.0.0 OK")
        if rng.random() >= self.model.appetite(to):
            return
        opened_at = delivered_at + timedelta(
            hours=min(rng.expovariate(1 / self.model.mean_hours_to_open), 96)
        )
        agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
        event("open", opened_at, useragent=agent, ip="203.0.113.7", sg_machine_open=False)
        if first_link and rng.random() < self.model.click_given_open:
            clicked_at = opened_at + timedelta(seconds=rng.uniform(5, 600))
            event("click", clicked_at, url=first_link, useragent=agent, ip="203.0.113.7")

    # --- SMS ----------------------------------------------------------------------------

    def sms_accepted(
        self,
        *,
        sid: str,
        account_sid: str,
        to: str,
        from_: str,
        accepted_at: datetime,
        status_callback: str | None,
        touch_id: str | None = None,
    ) -> None:
        if not status_callback:
            return
        rng = random.Random(f"{self.model.seed}:{to}:{touch_id or sid}")

        def callback(status: str, at: datetime, **extra: str) -> None:
            params = {
                "AccountSid": account_sid,
                "ApiVersion": "2010-04-01",
                "From": from_,
                "To": to,
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": status,
                "SmsStatus": status,
                **extra,
            }
            self._push(Delivery(at, next(self._seq), "twilio", params, url=status_callback))

        sent_at = accepted_at + timedelta(seconds=rng.uniform(0.5, 3))
        callback("sent", sent_at)
        if rng.random() < self.model.sms_undelivered_rate:
            code = rng.choice(UNDELIVERABLE_SMS_ERRORS)
            callback(
                "undelivered", sent_at + timedelta(seconds=rng.uniform(2, 30)), ErrorCode=str(code)
            )
        else:
            callback("delivered", sent_at + timedelta(seconds=rng.uniform(2, 30)))

    # --- the queue ------------------------------------------------------------------------

    def due(self, until: datetime) -> list[Delivery]:
        ready = []
        while self._queue and self._queue[0].due <= until:
            ready.append(heapq.heappop(self._queue))
        return ready

    def retry_later(self, delivery: Delivery, delay: timedelta) -> None:
        delivery.attempts += 1
        delivery.due += delay
        self._push(delivery)

    def _push(self, delivery: Delivery) -> None:
        heapq.heappush(self._queue, delivery)
