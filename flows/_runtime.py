"""What every flow needs once per process: settings, database, engine."""

from __future__ import annotations

from functools import lru_cache

from touchline.config import check_production, get_settings
from touchline.db import Database
from touchline.engine import Engine


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    settings = get_settings()
    check_production(settings, "the flows")
    return Engine.from_settings(settings, Database(url))


def engine() -> Engine:
    """One engine (and connection pool, and provider clients) per database per process."""
    return _engine_for(get_settings().resolved_database_url)


def reset() -> None:
    """Forget cached engines (tests switch databases between runs)."""
    _engine_for.cache_clear()
