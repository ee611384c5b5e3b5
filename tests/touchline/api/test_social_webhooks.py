"""X's Account Activity webhook through Touchline's HTTP API: the CRC challenge answered as
X specifies, signed DMs and mentions from linked handles into the record and the journeys,
everything else refused or left alone. Payloads are written here as X documents them and
signed here, independently of the sandbox and of the verifier."""

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.intake.ingest import ingest
from touchline.record import Customer, Enrollment, Event, Identity, Interaction

OURS = "1000000000000000001"
ADA_ID = "2244994945"


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock
) -> Iterator[httpx.Client]:
    api_server.start(create_app(settings, db, clock))
    report = ingest(db, [(1, {
        "id": "signup-ada", "type": "customer.signed_up", "customer_id": "ada",
        "occurred_at": START.isoformat(), "profile": {"email": "ada@example.com",
                                                      "x_handle": "@Ada_Lovelace"},
    })], now=START, source="signup_form", settings=settings)  # fmt: skip
    assert report.accepted == ["signup-ada"]
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


def sign(secret: str, body: bytes) -> str:
    return (
        "sha256="
        + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    )


def dm(event_id: str, text: str, sender: str = ADA_ID, handle: str = "Ada_Lovelace") -> dict:
    return {
        "for_user_id": OURS,
        "direct_message_events": [{
            "type": "message_create", "id": event_id, "created_timestamp": "1795442400000",
            "message_create": {"target": {"recipient_id": OURS if sender != OURS else ADA_ID},
                               "sender_id": sender, "message_data": {"text": text, "entities": {}}},
        }],
        "users": {sender: {"id": sender, "screen_name": handle, "name": handle},
                  OURS: {"id": OURS, "screen_name": "touchline", "name": "Touchline"}},
    }  # fmt: skip


def mention(tweet_id: str, text: str, handle: str = "Ada_Lovelace", author: str = ADA_ID) -> dict:
    return {
        "for_user_id": OURS,
        "tweet_create_events": [{
            "created_at": "Mon Nov 23 14:00:00 +0000 2026", "id": int(tweet_id), "id_str": tweet_id,
            "text": text, "user": {"id": int(author), "id_str": author, "screen_name": handle},
            "entities": {"user_mentions": [{"screen_name": "touchline", "id": int(OURS),
                                            "id_str": OURS, "indices": [0, 10]}]},
        }],
    }  # fmt: skip


def post(
    api: httpx.Client, settings: Settings, payload: dict, signature: str | None = None
) -> httpx.Response:
    body = json.dumps(payload).encode()
    secret = settings.x_consumer_secret.get_secret_value()
    headers = {"content-type": "application/json"}
    if signature != "":
        headers["x-twitter-webhooks-signature"] = signature or sign(secret, body)
    return api.post("/webhooks/x", content=body, headers=headers)


def count(db: Database, table: type, *where: object) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def stored(db: Database) -> tuple[int, int, int, int]:
    return (count(db, Customer), count(db, Identity), count(db, Interaction), count(db, Event))


def test_the_crc_challenge_is_answered_as_x_specifies(
    api: httpx.Client, settings: Settings
) -> None:
    token = "9b4507b3-9040-4669-9ec1-9a2a1b5c5c5a"
    response = api.get("/webhooks/x", params={"crc_token": token})
    assert response.status_code == 200
    expected = base64.b64encode(
        hmac.new(b"sandbox-consumer-secret", token.encode(), hashlib.sha256).digest()
    ).decode()
    assert response.json() == {"response_token": f"sha256={expected}"}
    assert api.get("/webhooks/x").status_code == 422  # no challenge, no answer


def test_a_signed_dm_from_a_linked_handle_is_an_interaction_and_an_event(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    response = post(api, settings, dm("1582838499983564806", "My parcel never came."))
    assert response.status_code == 200
    assert response.json() == {"recorded": 1, "duplicates": 0, "unmatched": 0}
    with db.session() as session:
        [row] = session.execute(select(Interaction).where(Interaction.channel == "x")).scalars()
        [event] = session.execute(
            select(Event).where(Event.type == "social.message_received")
        ).scalars()
    assert (row.customer_id, row.kind, row.touch_id, row.provider_message_id) == (
        "ada", "received", None, "1582838499983564806",
    )  # fmt: skip
    assert row.detail["text"] == "My parcel never came." and row.detail["kind"] == "dm"
    assert event.customer_id == "ada"
    assert event.payload == {
        "text": "My parcel never came.", "kind": "dm", "handle": "ada_lovelace",
        "x_event_id": "1582838499983564806", "replied_to_touch": None,
    }  # fmt: skip


def test_a_signed_mention_from_a_linked_handle_starts_service_recovery(
    api: httpx.Client, settings: Settings, db: Database, published: None
) -> None:
    text = "@touchline three weeks and still no refund. Terrible."
    response = post(api, settings, mention("1850000000000000001", text))
    assert response.json() == {"recorded": 1, "duplicates": 0, "unmatched": 0}
    with db.session() as session:
        [event] = session.execute(
            select(Event).where(Event.type == "social.message_received")
        ).scalars()
        [row] = session.execute(select(Interaction).where(Interaction.channel == "x")).scalars()
    assert (event.payload["kind"], event.payload["text"]) == ("mention", text)
    assert (row.kind, row.detail["kind"]) == ("received", "mention")
    with db.session() as session:
        journeys = session.execute(select(Enrollment.journey_key)).scalars().all()
    assert "service_recovery" in journeys


def test_a_delivery_x_repeats_is_recorded_once(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    payload = dm("1582838499983564807", "Hello?")
    first = post(api, settings, payload)
    again = post(api, settings, payload)
    assert first.json()["recorded"] == 1
    assert again.json() == {"recorded": 0, "duplicates": 1, "unmatched": 0}
    assert count(db, Interaction, Interaction.channel == "x") == 1
    assert count(db, Event, Event.type == "social.message_received") == 1


@pytest.mark.parametrize("how", ["tampered", "other key", "unsigned", "malformed header"])
def test_unsigned_or_tampered_deliveries_are_refused_and_stored_nowhere(
    api: httpx.Client, settings: Settings, db: Database, how: str
) -> None:
    before = stored(db)
    payload = dm("1582838499983564808", "STOP everything")
    body = json.dumps(payload).encode()
    signature = {
        "tampered": sign("sandbox-consumer-secret", body.replace(b"STOP", b"stop")),
        "other key": sign("someone-elses-secret", body),
        "unsigned": "",
        "malformed header": "sha1=abc",
    }[how]
    response = post(api, settings, payload, signature=signature)
    assert response.status_code == 403
    assert stored(db) == before


def test_an_unknown_handle_links_nothing(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    before = stored(db)
    response = post(api, settings, mention("1850000000000000002", "@touchline hi",
                                           handle="stranger", author="999"))  # fmt: skip
    assert response.json() == {"recorded": 0, "duplicates": 0, "unmatched": 1}
    assert stored(db) == before  # no customer made up, no link, nothing recorded


def test_our_own_dms_and_tweets_echoed_back_are_not_customer_messages(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    ours = dm("1582838499983564809", "Sorry about that!", sender=OURS, handle="touchline")
    tweet = mention("1850000000000000003", "@touchline we are live", handle="touchline",
                    author=OURS)  # fmt: skip
    for payload in (ours, tweet):
        assert post(api, settings, payload).json() == {
            "recorded": 0, "duplicates": 0, "unmatched": 0,
        }  # fmt: skip
    assert count(db, Interaction, Interaction.channel == "x") == 0


def test_a_signed_payload_we_cannot_read_is_a_400(
    api: httpx.Client, settings: Settings, db: Database
) -> None:
    response = post(api, settings, {"direct_message_events": []})  # no for_user_id
    assert response.status_code == 400
    broken = dm("1582838499983564810", "x")
    del broken["direct_message_events"][0]["message_create"]["sender_id"]
    assert post(api, settings, broken).status_code == 400
    assert count(db, Interaction, Interaction.channel == "x") == 0
