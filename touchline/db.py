"""Engine, sessions, migrations and the few SQL idioms that differ between SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from touchline.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")


def json_text(value: Any) -> str:
    """JSON for the record's JSON columns, without NUL characters: PostgreSQL refuses
    ``\\u0000`` in JSON and text, and a genuine, signed provider webhook (a text message,
    an event's field) may carry one. Dropping it on both databases keeps them alike."""
    text = json.dumps(value)
    return json.dumps(_without_nul(value)) if "\\u0000" in text else text


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


class Database:
    """One database: its engine, a session factory, and its schema's migrations."""

    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"TOUCHLINE_DATABASE_URL uses '{self.dialect}'; Touchline runs on sqlite or postgresql"
            )
        kwargs: dict[str, Any] = {"echo": echo, "future": True, "json_serializer": json_text}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command

        command.upgrade(alembic_config(self.url), "head")

    def is_current(self) -> bool:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() == head

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (reports, the API) run while a worker writes; foreign keys are off
    # by default in SQLite and we rely on them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's ini interpolation treats % specially (URL-encoded passwords contain it).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def insert_ignoring_duplicates(
    session: Session,
    table: type[SQLModel] | Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict_columns: Sequence[str],
    returning: str | None = None,
) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike.

    Returns the ``returning`` column of the rows actually inserted (duplicates are
    silently skipped), which is how callers learn what was new.
    """
    if not rows:
        return []
    sa_table: Table = table if isinstance(table, Table) else table.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(sa_table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    if returning is None:
        session.execute(statement, list(rows))
        return []
    statement = statement.returning(sa_table.c[returning])
    inserted: list[Any] = []
    # RETURNING with executemany is supported by both dialects in SQLAlchemy 2; chunks keep
    # the statement below SQLite's variable limit.
    for start in range(0, len(rows), 500):
        result = session.execute(statement, list(rows[start : start + 500]))
        inserted.extend(result.scalars().all())
    return inserted


# Rows per IN (...) list. SQLite caps bound variables per statement (32,766 since 3.32,
# 999 before); keeping lists short also keeps PostgreSQL's plans predictable.
IN_LIST_SIZE = 900


def chunked(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def metadata() -> Any:
    import touchline.record  # noqa: F401  (registers every table on SQLModel.metadata)

    return SQLModel.metadata
