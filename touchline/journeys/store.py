"""Published journey versions.

Publishing a definition whose content changed creates the next version; publishing the same
content again does nothing. New enrollments take the newest version; an enrollment keeps
the version it entered with until it ends.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from touchline.errors import JourneyNotFoundError
from touchline.journeys.loader import LoadedJourney
from touchline.journeys.model import JourneyDefinition
from touchline.record import Journey


@dataclass(frozen=True)
class Published:
    key: str
    version: int
    journey_id: int
    created: bool


def digest(definition: JourneyDefinition) -> str:
    canonical = json.dumps(definition.to_record(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def publish(session: Session, loaded: LoadedJourney, now: datetime) -> Published:
    definition = loaded.definition
    new_digest = digest(definition)
    latest = session.execute(
        select(Journey)
        .where(Journey.key == definition.key)
        .order_by(Journey.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is not None and latest.digest == new_digest:
        return Published(definition.key, latest.version, latest.id, created=False)  # type: ignore[arg-type]
    row = Journey(
        key=definition.key,
        version=(latest.version + 1) if latest else 1,
        name=definition.name,
        definition=definition.to_record(),
        digest=new_digest,
        source_path=str(loaded.source),
        published_at=now,
    )
    session.add(row)
    session.flush()
    return Published(row.key, row.version, row.id, created=True)  # type: ignore[arg-type]


def live_versions(session: Session) -> list[Journey]:
    """The newest version of every journey: the ones new events enroll into."""
    newest = (
        select(Journey.key, func.max(Journey.version).label("version"))
        .group_by(Journey.key)
        .subquery()
    )
    return list(
        session.execute(
            select(Journey).join(
                newest, (Journey.key == newest.c.key) & (Journey.version == newest.c.version)
            )
        ).scalars()
    )


def find_version(session: Session, key: str, version: int | None = None) -> Journey:
    query = select(Journey).where(Journey.key == key)
    query = (
        query.where(Journey.version == version)
        if version is not None
        else query.order_by(Journey.version.desc()).limit(1)
    )
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        suffix = f" version {version}" if version is not None else ""
        raise JourneyNotFoundError(f"journey '{key}'{suffix} is not published")
    return row


class DefinitionCache:
    """Parsed definitions by journey row id; versions never change, so entries never expire."""

    def __init__(self) -> None:
        self._by_id: dict[int, JourneyDefinition] = {}
        self._lock = Lock()

    def get(self, session: Session, journey_id: int) -> JourneyDefinition:
        with self._lock:
            cached = self._by_id.get(journey_id)
        if cached is not None:
            return cached
        row = session.get(Journey, journey_id)
        if row is None:
            raise JourneyNotFoundError(f"journey id {journey_id} is not published")
        definition = JourneyDefinition.model_validate(row.definition)
        with self._lock:
            self._by_id[journey_id] = definition
        return definition

    def put(self, journey_id: int, definition: JourneyDefinition) -> None:
        with self._lock:
            self._by_id[journey_id] = definition
