"""The emulators behave like the real APIs, and their webhooks verify with the SDKs' own helpers."""

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qsl

import httpx
import pytest
from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from sandbox import SandboxClient, SandboxServer, ThreadedApp
from sandbox.signing import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
)
from tests.conftest import START

SID = "AC00000000000000000000000000000000"
TWILIO_AUTH = "Basic " + base64.b64encode(f"{SID}:sandbox-auth-token".encode()).decode()


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    """A webhook receiver that keeps what it is sent."""
    received: list[tuple[str, bytes, dict[str, str]]] = []

    async def keep(request: Request) -> Response:
        received.append((str(request.url), await request.body(), dict(request.headers)))
        return Response(status_code=200)

    with ThreadedApp() as server:
        server.start(Starlette(routes=[Route("/{path:path}", keep, methods=["POST"])]))
        yield server, received


def send_email(emulators: SandboxServer, to: str, touch: str) -> httpx.Response:
    body = {
        "personalizations": [{"to": [{"email": to}]}],
        "from": {"email": "hello@touchline.example"},
        "subject": "Hi",
        "content": [
            {"type": "text/plain", "value": "Hi"},
            {"type": "text/html", "value": '<a href="https://shop.example/x">x</a>'},
        ],
        "custom_args": {"touch_id": touch},
    }
    return httpx.post(
        f"{emulators.sendgrid_url}/v3/mail/send",
        json=body,
        headers={"Authorization": "Bearer SG.sandbox-key"},
    )


def test_sendgrid_events_are_posted_only_once_sandbox_time_reaches_them(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.configure(event_webhook_url=f"{server.url}/sendgrid")
    sandbox_client.engagement(open_rate_low=1.0, open_rate_high=1.0, click_given_open=1.0)
    sandbox_client.set_time(START)
    assert send_email(emulators, "ada@example.com", "t1").status_code == 202
    assert sandbox_client.set_time(START) == 1  # "processed" is immediate
    sandbox_client.set_time(START + timedelta(days=5))
    events = [e for _, body, _ in received for e in json.loads(body)]
    assert [e["event"] for e in events] == ["processed", "delivered", "open", "click"]
    assert all(e["touch_id"] == "t1" for e in events)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert events[-1]["url"] == "https://shop.example/x"


def test_sendgrid_events_verify_with_the_sdks_event_webhook_helper(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.configure(event_webhook_url=f"{server.url}/sendgrid")
    sandbox_client.set_time(START)
    send_email(emulators, "ada@example.com", "t1")
    sandbox_client.set_time(START + timedelta(days=5))
    helper = EventWebhook(sandbox_client.config()["event_webhook_public_key"])
    for _, body, headers in received:
        assert helper.verify_signature(
            body.decode(),
            headers[SENDGRID_SIGNATURE_HEADER.lower()],
            headers[SENDGRID_TIMESTAMP_HEADER.lower()],
        )
        assert not helper.verify_signature(
            body.decode() + " ",
            headers[SENDGRID_SIGNATURE_HEADER.lower()],
            headers[SENDGRID_TIMESTAMP_HEADER.lower()],
        )


def test_a_bouncing_mailbox_bounces(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.configure(event_webhook_url=f"{server.url}/sendgrid")
    sandbox_client.set_time(START)
    send_email(emulators, "bounce-1@bounce.example", "t1")
    sandbox_client.set_time(START + timedelta(days=1))
    kinds = [e["event"] for _, body, _ in received for e in json.loads(body)]
    assert kinds == ["processed", "bounce"]


def test_twilio_status_callbacks_verify_with_the_sdks_request_validator(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.set_time(START)
    callback = f"{server.url}/twilio/status?touch_id=t1"
    response = httpx.post(
        f"{emulators.twilio_url}/2010-04-01/Accounts/{SID}/Messages.json",
        data={
            "To": "+14155550100",
            "From": "+15005550006",
            "Body": "Hi",
            "StatusCallback": callback,
        },
        headers={"Authorization": TWILIO_AUTH},
    )
    assert response.status_code == 201 and response.json()["status"] == "queued"
    sandbox_client.set_time(START + timedelta(minutes=5))
    validator = RequestValidator("sandbox-auth-token")
    statuses = []
    for url, body, headers in received:
        params = dict(parse_qsl(body.decode()))
        assert url == callback
        assert validator.validate(url, params, headers[TWILIO_SIGNATURE_HEADER.lower()])
        statuses.append(params["MessageStatus"])
    assert statuses in (["sent", "delivered"], ["sent", "undelivered"])
    fetched = httpx.get(
        f"{emulators.twilio_url}/2010-04-01/Accounts/{SID}/Messages/{response.json()['sid']}.json",
        headers={"Authorization": TWILIO_AUTH},
    ).json()
    assert fetched["status"] == statuses[-1]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": {"email": "nope"}}, "from.email"),
        ({"subject": ""}, "subject"),
        (
            {
                "content": [
                    {"type": "text/html", "value": "x"},
                    {"type": "text/plain", "value": "x"},
                ]
            },
            "content",
        ),
        ({"personalizations": []}, "personalizations"),
        ({"headers": {"To": "x"}}, "headers.To"),
        ({"categories": [str(n) for n in range(11)]}, "categories"),
    ],
)
def test_sendgrid_validation_answers_with_sendgrids_error_shape(
    emulators: SandboxServer, change: dict, field: str
) -> None:
    body = {
        "personalizations": [{"to": [{"email": "a@example.com"}]}],
        "from": {"email": "hello@touchline.example"},
        "subject": "s",
        "content": [{"type": "text/plain", "value": "x"}],
    }
    body.update(change)
    response = httpx.post(
        f"{emulators.sendgrid_url}/v3/mail/send",
        json=body,
        headers={"Authorization": "Bearer SG.sandbox-key"},
    )
    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]


def test_each_port_answers_only_as_its_provider(emulators: SandboxServer) -> None:
    assert httpx.post(f"{emulators.twilio_url}/v3/mail/send", json={}).status_code == 404
    assert (
        httpx.post(
            f"{emulators.sendgrid_url}/2010-04-01/Accounts/{SID}/Messages.json", data={}
        ).status_code
        == 404
    )


def test_fault_plans_are_validated(sandbox_client: SandboxClient) -> None:
    with pytest.raises(ValueError, match="unknown fault settings: explode"):
        sandbox_client.faults("sendgrid", explode=True)
    with pytest.raises(ValueError, match="error_rate must be between 0 and 1"):
        sandbox_client.faults("twilio", error_rate=2)


def test_the_email_activity_api_finds_messages_by_custom_arg_and_is_rate_limited(
    emulators: SandboxServer,
) -> None:
    assert send_email(emulators, "a@example.com", "t1").status_code == 202
    assert send_email(emulators, "b@example.com", "t2").status_code == 202
    auth = {"Authorization": "Bearer SG.sandbox-key"}
    url = f"{emulators.sendgrid_url}/v3/messages"

    found = httpx.get(
        url, params={"query": "unique_args['touch_id']=\"t2\"", "limit": 10}, headers=auth
    )
    assert found.status_code == 200
    [message] = found.json()["messages"]
    assert message["to_email"] == "b@example.com" and message["subject"] == "Hi"
    assert message["msg_id"].split(".")[0] == emulators.sandbox.emails[1]["message_id"]
    both = httpx.get(
        url, params={"query": 'to_email="a@example.com" AND subject="Hi"'}, headers=auth
    )
    assert [m["to_email"] for m in both.json()["messages"]] == ["a@example.com"]

    bad = httpx.get(url, params={"query": "subject LIKE 'H%'"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "query"
    assert httpx.get(url, headers={}).status_code == 401
    # Six requests a minute, as documented; the seventh is told when to come back.
    for _ in range(3):
        httpx.get(url, headers=auth)
    limited = httpx.get(url, headers=auth)
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > 0


def test_twilio_lists_messages_by_recipient_and_day_sent(
    emulators: SandboxServer, sandbox_client: SandboxClient
) -> None:
    sandbox_client.set_time(START)
    base = f"{emulators.twilio_url}/2010-04-01/Accounts/{SID}/Messages.json"
    for to in ("+14155550101", "+14155550102"):
        created = httpx.post(
            base,
            data={"To": to, "From": "+15005550006", "Body": f"hello {to}"},
            headers={"Authorization": TWILIO_AUTH},
        )
        assert created.status_code == 201
    listed = httpx.get(
        base,
        params={"To": "+14155550102", "DateSent>": START.date().isoformat()},
        headers={"Authorization": TWILIO_AUTH},
    ).json()["messages"]
    assert [m["body"] for m in listed] == ["hello +14155550102"]
    later = httpx.get(
        base,
        params={"DateSent>": (START + timedelta(days=1)).date().isoformat()},
        headers={"Authorization": TWILIO_AUTH},
    ).json()["messages"]
    assert later == []
