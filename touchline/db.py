"""Engine, sessions, migrations and the few SQL idioms that differ between SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from psycopg.types.json import Jsonb
from sqlalchemy import Engine, Table, create_engine, event, inspect, text
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
    if dialect == "postgresql" and (bulk := _columns_of(sa_table, rows)) is not None:
        if len(rows) >= COPY_MIN_ROWS:
            copied = _copy_insert(session, sa_table, rows, bulk, conflict_columns, returning)
            if copied is not None:
                return copied
        return _unnest_insert(session, sa_table, rows, bulk, conflict_columns, returning)
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


# From this many rows on, PostgreSQL gets them by binary COPY into a staging table: psycopg
# encodes arrays in Python, COPY rows in C (30,000 enrollments: 3.6 s as arrays, 1.3 s by
# COPY), which outweighs COPY's three extra round trips from a few dozen rows on.
COPY_MIN_ROWS = 200


def _columns_of(table: Table, rows: Sequence[dict[str, Any]]) -> list[Any] | None:
    """The columns the rows fill, if the PostgreSQL bulk forms may insert them: every row
    names the same columns, and none it leaves out has a Python-side default (those forms
    bypass SQLAlchemy's defaults; the portable form fills them)."""
    keys = rows[0].keys()
    if any(row.keys() != keys for row in rows):
        return None
    if any(c.default is not None and c.name not in keys for c in table.columns):
        return None
    return [table.c[key] for key in keys]


def _bound(session: Session, column: Any, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """A column's values as its type binds them (UTC datetimes, JSON), row by row."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    values = [row[column.name] for row in rows]
    return [process(v) for v in values] if process else values


def _unnest_insert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    columns: list[Any],
    conflict_columns: Sequence[str],
    returning: str | None,
) -> list[Any]:
    """PostgreSQL: the rows as one array per column, ``INSERT … SELECT FROM unnest(…)``.

    A multi-row ``VALUES`` list binds one parameter per cell: 500 rows of 18 columns is
    9,000 placeholders, which psycopg parses in Python on every execution (a statement
    that long is never cached) — 0.1 s per statement, most of a launch's time. With arrays
    the statement is short and the same whatever the number of rows: psycopg caches its
    parsing and, after a few runs, prepares it. One round trip per call."""
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    params = {f"c{i}": _bound(session, column, rows) for i, column in enumerate(columns)}
    casts = ", ".join(
        f"CAST(:c{i} AS {column.type.compile(dialect=dialect)}[])"
        for i, column in enumerate(columns)
    )
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
        f"SELECT * FROM unnest({casts}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict_columns)}) DO NOTHING"
    )
    if returning is None:
        session.execute(text(sql), params)
        return []
    sql += f" RETURNING {quote(table.c[returning].name)}"
    return list(session.execute(text(sql), params).scalars().all())


# Binary COPY encodes each value with the dumper of its column's type, not of its Python
# type: a value of another kind would fail inside the transaction, so the rows are checked
# first and anything unexpected takes the unnest path (which casts on the server).
_COPY_TYPES: dict[str, tuple[str, tuple[type, ...]]] = {
    "VARCHAR": ("varchar", (str,)),
    "INTEGER": ("int4", (int,)),
    "BOOLEAN": ("bool", (bool,)),
    "TIMESTAMP WITH TIME ZONE": ("timestamptz", (datetime,)),
    "JSONB": ("jsonb", (Jsonb,)),
}


def _copy_insert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    columns: list[Any],
    conflict_columns: Sequence[str],
    returning: str | None,
) -> list[Any] | None:
    """PostgreSQL, many rows: binary COPY into a temporary staging table of this connection
    (created once, emptied at every commit), then one ``INSERT … SELECT … ON CONFLICT DO
    NOTHING`` that also empties it. None when a value does not fit its column's binary form."""
    dialect = session.get_bind().dialect
    kinds = []
    for column in columns:
        kind = _COPY_TYPES.get(column.type.compile(dialect=dialect).split("(")[0])
        if kind is None:
            return None
        kinds.append(kind)
    values = [_bound(session, column, rows) for column in columns]
    for (_name, accepted), column_values in zip(kinds, values, strict=True):
        if not all(v is None or isinstance(v, accepted) for v in column_values):
            return None
        if accepted == (int,) and any(isinstance(v, bool) for v in column_values):
            return None
        if accepted == (datetime,) and any(
            v is not None and v.tzinfo is None for v in column_values
        ):
            return None  # timestamptz's binary form needs the zone; the server decides the rest
    quote = dialect.identifier_preparer.quote
    stage = quote(f"stage_{table.name}")
    names = ", ".join(quote(c.name) for c in columns)
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        # The table's columns without its constraints (NOT NULL of a serial id the INSERT
        # fills); ON COMMIT DELETE ROWS: a committed or rolled-back batch leaves nothing.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
            f"AS SELECT * FROM {quote(table.name)} WITH NO DATA"
        )
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([name for name, _accepted in kinds])
            for row in zip(*values, strict=True):
                copy.write_row(row)
    sql = (
        f"WITH staged AS (DELETE FROM {stage} RETURNING {names}) "
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM staged "
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict_columns)}) DO NOTHING"
    )
    if returning is None:
        session.execute(text(sql))
        return []
    sql += f" RETURNING {quote(table.c[returning].name)}"
    return list(session.execute(text(sql)).scalars().all())


# Rows per IN (...) list. SQLite caps bound variables per statement (32,766 since 3.32,
# 999 before); keeping lists short also keeps PostgreSQL's plans predictable.
IN_LIST_SIZE = 900


def chunked(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def metadata() -> Any:
    import touchline.record  # noqa: F401  (registers every table on SQLModel.metadata)

    return SQLModel.metadata
