"""Deterministic identifiers.

An enrollment's id is derived from journey, customer and entry key; a touch's id from the
enrollment and the step. Whatever retries, replays or crashes happen, the same work gets the
same id, and the database's primary key refuses the duplicate.
"""

from __future__ import annotations

import hashlib
import uuid

_NAMESPACE = uuid.UUID("6f1c2a1e-3a55-4c0e-9f7e-7c1d0b7d2a11")


def _derive(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def enrollment_id(journey_key: str, customer_id: str, entry_key: str) -> str:
    return _derive("enrollment", journey_key, customer_id, entry_key)


def launch_id(journey_key: str, name: str) -> str:
    return _derive("launch", journey_key, name)


def touch_id(enrollment_id: str, step_id: str, visit: int = 1) -> str:
    if visit == 1:
        return _derive("touch", enrollment_id, step_id)
    return _derive("touch", enrollment_id, step_id, str(visit))


def interaction_id(*parts: str) -> str:
    """For outcomes of a touch (touch id + kind) and provider events (provider + event id)."""
    return _derive("interaction", *parts)


def fraction(*parts: str) -> float:
    """A number in [0, 1), fixed for these parts: the same customer lands in the same
    holdout group or split variant every time, on every worker."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
