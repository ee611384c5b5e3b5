"""Finding and replacing personal data in what Touchline stored as JSON or text.

Event payloads, rendered messages, provider webhooks and consent evidence are free-form:
a producer may put the customer's email under any key, or inside a sentence. Three rules,
together, so that one missed rule does not leak:

- by key: a value under a key that names personal data (``email``, ``phone``,
  ``first_name``, ``shipping_address``, ``ip``…) is replaced whole, whatever it holds;
- rendered content (``subject``, ``body``, ``text``, ``html``, template variables) is
  replaced whole: a message written for the customer says who they are in ways no pattern
  finds (their city, their order);
- by value: inside every other string, any email address, any phone number, and every
  value known to be the customer's (their addresses in several spellings, their names and
  other profile values) is replaced where it appears.

Erasing replaces with ``[erased]``. Evidence that is kept (consent, opt-outs, suppressions)
gets keyed hashes instead (touchline.privacy.keys), so it stays provable with the key.
Over-erasing an erased customer's data costs nothing; missing one address is the failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

ERASED = "[erased]"

# Keys whose value is personal data whatever it holds (compared lower-case, "-" as "_").
PERSONAL_KEYS = frozenset({
    "email", "e_mail", "mail", "phone", "mobile", "telephone", "tel", "msisdn", "whatsapp",
    "name", "first_name", "firstname", "last_name", "lastname", "surname", "full_name",
    "display_name", "given_name", "family_name", "nickname", "username", "screen_name",
    "handle", "x_handle", "address", "street", "address_line1", "address_line2", "city",
    "postcode", "postal_code", "zip", "zipcode", "birthday", "birthdate", "date_of_birth",
    "dob", "ip", "ip_address", "user_agent", "to", "from", "to_name", "sender", "recipient",
    "author", "profile", "attributes", "identities", "location", "lat", "lng", "latitude",
    "longitude", "useragent",
})  # fmt: skip
PERSONAL_SUFFIXES = ("_email", "_phone", "_name", "_address", "_ip", "_handle", "_number")
# What was written to (or by) the customer: replaced whole.
CONTENT_KEYS = frozenset({
    "subject", "body", "text", "html", "content_variables", "message", "comment", "note",
    "notes", "caption", "media_url",
})  # fmt: skip

_EMAIL = re.compile(r"[^\s@<>()\[\]{}\"',;:]+@[^\s@<>()\[\]{}\"',;:]+\.[A-Za-z]{2,}")

Replace = Callable[[str, str], str]  # (kind, value) -> what stands in its place


def erase(_kind: str, _value: str) -> str:
    return ERASED


def is_personal_key(key: str) -> bool:
    name = key.strip().lower().replace("-", "_")
    return name in PERSONAL_KEYS or name.endswith(PERSONAL_SUFFIXES)


def is_content_key(key: str) -> bool:
    return key.strip().lower() in CONTENT_KEYS


@dataclass
class Scrubber:
    """Replaces one customer's personal data; ``known``: (kind, value) pairs of theirs."""

    known: Iterable[tuple[str, str]] = ()
    replace: Replace = erase
    # Where their phone numbers are from: national spellings ("(415) 555-0101") are
    # recognised in these regions as well as international ones.
    regions: tuple[str, ...] = ("US",)
    _patterns: list[tuple[re.Pattern[str], str, str]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        spellings: dict[str, tuple[str, str]] = {}
        for kind, value in self.known:
            for spelling in _spellings(kind, value):
                if len(spelling.strip()) >= 2:
                    spellings.setdefault(spelling.lower(), (kind, value))
        # Longest first: "Ada Lovelace" before "Ada".
        for spelling in sorted(spellings, key=len, reverse=True):
            kind, value = spellings[spelling]
            pattern = re.compile(rf"(?<![\w]){re.escape(spelling)}(?![\w])", re.IGNORECASE)
            self._patterns.append((pattern, kind, value))

    def value(self, data: Any, key: str | None = None) -> Any:
        """``data`` with every personal part replaced (a new value; ``data`` is untouched)."""
        if key is not None and (is_personal_key(key) or is_content_key(key)):
            return self.whole(data, "text" if is_content_key(key) else _kind_of_key(key))
        if isinstance(data, Mapping):
            return {self.text(str(k)): self.value(v, str(k)) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.value(item) for item in data]
        if isinstance(data, str):
            return self.text(data)
        return data

    def whole(self, data: Any, kind: str) -> Any:
        """Every leaf of ``data`` replaced; the shape (keys, lengths) kept."""
        if data is None or isinstance(data, bool):
            return data
        if isinstance(data, Mapping):
            return {self.text(str(k)): self.whole(v, kind) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.whole(item, kind) for item in data]
        text = str(data)
        kind = _kind_of_value(text) or kind
        return self.replace(kind, _normalised(kind, text))

    def text(self, text: str) -> str:
        if not text:
            return text
        text = _EMAIL.sub(lambda m: self.replace("email", m.group(0).lower()), text)
        for pattern, kind, value in self._patterns:
            text = pattern.sub(lambda _m, k=kind, v=value: self.replace(k, v), text)
        return self._phones(text)

    def _phones(self, text: str) -> str:
        if sum(c.isdigit() for c in text) < 7:
            return text
        for region in self.regions:
            found = list(phonenumbers.PhoneNumberMatcher(text, region))
            for match in reversed(found):
                e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
                text = text[: match.start] + self.replace("phone", e164) + text[match.end :]
        return text


def _kind_of_key(key: str) -> str:
    name = key.strip().lower()
    if "mail" in name:
        return "email"
    if any(part in name for part in ("phone", "mobile", "tel", "msisdn", "whatsapp")):
        return "phone"
    return "text"


def _kind_of_value(value: str) -> str | None:
    """email or phone when the value is one (``from``: "+14155550101"), so that it hashes
    as the same address does everywhere else."""
    value = value.strip()
    if _EMAIL.fullmatch(value):
        return "email"
    if value.startswith("+") and sum(c.isdigit() for c in value) >= 7:
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(value, None)):
                return "phone"
        except phonenumbers.NumberParseException:
            return None
    return None


def _normalised(kind: str, value: str) -> str:
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind == "phone":
        try:
            parsed = phonenumbers.parse(value, None if value.startswith("+") else "US")
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            return value
    return value


def _spellings(kind: str, value: str) -> list[str]:
    """The ways a value of this kind is written in free text."""
    if kind in ("phone", "whatsapp") and value.startswith("+"):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return [value]
        formats = (
            phonenumbers.PhoneNumberFormat.E164,
            phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            phonenumbers.PhoneNumberFormat.NATIONAL,
        )
        national = str(number.national_number)
        return [value, national, *(phonenumbers.format_number(number, f) for f in formats)]
    if kind == "x_handle":
        return [value, f"@{value}"]
    return [value]


def regions_of(phones: Iterable[str]) -> tuple[str, ...]:
    """The regions of these E.164 numbers (for national spellings), US always included."""
    regions = {"US"}
    for phone in phones:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
        except phonenumbers.NumberParseException:
            continue
        if region and region != "ZZ":
            regions.add(region)
    return tuple(sorted(regions))
