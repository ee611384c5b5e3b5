"""The engagement simulator: what recipients do with what the emulators accepted.

A model of people, not of messages. Each recipient is a ``Persona`` derived from the seed
and who they are (a registered person id, else their address), so the same person behaves
the same way on every message and in every run:

- a lean: most people read email, a settable share are *texters* who answer texts and
  leave email mostly unopened — each with an affinity per channel (the chance to engage
  with a message that arrives at a good hour);
- a day: morning or evening people, active for a few hours in their *own* time zone. A
  message arriving outside those hours is less likely to be engaged with (its odds are
  multiplied by ``off_hours_odds``), and an email opened at all is opened mostly within
  their active hours;
- answers to texts: a free-text reply (their SMS affinity), a YES to a message that asks
  them to "reply YES" (the SMS double opt-in), and now and then a STOP.

Each accepted message gets a deterministic future (seeded by recipient and touch): an email
is processed, delivered (or bounced, or dropped), perhaps opened, perhaps clicked; an SMS is
sent then delivered (or undelivered), perhaps answered. The future is a queue of webhook
deliveries in sandbox time; ``due(until)`` hands out those whose moment has come, for the
server to post signed: SendGrid events, Twilio status callbacks, and replies as Twilio
inbound-message webhooks.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BOUNCE_DOMAIN_SUFFIXES = (".invalid", "bounce.example")
UNDELIVERABLE_SMS_ERRORS = (30003, 30005, 30006)
# Local hours [start, end) in which each kind of person reads and answers.
DAY_PROFILES = {"morning": (7, 10), "evening": (18, 22)}
# Share of the opens of an engaged email that wait for the reader's active hours; the rest
# happen whenever (a notification glanced at).
OPENS_IN_ACTIVE_HOURS = 0.85
MAX_HOURS_TO_OPEN = 96
MAX_MINUTES_TO_REPLY = 180
# A text that asks for YES (the double opt-in: "reply YES to get our offers by text").
ASKS_FOR_YES = re.compile(r"\breply\s+YES\b", re.IGNORECASE)
FREE_TEXT_REPLIES = (
    "Thanks!",
    "Is this in store too?",
    "Do you ship to Canada?",
    "Great, thank you",
    "What sizes do you have?",
    "ok 👍",
    "Can I use the code online?",
)
DeliveryKind = Literal["sendgrid", "twilio", "twilio_inbound"]


@dataclass(order=True)
class Delivery:
    due: datetime
    seq: int
    kind: DeliveryKind = field(compare=False)
    # SendGrid: one event; Twilio: the form parameters (a status callback, or an inbound
    # message for "twilio_inbound").
    body: dict[str, Any] = field(compare=False)
    # Twilio: the StatusCallback; an inbound message's URL is the sandbox's configured one,
    # filled in when it is posted.
    url: str | None = field(default=None, compare=False)
    attempts: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Persona:
    """One simulated person, as the simulator sees them."""

    key: str  # who: a registered person id, else the address
    texter: bool
    email_affinity: float  # chance to open an email that arrives in their active hours
    sms_affinity: float  # chance to answer a text that arrives in their active hours
    timezone: str
    day: str  # morning | evening
    off_hours_odds: float

    @property
    def active_hours(self) -> tuple[int, int]:
        return DAY_PROFILES[self.day]

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def is_active(self, moment: datetime) -> bool:
        start, end = self.active_hours
        return start <= moment.astimezone(self.zone).hour < end

    def hour_weight(self, moment: datetime) -> float:
        """How the local hour of ``moment`` scales the odds of engaging: 1 in the active
        hours, ``off_hours_odds`` well outside them, halfway in the hour either side."""
        start, end = self.active_hours
        hour = moment.astimezone(self.zone).hour
        if start <= hour < end:
            return 1.0
        if hour in (start - 1, end % 24):
            return (1.0 + self.off_hours_odds) / 2
        return self.off_hours_odds

    def chance(self, affinity: float, moment: datetime) -> float:
        """The chance to engage with a message arriving at ``moment``. The hour multiplies
        the odds, so someone who always (or never) engages does so at any hour."""
        weight = self.hour_weight(moment)
        engaged = affinity * weight
        return engaged / (1.0 - affinity + engaged) if engaged else 0.0

    def active_window(self, moment: datetime) -> tuple[datetime, datetime]:
        """The rest of the active hours ``moment`` is in, else the next ones (UTC-aware)."""
        zone, (start, end) = self.zone, self.active_hours
        local = moment.astimezone(zone)
        for days in range(3):
            day = local.date() + timedelta(days=days)
            opens = datetime.combine(day, time(start), zone)
            closes = datetime.combine(day, time(end - 1, 59, 59), zone)
            if closes > local:
                return max(opens, local).astimezone(moment.tzinfo), closes.astimezone(moment.tzinfo)
        raise AssertionError("an active window recurs every day")  # pragma: no cover


@dataclass
class EngagementModel:
    """The simulated audience's parameters. Set per run through the control API."""

    # Email: everyone's chance to open (at a good hour) lies between these; readers in the
    # upper half of the range, texters in the lower.
    open_rate_low: float = 0.15
    open_rate_high: float = 0.75
    click_given_open: float = 0.35
    # SMS: the chance to answer a text in free words (at a good hour); texters in the upper
    # half of the range, readers in the lower — for most people a small chance.
    reply_rate_low: float = 0.02
    reply_rate_high: float = 0.5
    texter_share: float = 0.3  # people who answer texts rather than read email
    evening_share: float = 0.5  # evening people; the others are morning people
    off_hours_odds: float = 0.3  # odds of engaging off-hours, relative to active hours
    confirm_rate: float = 0.6  # YES to a text that asks for it (SMS double opt-in)
    stop_rate: float = 0.01  # STOP to any text
    sms_undelivered_rate: float = 0.02
    mean_hours_to_open: float = 7.0  # for the opens that do not wait for active hours
    mean_minutes_to_reply: float = 12.0
    seed: str = "touchline"
    # Who owns which addresses, so that a customer's email and phone are one person:
    # [{"id": "c000001", "addresses": ["ada@example.com", "+14155550100"],
    #   "timezone": "America/Los_Angeles"}]. An address not listed is a person of its own,
    # in the zone of its phone number's country where that is one zone, else UTC.
    people: list[dict[str, Any]] = field(default_factory=list)
    _directory: dict[str, tuple[str, str | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name in ("open_rate_low", "open_rate_high", "click_given_open", "reply_rate_low",
                     "reply_rate_high", "texter_share", "evening_share", "off_hours_odds",
                     "confirm_rate", "stop_rate", "sms_undelivered_rate"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number between 0 and 1, not {value!r}")
        for low, high in (("open_rate_low", "open_rate_high"), ("reply_rate_low", "reply_rate_high")):  # fmt: skip
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} is above {high}")
        for name in ("mean_hours_to_open", "mean_minutes_to_reply"):
            if not isinstance(getattr(self, name), int | float) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number")
        self._directory = _index_people(self.people)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngagementModel:
        public = {f.name for f in fields(cls) if f.init}
        unknown = set(data) - public
        if unknown:
            raise ValueError(f"unknown engagement settings: {', '.join(sorted(unknown))}")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def appetite(self, address: str) -> float:
        """How readily this person reads what reaches their phone (a WhatsApp message read):
        the better of their two affinities."""
        person = self.persona(address)
        return max(person.email_affinity, person.sms_affinity)

    def persona(self, address: str) -> Persona:
        address = _address_key(address)
        key, timezone = self._directory.get(address, (address, None))
        unit = _units(f"{self.seed}:person:{key}", 4)
        texter = unit[0] < self.texter_share
        email_half = 0.0 if texter else 0.5
        return Persona(
            key=key,
            texter=texter,
            email_affinity=_within(self.open_rate_low, self.open_rate_high, email_half, unit[2]),
            sms_affinity=_within(
                self.reply_rate_low, self.reply_rate_high, 0.5 - email_half, unit[3]
            ),
            timezone=timezone or _zone_of_number(address) or "UTC",
            day="evening" if unit[1] < self.evening_share else "morning",
            off_hours_odds=self.off_hours_odds,
        )


class EngagementSimulator:
    def __init__(
        self,
        model: EngagementModel | None = None,
        *,
        sms_body: Callable[[str], str | None] = lambda _sid: None,
    ):
        """``sms_body``: the body of an accepted SMS by its sid (the emulator's store), so
        people can answer what a text asks."""
        self.model = model or EngagementModel()
        self._sms_body = sms_body
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
        person = self.model.persona(to)
        if rng.random() >= person.chance(person.email_affinity, delivered_at):
            return
        if rng.random() < OPENS_IN_ACTIVE_HOURS:
            start, end = person.active_window(delivered_at)
            opened_at = start + (end - start) * rng.random()
        else:
            opened_at = delivered_at + timedelta(
                hours=min(rng.expovariate(1 / self.model.mean_hours_to_open), MAX_HOURS_TO_OPEN)
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
        rng = random.Random(f"{self.model.seed}:{to}:{touch_id or sid}")

        def callback(status: str, at: datetime, **extra: str) -> None:
            if not status_callback:
                return  # nobody asked to hear about it; it happens all the same
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
        done_at = sent_at + timedelta(seconds=rng.uniform(2, 30))
        if rng.random() < self.model.sms_undelivered_rate:
            callback("undelivered", done_at, ErrorCode=str(rng.choice(UNDELIVERABLE_SMS_ERRORS)))
            return
        callback("delivered", done_at)
        if not to.startswith("whatsapp:"):
            self._maybe_reply(sid, account_sid, to, from_, done_at, touch_id)

    def _maybe_reply(
        self,
        sid: str,
        account_sid: str,
        to: str,
        from_: str,
        delivered_at: datetime,
        touch_id: str | None,
    ) -> None:
        """What the recipient texts back, if anything: STOP now and then; YES to a text
        that asks for it; otherwise, by their affinity and the hour, a few words."""
        # A stream of its own: the status callbacks above stay what they were.
        rng = random.Random(f"{self.model.seed}:{to}:{touch_id or sid}:reply")
        person = self.model.persona(to)
        body = self._sms_body(sid) or ""
        if rng.random() < self.model.stop_rate:
            text = rng.choice(("STOP", "Stop", "stop"))
        elif ASKS_FOR_YES.search(body):
            if rng.random() >= self.model.confirm_rate:
                return
            text = rng.choice(("YES", "Yes", "yes"))
        elif rng.random() < person.chance(person.sms_affinity, delivered_at):
            text = rng.choice(FREE_TEXT_REPLIES)
        else:
            return
        minutes = min(rng.expovariate(1 / self.model.mean_minutes_to_reply), MAX_MINUTES_TO_REPLY)
        reply_sid = f"SM{rng.getrandbits(128):032x}"
        params = {
            "AccountSid": account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": reply_sid,
            "SmsSid": reply_sid,
            "SmsMessageSid": reply_sid,
            "SmsStatus": "received",
            "From": to,  # the customer answers…
            "To": from_,  # …the number that texted them
            "Body": text,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        at = delivered_at + timedelta(minutes=max(minutes, 0.2))
        self._push(Delivery(at, next(self._seq), "twilio_inbound", params))

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


def is_opt_out(body: str) -> bool | None:
    """What a text does to Twilio's own opt-out list (Advanced Opt-Out's default keywords):
    True for an opt-out, False for an opt-in, None for anything else."""
    word = body.strip().upper()
    if word in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"):
        return True
    if word in ("START", "YES", "UNSTOP"):
        return False
    return None


def _address_key(address: str) -> str:
    address = address.strip().removeprefix("whatsapp:")
    return address.lower() if "@" in address else address


def _index_people(people: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    if not isinstance(people, list):
        raise ValueError("people must be a list of {id, addresses, timezone}")
    directory: dict[str, tuple[str, str | None]] = {}
    for n, person in enumerate(people):
        if not isinstance(person, dict) or set(person) - {"id", "addresses", "timezone"}:
            raise ValueError(f"people[{n}] must be {{id, addresses, timezone}}")
        addresses = person.get("addresses")
        if not isinstance(addresses, list) or not addresses:
            raise ValueError(f"people[{n}].addresses must be a non-empty list")
        key = str(person.get("id") or _address_key(addresses[0]))
        timezone = person.get("timezone")
        if timezone is not None:
            try:
                _zone(timezone)
            except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
                raise ValueError(f"people[{n}].timezone: unknown zone {timezone!r}") from exc
        for address in addresses:
            directory[_address_key(str(address))] = (key, timezone)
    return directory


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def _zone_of_number(address: str) -> str | None:
    """The time zone of a phone number's region, where it has exactly one."""
    if not address.startswith("+"):
        return None
    import phonenumbers
    from phonenumbers import timezone as number_zones

    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(address))
    except phonenumbers.NumberParseException:
        return None
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else None


def _units(label: str, count: int) -> list[float]:
    """``count`` numbers in [0, 1), fixed by ``label``."""
    digest = hashlib.sha256(label.encode()).digest()
    return [int.from_bytes(digest[i * 8 : i * 8 + 8], "big") / 2**64 for i in range(count)]


def _within(low: float, high: float, half: float, unit: float) -> float:
    """A point of the lower (half=0) or upper (half=0.5) half of [low, high]."""
    return low + (high - low) * (half + unit / 2)
