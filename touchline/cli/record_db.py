"""The record's database for a command: migrated, or a plain sentence saying what to run.

The embedded default (SQLite under ``TOUCHLINE_HOME``) is ours: a command that needs it
creates or migrates it on the spot, as ``touchline db upgrade`` would. A database someone
configured (``TOUCHLINE_DATABASE_URL``) is theirs: we do not change its schema behind their
back, we say ``run `touchline db upgrade```.
"""

from __future__ import annotations

import typer
from sqlalchemy.exc import SQLAlchemyError

from touchline.cli.present import console
from touchline.config import Settings, get_settings
from touchline.db import Database


def open_record(settings: Settings | None = None) -> Database:
    """A database at the newest schema, or exit 2 with what to do (never a traceback)."""
    settings = settings or get_settings()
    url = settings.resolved_database_url
    embedded = not settings.database_url
    if embedded:
        settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(url)
    try:
        if db.is_current():
            return db
        if embedded:
            db.upgrade()
            return db
    except SQLAlchemyError as exc:
        console().print(
            f"[red]✗[/] cannot open the record's database ({type(exc).__name__}: "
            f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}); "
            "check TOUCHLINE_DATABASE_URL"
        )
        raise typer.Exit(2) from None
    console().print(
        "[red]✗[/] the record's database is not at the newest schema (a new database, or "
        "Touchline was upgraded): run `touchline db upgrade`"
    )
    raise typer.Exit(2)
