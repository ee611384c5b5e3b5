"""What the sandbox holds: configuration, received messages, faults, the engagement queue,
and the posting of signed webhooks back to Touchline."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from sandbox.clock import SandboxClock
from sandbox.engagement import Delivery, EngagementSimulator
from sandbox.faults import FaultInjector
from sandbox.signing import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    EventWebhookSigner,
    twilio_signature,
)

log = logging.getLogger("sandbox")

PROVIDERS = ("sendgrid", "twilio")
SENDGRID_BATCH = 100  # SendGrid posts events in batches
WEBHOOK_RETRY_DELAY = timedelta(minutes=5)
WEBHOOK_MAX_ATTEMPTS = 3


@dataclass
class SandboxConfig:
    state_dir: Path
    sendgrid_api_key: str = "SG.sandbox-key"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "sandbox-auth-token"
    # Numbers the Twilio account owns; Twilio's magic test sender +15005550006 always works.
    twilio_numbers: set[str] = field(default_factory=lambda: {"+15005550006"})
    event_webhook_url: str | None = None
    keep_bodies: bool = True  # False for million-message benchmarks: keep metadata only
    # False: no delivery/engagement webhooks at all (benchmarks measuring sends alone).
    webhooks: bool = True
    # SendGrid's Email Activity API answers 6 requests a minute per account (documented).
    activity_requests_per_minute: int = 6


class Sandbox:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.clock = SandboxClock()
        self.engagement = EngagementSimulator()
        self.signer = EventWebhookSigner.load_or_create(config.state_dir)
        self.faults = {provider: FaultInjector() for provider in PROVIDERS}
        self.emails: list[dict[str, Any]] = []
        self.sms: list[dict[str, Any]] = []
        self.sms_by_sid: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()  # per provider, every request
        self.attempts_by_touch: Counter[tuple[str, str]] = Counter()
        self.accepted_by_touch: Counter[tuple[str, str]] = Counter()
        self.email_suppressions: dict[str, str] = {}  # address -> reason (dropped on send)
        self.sms_opted_out: set[str] = set()  # numbers that texted STOP (21610 on send)
        self.webhooks: Counter[str] = Counter()
        self.activity_requests: deque[float] = deque()  # monotonic times, for the rate limit
        # Bumped by reset(): a flush that began before a reset must not post (or re-queue)
        # the webhooks of what the reset forgot.
        self.generation = 0

    # --- bookkeeping used by the provider apps ------------------------------------------

    def count_attempt(self, provider: str, touch_id: str | None) -> None:
        self.requests[provider] += 1
        if touch_id:
            self.attempts_by_touch[(provider, touch_id)] += 1

    def count_accepted(self, provider: str, touch_id: str | None) -> None:
        if touch_id:
            self.accepted_by_touch[(provider, touch_id)] += 1

    def stats(self) -> dict[str, Any]:
        duplicates = {
            f"{provider}:{touch}": n
            for (provider, touch), n in self.accepted_by_touch.items()
            if n > 1
        }
        return {
            "now": self.clock.now().isoformat(),
            "clock": "manual" if self.clock.is_manual else "wall",
            "requests": dict(self.requests),
            "accepted": {"sendgrid": len(self.emails), "twilio": len(self.sms)},
            "touches": {
                provider: len({t for (p, t) in self.accepted_by_touch if p == provider})
                for provider in PROVIDERS
            },
            "duplicate_touches": duplicates,
            "faults_injected": {p: dict(f.injected) for p, f in self.faults.items()},
            "webhooks": dict(self.webhooks),
            "webhooks_pending": self.engagement.pending(),
        }

    def reset(self) -> None:
        self.generation += 1
        self.emails.clear()
        self.sms.clear()
        self.sms_by_sid.clear()
        self.requests.clear()
        self.attempts_by_touch.clear()
        self.accepted_by_touch.clear()
        self.webhooks.clear()
        self.activity_requests.clear()
        self.engagement.clear()
        self.email_suppressions.clear()
        self.sms_opted_out.clear()
        for injector in self.faults.values():
            injector.configure(type(injector.plan)())
        self.clock.release()

    # --- webhooks -------------------------------------------------------------------------

    async def flush(self, client: httpx.AsyncClient) -> int:
        """Post every webhook whose sandbox time has come. Returns how many were posted."""
        generation = self.generation
        due = self.engagement.due(self.clock.now())
        if not due:
            return 0
        posted = 0
        sendgrid = [d for d in due if d.kind == "sendgrid"]
        for start in range(0, len(sendgrid), SENDGRID_BATCH):
            if self.generation != generation:
                return posted
            batch = sendgrid[start : start + SENDGRID_BATCH]
            if await self._post_sendgrid(client, batch):
                posted += len(batch)
            elif self.generation == generation:
                for delivery in batch:
                    self._retry_or_drop(delivery)
        for delivery in (d for d in due if d.kind == "twilio"):
            if self.generation != generation:
                return posted
            self._track_sms_status(delivery.body)
            if await self._post_twilio(client, delivery):
                posted += 1
            elif self.generation == generation:
                self._retry_or_drop(delivery)
        return posted

    def _retry_or_drop(self, delivery: Delivery) -> None:
        if delivery.attempts + 1 >= WEBHOOK_MAX_ATTEMPTS:
            self.webhooks["gave_up"] += 1
        else:
            self.engagement.retry_later(delivery, WEBHOOK_RETRY_DELAY)

    async def _post_sendgrid(self, client: httpx.AsyncClient, batch: list[Delivery]) -> bool:
        url = self.config.event_webhook_url
        if not url:
            self.webhooks["sendgrid_no_url"] += len(batch)
            return True  # no webhook configured: SendGrid just doesn't post
        payload = json.dumps([d.body for d in batch], separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "SendGrid Event API",
            SENDGRID_TIMESTAMP_HEADER: timestamp,
            SENDGRID_SIGNATURE_HEADER: self.signer.sign(payload, timestamp),
        }
        return await self._post(client, "sendgrid", url, content=payload, headers=headers)

    async def _post_twilio(self, client: httpx.AsyncClient, delivery: Delivery) -> bool:
        assert delivery.url is not None
        params = {k: str(v) for k, v in delivery.body.items()}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": f"{delivery.body['MessageSid']}-{delivery.body['MessageStatus']}",
            TWILIO_SIGNATURE_HEADER: twilio_signature(
                self.config.twilio_auth_token, delivery.url, params
            ),
        }
        return await self._post(client, "twilio", delivery.url, data=params, headers=headers)

    async def _post(
        self, client: httpx.AsyncClient, provider: str, url: str, **kwargs: Any
    ) -> bool:
        try:
            response = await client.post(url, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("webhook to %s failed: %s", url, exc)
            self.webhooks[f"{provider}_failed"] += 1
            return False
        if response.status_code >= 300:
            log.warning("webhook to %s answered %s", url, response.status_code)
            self.webhooks[f"{provider}_failed"] += 1
            return False
        self.webhooks[f"{provider}_posted"] += 1
        return True

    def _track_sms_status(self, params: dict[str, Any]) -> None:
        message = self.sms_by_sid.get(params["MessageSid"])
        if message is not None:
            message["status"] = params["MessageStatus"]
            if "ErrorCode" in params:
                message["error_code"] = int(params["ErrorCode"])


def new_message_id() -> str:
    """A SendGrid X-Message-Id: 22 URL-safe characters."""
    return secrets.token_urlsafe(16)[:22]


def touch_id_from_url(url: str | None) -> str | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("touch_id")
    return values[0] if values else None
