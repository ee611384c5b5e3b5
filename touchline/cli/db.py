"""touchline db: the interaction record's schema."""

from __future__ import annotations

import typer

from touchline.cli.present import console
from touchline.config import get_settings
from touchline.db import Database

app = typer.Typer(help="The interaction record's database.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Create or migrate the schema to the newest version (Alembic)."""
    url = get_settings().resolved_database_url
    Database(url).upgrade()
    console().print(f"[green]schema is current[/] at {_safe(url)}")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
