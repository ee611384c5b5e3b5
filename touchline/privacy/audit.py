"""Writing the privacy audit (touchline.record.privacy): one row per erasure or export."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from touchline.config import Settings
from touchline.privacy.keys import keyed_hash
from touchline.record import PrivacyAudit

CUSTOMER_KIND = "customer_id"  # the kind under which customer ids are hashed


def customer_key(settings: Settings, customer_id: str) -> str:
    return keyed_hash(settings, CUSTOMER_KIND, customer_id)


def audit(
    session: Session,
    settings: Settings,
    *,
    action: str,
    customer_id: str,
    actor: str,
    via: str,
    at: datetime,
    counts: Mapping[str, Any],
) -> PrivacyAudit:
    row = PrivacyAudit(
        action=action,
        customer_key=customer_key(settings, customer_id),
        actor=actor[:128] or "unknown",
        via=via[:16],
        at=at,
        counts=dict(counts),
    )
    session.add(row)
    session.flush()
    return row
