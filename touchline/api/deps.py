"""What the API's routes share: settings, database, clock — set once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from touchline.clock import Clock
from touchline.config import Settings
from touchline.db import Database


@dataclass
class ApiState:
    settings: Settings
    db: Database
    clock: Clock
    sendgrid_public_key: str


def state(request: Request) -> ApiState:
    return request.app.state.touchline


def sendgrid_public_key(settings: Settings) -> str:
    """The configured key, or the sandbox emulator's (written where the sandbox keeps state)."""
    if settings.sendgrid_webhook_public_key:
        return settings.sendgrid_webhook_public_key
    path = Path(settings.sandbox_dir) / "sendgrid_event_webhook_public_key"
    return path.read_text().strip() if path.exists() else ""
