"""Chaos: a few hundred touches through the engine while the providers misbehave.

A fifth of requests fail transiently (503s, 500s, timeouts that the provider processes
anyway), and each provider opens with a burst of 429s. However often the engine runs, every
touch must end ``sent`` or ``failed`` with its reason, and no message may reach a provider
twice — checked against the emulators' own count of accepted requests per touch id.
"""

import json
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from sandbox import SandboxClient, SandboxServer
from tests.conftest import START
from touchline.config import PROJECT_ROOT, Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import BatchReport, Engine, advance_next_batch
from touchline.intake import ingest
from touchline.journeys.loader import LoadedJourney, parse_journey
from touchline.journeys.store import publish
from touchline.record import Interaction, Touch
from touchline.record.touches import FAILED, SENT

JOURNEY = """key: flash_sale
name: Flash sale
purpose: marketing
trigger: {event: flash_sale.started}
reentry: once
steps:
  - {id: announce, type: send, channel: preferred, template: cart/reminder}
"""
CART = {
    "total": 42.5,
    "currency": "USD",
    "url": "https://shop.example/cart/1",
    "items": [{"name": "Wool socks", "price": 42.5}],
}
CONFIRMED = {"confirmed_at": "2026-11-01T09:00:00Z", "method": "one-time code"}
PROVIDER = {"email": "sendgrid", "sms": "twilio"}
# Requests that stall on the provider's side go on being processed after the client gave
# up; the next run must not look for them before they land.
STALL_MS, CLIENT_TIMEOUT = 1500, 1.0


def customers(first: int, count: int, order: str | None = None) -> list[tuple[int, str]]:
    events = []
    for n in range(first, first + count):
        channel_order = order or ("email" if n % 2 else "sms")
        events.append(
            {
                "id": f"flash-{n}",
                "type": "flash_sale.started",
                "customer_id": f"f{n:04d}",
                "occurred_at": (START - timedelta(minutes=1)).isoformat(),
                "payload": {"cart": CART},
                "profile": {
                    "email": f"f{n}@example.com",
                    "phone": f"+1415555{n:04d}",
                    "attributes": {"first_name": "Ada"},
                },
                # 09:00 in New York: outside SMS quiet hours
                "preferences": {
                    "timezone": "America/New_York",
                    "channel_order": [
                        channel_order,
                        "sms" if channel_order == "email" else "email",
                    ],
                },
                "consents": [
                    {"channel": "email", "status": "granted"},
                    {"channel": "sms", "status": "granted", "evidence": CONFIRMED},
                ],
            }
        )
    return [(n, json.dumps(e)) for n, e in enumerate(events, 1)]


def run_until_settled(engine: Engine, now: datetime, runs: int = 30) -> tuple[datetime, int]:
    """Advance runs until nothing is due any more; each later run comes after the retry
    delay, as the scheduled flow would. Returns the time reached and the runs made."""
    for run in range(1, runs + 1):
        report = BatchReport()
        while (batch := advance_next_batch(engine, now)).claimed:
            report.merge(batch)
        if report.claimed == 0:
            return now, run - 1
        time.sleep(STALL_MS / 1000 - CLIENT_TIMEOUT)
        now += timedelta(seconds=engine.settings.dispatch_retry_later + 1)
    raise AssertionError(f"touches still pending after {runs} runs")


def outcomes(db: Database) -> dict[str, tuple[str, str, dict]]:
    """touch id -> (channel, outcome kind, detail), for terminal outcomes."""
    with db.session() as session:
        rows = session.execute(
            select(Touch.id, Touch.channel, Interaction.kind, Interaction.detail)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Interaction.kind.in_([SENT, FAILED, "skipped"]))
        ).all()
    found: dict[str, tuple[str, str, dict]] = {}
    for touch, channel, kind, detail in rows:
        assert touch not in found, f"{touch} has two outcomes"
        found[touch] = (channel, kind, detail)
    return found


@pytest.fixture
def chaos_engine(
    settings: Settings,
    db: Database,
    catalog: TemplateCatalog,
    emulators: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Engine:
    with db.session() as session:
        definition = parse_journey(JOURNEY, "flash_sale.yaml", catalog)
        publish(session, LoadedJourney(definition, PROJECT_ROOT / "flash_sale.yaml"), START)
        session.commit()
    # SendGrid answers 6 activity lookups a minute; this test packs hours of runs into
    # seconds of wall time, so the minute is made roomier (the limit itself is tested with
    # the channel).
    monkeypatch.setattr(emulators.sandbox.config, "activity_requests_per_minute", 600)
    engine = Engine.from_settings(
        settings.model_copy(
            update={
                "provider_timeout": CLIENT_TIMEOUT,
                "batch_size": 100,
                "dispatch_max_retry_runs": 3,
            }
        ),
        db,
    )
    yield engine  # type: ignore[misc]
    engine.close()


def test_under_faults_every_touch_ends_sent_or_failed_and_none_is_sent_twice(
    chaos_engine: Engine, db: Database, sandbox_client: SandboxClient, emulators: SandboxServer
) -> None:
    began = time.monotonic()
    report = ingest(db, customers(1, 300), now=START, source="test")
    assert not report.rejected, report.rejected
    for provider, status, seed in (("sendgrid", 503, 1), ("twilio", 500, 2)):
        sandbox_client.faults(
            provider,
            error_rate=0.18,
            error_status=status,
            timeout_rate=0.03,
            timeout_ms=STALL_MS,
            burst_429=15,
            seed=seed,
        )

    now, runs = run_until_settled(chaos_engine, START)

    stats = sandbox_client.stats()
    injected = stats["faults_injected"]
    for provider in ("sendgrid", "twilio"):
        assert injected[provider]["429"] == 15
        assert injected[provider]["error"] > 20 and injected[provider]["timeout"] > 0
    assert runs >= 2  # timeouts and exhausted retries were left to later runs

    found = outcomes(db)
    assert len(found) == 300
    accepted = emulators.sandbox.accepted_by_touch
    assert not stats["duplicate_touches"]
    for touch, (channel, kind, detail) in found.items():
        assert kind in (SENT, FAILED), (touch, kind, detail)
        times = accepted.get((PROVIDER[channel], touch), 0)
        if kind == SENT:
            assert times == 1, (touch, channel, times)
        else:
            assert times == 0 and detail["reason"], (touch, detail)
    assert sum(accepted.values()) == sum(1 for _, kind, _ in found.values() if kind == SENT)
    sent = {c: sum(1 for ch, k, _ in found.values() if ch == c and k == SENT) for c in PROVIDER}
    assert sent["email"] > 140 and sent["sms"] > 140
    # Some went out only after a later run asked the provider about a timed-out request.
    assert any(d.get("reconciled") for _, k, d in found.values() if k == SENT)

    # A provider that keeps failing: after its quick retries and its later runs, the touch
    # fails, and the record says why.
    sandbox_client.faults("sendgrid", error_rate=1.0, error_status=503)
    ingest(db, customers(301, 5, order="email"), now=now, source="test")
    run_until_settled(chaos_engine, now)
    failed = {t: d for t, (ch, k, d) in outcomes(db).items() if k == FAILED and ch == "email"}
    late = [d for d in failed.values() if d.get("code") is None and "503" in d["reason"]]
    assert len(late) >= 5
    for detail in late[-5:]:
        assert detail["reason"] == "sendgrid 503: service unavailable"
        assert detail["attempts"] == chaos_engine.settings.dispatch_max_attempts
        assert detail["permanent"] is False
    assert not sandbox_client.stats()["duplicate_touches"]
    assert time.monotonic() - began < 45  # ~8 s on an idle machine
