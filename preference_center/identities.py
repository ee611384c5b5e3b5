"""Normalised addresses: one spelling per address, so that one address means one customer."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Which identity kind carries the address for a channel.
CHANNEL_IDENTITY = {"email": "email", "sms": "phone", "whatsapp": "whatsapp", "x": "x_handle"}


class InvalidAddress(ValueError):
    pass


def normalise_email(value: str) -> str:
    try:
        # Deliverability (DNS) checks need the network and belong to the provider; syntax
        # and normalisation are ours.
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc
    local, domain = result.normalized.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def normalise_phone(value: str, default_region: str | None = None) -> str:
    """E.164 (``+15551234567``). Numbers without a ``+`` need a default region."""
    try:
        parsed = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(f"'{value}' is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidAddress(f"'{value}' is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise(kind: str, value: str, default_region: str | None = None) -> str:
    if kind == "email":
        return normalise_email(value)
    if kind in ("phone", "whatsapp"):
        return normalise_phone(value, default_region)
    if kind == "x_handle":
        handle = value.strip().lstrip("@")
        if not handle or len(handle) > 15 or not all(c.isalnum() or c == "_" for c in handle):
            raise InvalidAddress(f"'{value}' is not an X handle")
        return handle.lower()
    raise InvalidAddress(f"unknown identity kind '{kind}'")
