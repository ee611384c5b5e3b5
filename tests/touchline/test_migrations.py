"""The Alembic migrations build exactly the schema the models describe, and step down again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import touchline.record  # noqa: F401  (registers every table on the metadata)
from touchline.db import Database, alembic_config


def _differences(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        return compare_metadata(context, SQLModel.metadata)


def test_the_migrations_build_the_models_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    assert _differences(db) == []


def test_the_newest_migration_steps_down_and_up_again(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    config = alembic_config(db.url)
    command.downgrade(config, "-1")
    command.upgrade(config, "head")
    assert _differences(db) == []
