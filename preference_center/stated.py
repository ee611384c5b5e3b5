"""Changing what a customer stated: channel order, time zone, locale, quiet hours, their own
frequency limit. Only the fields given change; an explicit null clears one.

Stated preferences are not consent: they order and time messages the ledger already
allows, so they are kept as one row per customer (with its ``updated_at``), not a ledger.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from preference_center.ledger import customer_or_error
from preference_center.schemas import PreferencesIn
from touchline.record import Preference


def update_preferences(
    session: Session, customer_id: str, changes: PreferencesIn, at: datetime
) -> Preference:
    customer_or_error(session, customer_id)
    given = changes.model_fields_set
    pref = session.get(Preference, customer_id)
    if pref is None:
        pref = Preference(customer_id=customer_id, channel_order=[], updated_at=at)
        session.add(pref)
    if "channel_order" in given:
        pref.channel_order = list(changes.channel_order or [])
    if "timezone" in given:
        pref.timezone = changes.timezone
    if "locale" in given:
        pref.locale = changes.locale
    if "quiet_hours" in given:
        quiet = changes.quiet_hours
        pref.quiet_hours_start = quiet.start if quiet else None
        pref.quiet_hours_end = quiet.end if quiet else None
    if "max_per_week" in given:
        pref.max_per_week = changes.max_per_week
    pref.updated_at = at
    session.flush()
    return pref
