"""What the sandbox holds: configuration, received messages, faults, the engagement queue,
and the posting of signed webhooks back to Touchline."""

from __future__ import annotations

import json
import logging
import random
import secrets
import xml.etree.ElementTree as ET
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from sandbox.clock import SandboxClock
from sandbox.engagement import Delivery, EngagementSimulator, is_opt_out
from sandbox.faults import FaultInjector
from sandbox.signing import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    EventWebhookSigner,
    twilio_signature,
)

log = logging.getLogger("sandbox")

PROVIDERS = ("sendgrid", "twilio", "x")
WHATSAPP = "whatsapp:"
# WhatsApp's customer service window: free text is allowed this long after the customer's
# last message to the business.
WHATSAPP_SESSION = timedelta(hours=24)
SENDGRID_BATCH = 100  # SendGrid posts events in batches
WEBHOOK_RETRY_DELAY = timedelta(minutes=5)
WEBHOOK_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ContentTemplate:
    """An approved WhatsApp template as the Content API holds it: text with {{n}}
    placeholders, and the sample values Twilio substitutes for variables left out."""

    friendly_name: str
    body: str
    variables: dict[str, str] = field(default_factory=dict)


def default_content_templates() -> dict[str, ContentTemplate]:
    return {
        # The appointment reminder of Twilio's own WhatsApp template examples.
        "HXb5b62575e6e4ff6129ad7c8efe1f983e": ContentTemplate(
            "appointment_reminder",
            "Your appointment is coming up on {{1}} at {{2}}",
            {"1": "12/1", "2": "3pm"},
        ),
        # templates/cart/reminder.whatsapp.yaml names this one.
        "HX3c1f0a9b8e7d6c5b4a39281706f5e4d3": ContentTemplate(
            "cart_reminder",
            "Hi {{1}}, your cart ({{2}}) is still waiting for you: {{3}}",
            {"1": "there", "2": "your items", "3": "https://example.com/cart"},
        ),
    }


@dataclass
class SandboxConfig:
    state_dir: Path
    sendgrid_api_key: str = "SG.sandbox-key"
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "sandbox-auth-token"
    # Numbers the Twilio account owns; Twilio's magic test sender +15005550006 always works.
    twilio_numbers: set[str] = field(default_factory=lambda: {"+15005550006"})
    event_webhook_url: str | None = None
    # WhatsApp senders of the account (E.164, without "whatsapp:"): Twilio's sandbox sender.
    whatsapp_senders: set[str] = field(default_factory=lambda: {"+14155238886"})
    # WhatsApp-approved Content Templates by Content SID (HX…).
    whatsapp_templates: dict[str, ContentTemplate] = field(
        default_factory=default_content_templates
    )
    # Where Twilio posts messages customers send to our numbers ("A message comes in").
    inbound_sms_url: str | None = None
    keep_bodies: bool = True  # False for million-message benchmarks: keep metadata only
    # False: no delivery/engagement webhooks at all (benchmarks measuring sends alone).
    webhooks: bool = True
    # SendGrid's Email Activity API answers 6 requests a minute per account (documented).
    activity_requests_per_minute: int = 6
    # X: our app (consumer key and secret; the secret also signs Account Activity webhooks)
    # and our account (its access token starts with its user id, as X's tokens do).
    x_consumer_key: str = "sandbox-consumer-key"
    x_consumer_secret: str = "sandbox-consumer-secret"
    x_access_token: str = "1000000000000000001-sandboxAccessToken"
    x_access_token_secret: str = "sandbox-access-token-secret"
    x_account_handle: str = "touchline"
    # Handles with no X account, and users whose DM settings refuse us (403, code 349).
    x_missing_handles: set[str] = field(default_factory=lambda: {"nosuchuser"})
    x_closed_dm_handles: set[str] = field(default_factory=lambda: {"dmsclosed"})
    # Requests per 15-minute window per user, per endpoint, as X documents them.
    x_rate_limits: dict[str, int] = field(
        default_factory=lambda: {"users_by_username": 900, "dm_create": 200, "dm_events": 300}
    )
    x_webhook_url: str | None = None  # where Account Activity events are posted


class Sandbox:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.clock = SandboxClock()
        # People answer what a text asks ("reply YES"): the simulator reads accepted bodies.
        self.engagement = EngagementSimulator(
            sms_body=lambda sid: (self.sms_by_sid.get(sid) or {}).get("body")
        )
        self.signer = EventWebhookSigner.load_or_create(config.state_dir)
        self.faults = {provider: FaultInjector() for provider in PROVIDERS}
        self.emails: list[dict[str, Any]] = []
        self.sms: list[dict[str, Any]] = []
        self.sms_by_sid: dict[str, dict[str, Any]] = {}
        self.requests: Counter[str] = Counter()  # per provider, every request
        # When each send request arrived and was answered (epoch seconds): what a test
        # compares with the moment a journey's pause was committed.
        self.request_log: list[dict[str, Any]] = []
        self.attempts_by_touch: Counter[tuple[str, str]] = Counter()
        self.accepted_by_touch: Counter[tuple[str, str]] = Counter()
        self.email_suppressions: dict[str, str] = {}  # address -> reason (dropped on send)
        self.sms_opted_out: set[str] = set()  # numbers that texted STOP (21610 on send)
        # E.164 -> when the customer last wrote to us on WhatsApp (opens the session window).
        self.whatsapp_sessions: dict[str, datetime] = {}
        self.webhooks: Counter[str] = Counter()
        self.activity_requests: deque[float] = deque()  # monotonic times, for the rate limit
        self.direct_messages: list[dict[str, Any]] = []  # X DM events, both directions
        self.x_users: dict[str, str] = {}  # X user id -> handle: the users X has shown us
        self.x_rate_windows: dict[str, tuple[int, int]] = {}  # endpoint -> (reset, used)
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
            "accepted": {
                "sendgrid": len(self.emails),
                "twilio": len(self.sms),
                "x": sum(1 for m in self.direct_messages if m["_direction"] == "outbound"),
            },
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
        self.request_log.clear()
        self.sms.clear()
        self.sms_by_sid.clear()
        self.requests.clear()
        self.attempts_by_touch.clear()
        self.accepted_by_touch.clear()
        self.webhooks.clear()
        self.activity_requests.clear()
        self.direct_messages.clear()
        self.x_rate_windows.clear()
        self.engagement.clear()
        self.email_suppressions.clear()
        self.sms_opted_out.clear()
        self.whatsapp_sessions.clear()
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
        for delivery in (d for d in due if d.kind in ("twilio", "twilio_inbound")):
            if self.generation != generation:
                return posted
            if delivery.kind == "twilio_inbound":
                # A customer's text: Twilio's own opt-out list learns STOP / START first
                # (Advanced Opt-Out), whether or not anyone listens at the inbound URL.
                self._track_opt_out(delivery.body)
                delivery.url = self.config.inbound_sms_url
                if not delivery.url:
                    self.webhooks["twilio_inbound_no_url"] += 1
                    continue
            else:
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
        # Signed at the moment of posting, in sandbox time (as SendGrid signs with its own
        # clock): a receiver on the same simulated clock checks the replay window against it.
        timestamp = str(int(self.clock.now().timestamp()))
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
            "I-Twilio-Idempotency-Token": f"{delivery.body['MessageSid']}-{delivery.body.get('MessageStatus', 'received')}",
            TWILIO_SIGNATURE_HEADER: twilio_signature(
                self.config.twilio_auth_token, delivery.url, params
            ),
        }
        label = "twilio_inbound" if delivery.kind == "twilio_inbound" else "twilio"
        return await self._post(client, label, delivery.url, data=params, headers=headers)

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

    # --- WhatsApp ---------------------------------------------------------------------------

    def whatsapp_session_open(self, number: str, now: datetime) -> bool:
        last = self.whatsapp_sessions.get(number)
        return last is not None and now - last < WHATSAPP_SESSION

    def whatsapp_accepted(
        self, message: dict[str, Any], status_callback: str | None, touch_id: str | None
    ) -> None:
        """Status callbacks of an accepted WhatsApp message: sent, delivered (or
        undelivered), and read when the recipient opens it (the blue ticks), which an SMS
        never reports. Seeded like SMS, so a run can be repeated."""
        if not status_callback or not self.config.webhooks:
            return
        model = self.engagement.model
        to, accepted_at = message["to"], self.clock.now()
        rng = random.Random(f"{model.seed}:{to}:{touch_id or message['sid']}")

        def callback(status: str, at: datetime, **extra: str) -> None:
            params = {
                "AccountSid": self.config.twilio_account_sid,
                "ApiVersion": "2010-04-01",
                "ChannelPrefix": "whatsapp",
                "ChannelToAddress": to.removeprefix(WHATSAPP),
                "From": message["from"],
                "To": to,
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "MessageStatus": status,
                "SmsStatus": status,
                **extra,
            }
            # The simulator's queue takes any Delivery; it has no public method for a kind
            # of message it does not model itself.
            self.engagement._push(
                Delivery(at, next(self.engagement._seq), "twilio", params, url=status_callback)
            )

        sent_at = accepted_at + timedelta(seconds=rng.uniform(0.5, 3))
        callback("sent", sent_at)
        delivered_at = sent_at + timedelta(seconds=rng.uniform(1, 20))
        if rng.random() < model.sms_undelivered_rate:
            callback("undelivered", delivered_at, ErrorCode="63024")  # invalid recipient
            return
        callback("delivered", delivered_at)
        if rng.random() < model.appetite(to):
            hours = min(rng.expovariate(1 / model.mean_hours_to_open), 96)
            callback("read", delivered_at + timedelta(hours=hours))

    async def whatsapp_inbound(
        self,
        client: httpx.AsyncClient,
        *,
        from_: str,
        body: str,
        to: str | None = None,
        profile_name: str | None = None,
    ) -> dict[str, Any]:
        """A customer writes to our WhatsApp sender: the session window opens (sandbox
        time) and Twilio posts the signed inbound webhook. A TwiML <Message> in the answer
        goes back to the customer, as Twilio sends it."""
        number = from_.removeprefix(WHATSAPP)
        sender = (to or min(self.config.whatsapp_senders)).removeprefix(WHATSAPP)
        now = self.clock.now()
        self.whatsapp_sessions[number] = now
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.config.twilio_account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": WHATSAPP + number,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "ProfileName": profile_name or "Sandbox Customer",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": WHATSAPP + sender,
            "WaId": number.removeprefix("+"),
        }
        result: dict[str, Any] = {
            "message_sid": sid,
            "session_until": (now + WHATSAPP_SESSION).isoformat(),
            "posted": False,
            "status": None,
            "replies": [],
        }
        url = self.config.inbound_sms_url
        if not url:
            self.webhooks["twilio_inbound_no_url"] += 1
            return result
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            TWILIO_SIGNATURE_HEADER: twilio_signature(self.config.twilio_auth_token, url, params),
        }
        try:
            response = await client.post(url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("inbound webhook to %s failed: %s", url, exc)
            self.webhooks["twilio_inbound_failed"] += 1
            return result
        result["status"] = response.status_code
        if response.status_code >= 300:
            self.webhooks["twilio_inbound_failed"] += 1
            return result
        self.webhooks["twilio_inbound_posted"] += 1
        result["posted"] = True
        result["replies"] = _twiml_messages(response.text)
        return result

    def _track_opt_out(self, params: dict[str, Any]) -> None:
        opted_out = is_opt_out(str(params.get("Body", "")))
        if opted_out is True:
            self.sms_opted_out.add(params["From"])
        elif opted_out is False:
            self.sms_opted_out.discard(params["From"])

    def _track_sms_status(self, params: dict[str, Any]) -> None:
        message = self.sms_by_sid.get(params["MessageSid"])
        if message is not None:
            message["status"] = params["MessageStatus"]
            if "ErrorCode" in params:
                message["error_code"] = int(params["ErrorCode"])


def _twiml_messages(text: str) -> list[str]:
    """The texts of a TwiML answer's <Message> verbs."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return []
    return [
        "".join(m.itertext()).strip() for m in root.iter("Message") if "".join(m.itertext()).strip()
    ]


def new_message_id() -> str:
    """A SendGrid X-Message-Id: 22 URL-safe characters."""
    return secrets.token_urlsafe(16)[:22]


def touch_id_from_url(url: str | None) -> str | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("touch_id")
    return values[0] if values else None
