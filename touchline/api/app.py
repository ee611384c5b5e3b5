"""Touchline's HTTP API (FastAPI; OpenAPI docs at /docs)."""

from __future__ import annotations

from fastapi import FastAPI

from touchline.api import (
    customers,
    events,
    preference_page,
    preferences,
    social_webhooks,
    timeline,
    unsubscribe,
    webhooks,
)
from touchline.api.deps import ApiState, sendgrid_public_key
from touchline.api.errors import install_error_handlers
from touchline.api.guard import RequestGuard
from touchline.clock import Clock, SystemClock
from touchline.config import Settings, check_production, get_settings
from touchline.db import Database


def create_app(
    settings: Settings | None = None, db: Database | None = None, clock: Clock | None = None
) -> FastAPI:
    settings = settings or get_settings()
    # Before anything listens: production with a sandbox secret would accept forged input.
    check_production(settings, "the API")
    app = FastAPI(
        title="Touchline",
        version="0.1.0",
        description="Provider webhooks, the customer's own pages (signed links) and the "
        "operator API for preferences, consent and identities.",
    )
    app.state.touchline = ApiState(
        settings=settings,
        db=db or Database(settings.resolved_database_url),
        clock=clock or SystemClock(),
        sendgrid_public_key=sendgrid_public_key(settings),
    )
    app.include_router(webhooks.router)
    app.include_router(social_webhooks.router)
    app.include_router(unsubscribe.router)
    app.include_router(preferences.router)
    app.include_router(preference_page.router)
    app.include_router(timeline.router)
    app.include_router(events.router)
    app.include_router(customers.router)
    from touchline.api import journeys

    app.include_router(journeys.router)
    install_error_handlers(app)
    # Outermost of ours: sizes, depth and NUL are refused before any route reads a byte.
    app.add_middleware(RequestGuard, settings=settings)

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
