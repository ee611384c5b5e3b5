"""Checks a command makes before it starts anything long-lived."""

from __future__ import annotations

import typer

from touchline.cli.present import console
from touchline.config import Settings, check_production
from touchline.errors import ProductionSecretsError


def refuse_sandbox_secrets(settings: Settings, component: str) -> None:
    """Exit 1 naming every secret still at its sandbox value (production mode only)."""
    try:
        check_production(settings, component)
    except ProductionSecretsError as exc:
        console().print(f"[red]✗[/] {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc
