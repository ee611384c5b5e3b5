"""Phone numbers at intake: a number written without ``+`` is read in the customer's country.

Customers type numbers the way their country writes them (``06 12 34 56 78`` in France,
``(415) 555-0134`` in the US). Such a number means nothing without a country, so intake
takes it from the event (``profile.country``) or, failing that, from the customer's time
zone (``preferences.timezone``: ``Europe/Paris`` is France), using the IANA time zone
database's own zone-to-country table (``zone.tab``, shipped by tzdata and by the system).
When neither is known the number is refused, and the error shows how to write it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import phonenumbers

from preference_center.identities import InvalidAddress, normalise_phone

# Shown when we cannot tell the country: an international number as people write it.
GENERIC_EXAMPLE = "+33 6 12 34 56 78"
_SYSTEM_TABLES = (Path("/usr/share/zoneinfo/zone.tab"), Path("/usr/lib/zoneinfo/zone.tab"))


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """IANA time zone -> ISO 3166 country code, from zone.tab (one country per zone)."""
    text = None
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        for path in _SYSTEM_TABLES:
            if path.is_file():
                text = path.read_text("utf-8")
                break
    table: dict[str, str] = {}
    for line in (text or "").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            table[parts[2].strip()] = parts[0].strip().upper()
    return table


def country_for_timezone(timezone: str | None) -> str | None:
    """The country a time zone belongs to (``Europe/Paris`` -> ``FR``); None for zones that
    are no one country's (``UTC``, ``Etc/GMT+2``) or unknown ones."""
    if not timezone:
        return None
    return _zone_countries().get(timezone)


def default_region(country: str | None, timezone: str | None) -> str | None:
    """The region a national number is read in: the given country, else the time zone's."""
    if country:
        return country.upper()
    return country_for_timezone(timezone)


def example(region: str | None) -> str:
    """How a number of this region is written with its country code."""
    if region:
        number = phonenumbers.example_number_for_type(
            region, phonenumbers.PhoneNumberType.MOBILE
        ) or phonenumbers.example_number(region)
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return GENERIC_EXAMPLE


def parse_phone(value: str, region: str | None) -> str:
    """E.164, or InvalidAddress saying how to write the number."""
    stripped = value.strip()
    if not stripped.startswith("+") and region is None:
        raise InvalidAddress(
            f"'{value}' has no country code and the customer's country is unknown: write it "
            f"with + and the country code, like {GENERIC_EXAMPLE}, or give profile.country "
            "(or preferences.timezone)"
        )
    try:
        return normalise_phone(stripped, region)
    except InvalidAddress as exc:
        where = (
            f" (read as a number of {region})" if region and not stripped.startswith("+") else ""
        )
        raise InvalidAddress(
            f"{exc}{where}; write it with + and the country code, like {example(region)}"
        ) from exc
