"""A synthetic audience for the demo and the tests: varied, deterministic per seed.

Customers differ the way real ones do: time zones around the world, locales, stated channel
orders, quiet hours, consents given or not (and some SMS consents still pending their
confirmation), missing phone numbers, mailboxes that bounce, numbers that are invalid or
have opted out with the carrier (Twilio's magic test numbers). A few events are broken on
purpose, so the demo shows them rejected with their line and field while the rest go in.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

FIRST_NAMES = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Guido", "Frances",
    "Ken", "Dennis", "Radia", "Tim", "Sophie", "Hedy", "Katherine", "John", "Claude", "Joan",
    "Niklaus", "Leslie", "Anita", "Yukihiro", "Hélène", "Amélie", "Zoë", "Chloé", "Björn", "Søren",
]  # fmt: skip
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "van Rossum", "Allen", "Thompson", "Ritchie", "Perlman", "Berners-Lee", "Wilson", "Lamarr", "Johnson", "Backus", "Shannon", "Clarke"]  # fmt: skip
# (time zone, locale, mobile prefix, digits after it, share of the audience)
REGIONS = [
    ("America/Los_Angeles", "en-US", "+1415", 7, 0.16),
    ("America/Chicago", "en-US", "+1312", 7, 0.12),
    ("America/New_York", "en-US", "+1212", 7, 0.20),
    ("Europe/London", "en-GB", "+447700", 6, 0.12),
    ("Europe/Paris", "fr", "+336", 8, 0.14),
    ("Europe/Berlin", "de", "+49151", 8, 0.06),
    ("Asia/Tokyo", "en", "+8190", 8, 0.08),
    ("Australia/Sydney", "en-AU", "+614", 8, 0.08),
    (None, None, "+1646", 7, 0.04),  # said nothing about where they live
]

# Twilio's test numbers, one customer each: an invalid number (21211) and a number whose
# owner opted out with the carrier (21610).
MAGIC_NUMBERS = {11: "+15005550001", 23: "+15005550004"}


@dataclass(frozen=True)
class Audience:
    signups: list[str]  # JSON lines, a few of them broken on purpose
    purchases: list[dict[str, Any]]  # customer.first_purchase events, with occurred_at
    customers: int


def build_audience(count: int, start: datetime, seed: int = 7, broken: int = 3) -> Audience:
    rng = random.Random(seed)
    lines: list[str] = []
    purchases: list[dict[str, Any]] = []
    for n in range(count):
        customer_id = f"c{n + 1:06d}"
        tz, locale, prefix, digits, _ = rng.choices(REGIONS, weights=[r[4] for r in REGIONS])[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        occurred = start - timedelta(seconds=rng.uniform(0, 3600))
        profile: dict[str, Any] = {
            "attributes": {
                "first_name": first,
                "last_name": last,
                "plan": rng.choice(["free", "free", "plus"]),
            }
        }
        roll = rng.random()
        if roll < 0.015:
            profile["email"] = f"bounce-{n}@bounce.example"  # the mailbox does not exist
        elif roll < 0.985:
            profile["email"] = f"{first.lower()}.{last.lower().replace(' ', '')}.{n}@example.com"
        has_phone = rng.random() < 0.78 or n in MAGIC_NUMBERS
        if has_phone:
            profile["phone"] = (
                MAGIC_NUMBERS.get(n) or f"{prefix}{10 ** (digits - 1) + n:0{digits}d}"
            )
        preferences: dict[str, Any] = {}
        if tz:
            preferences["timezone"] = tz
        if locale:
            preferences["locale"] = locale
        if rng.random() < 0.4:
            preferences["channel_order"] = rng.choice([["sms", "email"], ["email", "sms"]])
        if rng.random() < 0.1:
            preferences["quiet_hours"] = {"start": "22:00", "end": "07:30"}
        consents = []
        # The magic-number customers never get (or open) the email, so the demo always
        # reaches their SMS and shows what the provider's refusal does.
        if "email" in profile and rng.random() < 0.9 and n not in MAGIC_NUMBERS:
            consents.append(
                {
                    "channel": "email",
                    "purpose": "marketing",
                    "status": "granted",
                    "evidence": {"form": "signup", "ip": f"198.51.100.{n % 250}"},
                }
            )
        if has_phone:
            sms_roll = rng.random()
            if sms_roll < 0.55 or n in MAGIC_NUMBERS:
                consents.append(
                    {
                        "channel": "sms",
                        "purpose": "marketing",
                        "status": "granted",
                        # The sign-up form texted a one-time code and the customer typed
                        # it in: the double opt-in is done before the event is sent.
                        "evidence": {
                            "form": "signup",
                            "checkbox": "sms_offers",
                            "confirmed_at": occurred.isoformat(),
                            "method": "one-time code",
                        },
                    }
                )
            elif sms_roll < 0.62:
                # Ticked the box without confirming: Touchline asks by text (reply YES).
                consents.append(
                    {
                        "channel": "sms",
                        "purpose": "marketing",
                        "status": "granted",
                        "evidence": {"form": "signup", "checkbox": "sms_offers"},
                    }
                )
        event = {
            "id": f"signup-{customer_id}",
            "type": "customer.signed_up",
            "customer_id": customer_id,
            "occurred_at": occurred.isoformat(),
            "source": "signup_form",
            "payload": {"channel": rng.choice(["web", "ios", "android"])},
            "profile": profile,
            "preferences": preferences,
            "consents": consents,
        }
        if profile.get("phone", "").startswith("+1500"):
            event["profile"]["country"] = "US"
        lines.append(json.dumps(event, ensure_ascii=False))
        if rng.random() < 0.12:
            bought = start + timedelta(hours=rng.uniform(1, 72))
            purchases.append(
                {
                    "id": f"purchase-{customer_id}",
                    "type": "customer.first_purchase",
                    "customer_id": customer_id,
                    "occurred_at": bought.isoformat(),
                    "source": "shop",
                    "payload": {
                        "order_id": f"o{n:06d}",
                        "revenue": round(rng.uniform(19, 240), 2),
                        "currency": "USD",
                    },
                }
            )
    # Broken on purpose: each names what is wrong, and costs nobody else their welcome.
    broken_lines = [
        json.dumps(
            {
                "id": "signup-broken-1",
                "type": "customer.signed_up",
                "customer_id": "c-broken-1",
                "occurred_at": "2026-11-23T09:00:00",
            }
        ),
        json.dumps(
            {
                "id": "signup-broken-2",
                "type": "Customer Signed Up",
                "customer_id": "c-broken-2",
                "occurred_at": start.isoformat(),
            }
        ),
        '{"id": "signup-broken-3", "type": "customer.signed_up", "customer_id": ',
        json.dumps(
            {
                "id": "signup-broken-4",
                "type": "customer.signed_up",
                "customer_id": "c-broken-4",
                "occurred_at": start.isoformat(),
                "profile": {"email": "not-an-address"},
            }
        ),
    ][:broken]
    for index, line in enumerate(broken_lines):
        lines.insert((index + 1) * max(1, count // (broken + 1)), line)
    return Audience(lines, sorted(purchases, key=lambda e: e["occurred_at"]), count)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
