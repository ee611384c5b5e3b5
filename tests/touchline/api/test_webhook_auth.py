"""The one signed-webhook dependency, seen from outside on every signed route: a request
that fails its signature answers 403 with the same body everywhere and a log line; a signed
payload the parser cannot read answers 400 with the parser's own reason; neither stores
anything."""

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select

from channels.webhooks import (
    WebhookPayloadError,
    sendgrid_events,
    twilio_inbound,
    twilio_status,
    x_activity,
)
from sandbox import SandboxServer, ThreadedApp
from sandbox.signing import SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER, twilio_signature
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.record import Interaction

# A signed request: (path, body, headers), built for the route's own signature scheme.
Signed = tuple[str, bytes, dict[str, str]]


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock
) -> Iterator[httpx.Client]:
    api_server.start(create_app(settings, db, clock))
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


def _sendgrid(emulators: SandboxServer, settings: Settings, body: bytes) -> Signed:
    stamp = str(int(START.timestamp()))
    return "/webhooks/sendgrid/events", body, {
        SENDGRID_TIMESTAMP_HEADER: stamp,
        SENDGRID_SIGNATURE_HEADER: emulators.sandbox.signer.sign(body, stamp),
        "Content-Type": "application/json",
    }  # fmt: skip


def _twilio(settings: Settings, path: str, params: dict[str, str]) -> Signed:
    url = f"{settings.public_url}{path}"
    signature = twilio_signature(settings.twilio_auth_token.get_secret_value(), url, params)
    body = urlencode(params).encode()
    return path, body, {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }  # fmt: skip


def _x(settings: Settings, body: bytes) -> Signed:
    secret = settings.x_consumer_secret.get_secret_value()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "/webhooks/x", body, {
        "X-Twitter-Webhooks-Signature": "sha256=" + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }  # fmt: skip


# Per route: the refusal's log line, a signed payload its parser rejects, and that parser.
ROUTES: dict[str, tuple[str, Callable[[SandboxServer, Settings], Signed], Callable[[], object]]] = {
    "sendgrid": (
        "refused a SendGrid webhook",
        lambda e, s: _sendgrid(e, s, b'{"not": "a list"}'),
        lambda: sendgrid_events.parse(b'{"not": "a list"}'),
    ),
    "twilio status": (
        "refused a Twilio webhook",
        lambda e, s: _twilio(s, "/webhooks/twilio/status", {"MessageSid": "SM1"}),
        lambda: twilio_status.parse_status("u", {"MessageSid": "SM1"}),
    ),
    "twilio inbound": (
        "refused a Twilio inbound message",
        lambda e, s: _twilio(s, "/webhooks/twilio/inbound", {"MessageSid": "SM1", "Body": "hi"}),
        lambda: twilio_inbound.parse_inbound({"MessageSid": "SM1", "Body": "hi"}),
    ),
    "x": (
        "refused an X webhook",
        lambda e, s: _x(s, json.dumps({"direct_message_events": []}).encode()),
        lambda: x_activity.parse(json.dumps({"direct_message_events": []}).encode()),
    ),
}


def stored(db: Database) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(Interaction)).scalar_one()


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_bad_signature_is_403_with_one_body_and_a_log_line(
    api: httpx.Client,
    settings: Settings,
    emulators: SandboxServer,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    route: str,
) -> None:
    refused, build, _ = ROUTES[route]
    path, body, headers = build(emulators, settings)
    caplog.set_level(logging.WARNING, logger="touchline.api.webhook_auth")
    tampered = api.post(path, content=body + b" ", headers=headers)
    unsigned = api.post(path, content=body, headers={"Content-Type": headers["Content-Type"]})
    for response in (tampered, unsigned):
        assert response.status_code == 403
        assert response.json() == {"detail": "signature verification failed"}
    assert sum(r.getMessage().startswith(refused + ": ") for r in caplog.records) == 2
    assert stored(db) == 0


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_signed_payload_the_parser_rejects_is_400_with_its_reason(
    api: httpx.Client, settings: Settings, emulators: SandboxServer, db: Database, route: str
) -> None:
    _, build, parse = ROUTES[route]
    with pytest.raises(WebhookPayloadError) as reason:
        parse()
    path, body, headers = build(emulators, settings)
    response = api.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": str(reason.value)}
    assert stored(db) == 0
