"""The shape of an incoming event, validated field by field.

    {
      "id": "evt_8f2c",                        # the producer's id: idempotency key
      "type": "customer.signed_up",
      "customer_id": "c_1042",
      "occurred_at": "2026-11-23T09:12:00+01:00",   # with a time zone, always
      "payload": {...},                        # anything the journey may branch on
      "profile": {"email": "...", "phone": "+1...", "attributes": {"first_name": "Ada"}},
      "preferences": {"channel_order": ["sms", "email"], "timezone": "Europe/Paris",
                      "locale": "fr", "quiet_hours": {"start": "21:00", "end": "08:00"}},
      "consents": [{"channel": "email", "purpose": "marketing", "status": "granted"}]
    }

Only id, type, customer_id and occurred_at are required.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from preference_center.identities import (
    InvalidAddress,
    normalise,
    normalise_email,
    normalise_phone,
)
from preference_center.schemas import ConsentIn, PreferencesIn
from touchline.errors import Problem
from touchline.intake.phones import default_region, parse_phone
from touchline.journeys.model import EVENT_TYPE

MAX_EVENT_BYTES = 64 * 1024
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def attributes_size(attributes: dict[str, Any]) -> int:
    """Bytes of a customer's attributes as stored (compact JSON, UTF-8)."""
    return len(
        json.dumps(attributes, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    )


def attributes_size_problem(attributes: dict[str, Any], limit: int | None = None) -> str | None:
    """Why these attributes are too large to keep for one customer, or None."""
    from touchline.config import get_settings

    limit = limit if limit is not None else get_settings().customer_attributes_max_bytes
    size = attributes_size(attributes)
    if size <= limit:
        return None
    return (
        f"a customer's attributes may total at most {limit:,} bytes as JSON "
        f"(TOUCHLINE_CUSTOMER_ATTRIBUTES_MAX_BYTES); these would be {size:,}"
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileIn(_Strict):
    email: str | None = None
    phone: str | None = None
    whatsapp: str | None = None  # the number the customer uses WhatsApp on
    x_handle: str | None = None
    country: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="ISO 3166 alpha-2, to read national phone numbers",
    )
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _attributes_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = attributes_size_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_email(value)
        except InvalidAddress as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("x_handle")
    @classmethod
    def _handle(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise("x_handle", value)
        except InvalidAddress as exc:
            raise ValueError(str(exc)) from exc

    def normalised_phone(self) -> str | None:
        if self.phone is None:
            return None
        return normalise_phone(self.phone, self.country.upper() if self.country else None)

    def normalised_whatsapp(self) -> str | None:
        if self.whatsapp is None:
            return None
        return normalise_phone(self.whatsapp, self.country.upper() if self.country else None)

    def identities(self) -> list[tuple[str, str]]:
        """(kind, normalised value) of every address given."""
        given = [("email", self.email), ("phone", self.normalised_phone()),
                 ("whatsapp", self.normalised_whatsapp()), ("x_handle", self.x_handle)]  # fmt: skip
        return [(kind, value) for kind, value in given if value]


class EventIn(_Strict):
    id: str
    type: str
    customer_id: str
    occurred_at: datetime
    source: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)
    profile: ProfileIn | None = None
    preferences: PreferencesIn | None = None
    consents: list[ConsentIn] = Field(default_factory=list, max_length=20)

    @field_validator("id", "customer_id")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError(
                "use 1-128 letters, digits and . _ : @ - (starting with a letter or digit)"
            )
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not EVENT_TYPE.match(value):
            raise ValueError(
                f"'{value}' is not an event type; use dotted lower-case names like customer.signed_up"
            )
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("needs a time zone, e.g. 2026-11-23T09:12:00Z or +01:00")
        return value


def parse_event(
    raw: str | bytes | dict[str, Any], *, source: str | None = None, line: int | None = None
) -> tuple[EventIn | None, list[Problem]]:
    """One event from a JSON line or a dict: the event, or the problems naming each field."""
    if isinstance(raw, str | bytes):
        if len(raw) > MAX_EVENT_BYTES:
            return None, [
                Problem(
                    "",
                    f"the event is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}",
                    source,
                    line,
                )
            ]
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            return None, [Problem("", f"not valid JSON: {exc}", source, line)]
    if not isinstance(raw, dict):
        return None, [Problem("", "an event is a JSON object", source, line)]
    try:
        event = EventIn.model_validate(raw)
    except ValidationError as exc:
        return None, [_problem(err, source, line) for err in exc.errors()]
    if event.profile is not None and (event.profile.phone or event.profile.whatsapp):
        # A national number is read in the customer's country (the event's, or its time
        # zone's); stored in E.164 so nothing downstream needs the country again.
        region = default_region(
            event.profile.country, event.preferences.timezone if event.preferences else None
        )
        numbers: dict[str, str] = {}
        for name in ("phone", "whatsapp"):
            value = getattr(event.profile, name)
            if value is None:
                continue
            try:
                numbers[name] = parse_phone(value, region)
            except InvalidAddress as exc:
                return None, [Problem(f"profile.{name}", str(exc), source, line)]
        event = event.model_copy(update={"profile": event.profile.model_copy(update=numbers)})
    return event, []


def _problem(error: Any, source: str | None, line: int | None) -> Problem:
    field = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden":
        message = "is not a field of an event"
    return Problem(field, message, source, line)
