"""What a customer, an API client or an event may state, validated field by field.

Shared by event intake, the HTTP API and the customer's preference page, so that the same
input means the same thing — and is refused with the same words — wherever it arrives.
"""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from preference_center.consent import ALL_CHANNELS
from preference_center.quiet_hours import is_valid_timezone
from touchline.journeys.model import ChannelName

LOCALE_PATTERN = r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHoursIn(_Strict):
    start: time
    end: time


class PreferencesIn(_Strict):
    """Stated preferences. Only the fields given change; ``null`` clears one."""

    channel_order: list[ChannelName] | None = None
    timezone: str | None = None
    locale: str | None = Field(default=None, pattern=LOCALE_PATTERN)
    quiet_hours: QuietHoursIn | None = None
    max_per_week: int | None = Field(
        default=None, ge=1, le=50, description="at most this many marketing messages a week"
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_timezone(value):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris)")
        return value

    @field_validator("channel_order")
    @classmethod
    def _order(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value


class ConsentIn(_Strict):
    """One change to the consent ledger: a channel for a purpose, or a topic."""

    # One Literal, not a union with "all": its error reads as one sentence naming every option.
    channel: Literal["email", "sms", "whatsapp", "x", "all"]
    purpose: Literal["marketing", "transactional"] = "marketing"
    status: Literal["granted", "revoked", "pending"]
    topic: str | None = Field(default=None, max_length=64)
    evidence: dict[str, Any] = Field(default_factory=dict)

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        from touchline.config import get_settings

        return get_settings().check_topic(value)

    @model_validator(mode="after")
    def _channel_for_topics_only(self) -> ConsentIn:
        if self.channel == ALL_CHANNELS and self.topic is None:
            raise ValueError('channel "all" is for topics; name a channel to grant or revoke')
        if self.topic is not None and self.status == "pending":
            raise ValueError("a topic is joined (granted) or left (revoked), never pending")
        return self
