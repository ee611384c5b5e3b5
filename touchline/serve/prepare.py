"""``python -m touchline.serve.prepare``: the record's schema and the journeys, before the
API and the workers start. Run as a child with the stack's environment, so it reads the
same settings (database, journeys folder) they will."""

from __future__ import annotations

from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.journeys import journey_files, load_journeys
from touchline.journeys.store import publish


def main() -> None:
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    db.upgrade()
    loaded = load_journeys(
        journey_files(settings.journeys_dir), TemplateCatalog(settings.templates_dir)
    )
    with db.session() as session:
        for journey in loaded:
            result = publish(session, journey, SystemClock().now())
            print(f"journey {result.key} v{result.version}{' (new)' if result.created else ''}")
        session.commit()
    db.dispose()


if __name__ == "__main__":
    main()
