"""Provider webhooks through Touchline's HTTP API, signed the way the providers sign them."""

import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from sandbox import SandboxServer, ThreadedApp
from sandbox.signing import SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER, twilio_signature
from tests.conftest import START
from touchline import ids
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings
from touchline.db import Database
from touchline.record import Consent, Customer, Enrollment, Interaction, Journey, Touch


@pytest.fixture
def api(
    settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock
) -> httpx.Client:
    api_server.start(create_app(settings, db, clock))
    with httpx.Client(base_url=api_server.url, timeout=10) as client:
        yield client


@pytest.fixture
def touch(db: Database) -> str:
    """One sent email touch and one SMS touch for customer c1."""
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=START, updated_at=START))
        session.add(
            Journey(
                key="welcome", version=1, name="W", definition={}, digest="x", published_at=START
            )
        )
        session.flush()
        session.add(
            Enrollment(
                id="e1",
                journey_id=1,
                journey_key="welcome",
                journey_version=1,
                customer_id="c1",
                trigger_at=START,
                entered_at=START,
                updated_at=START,
                context={},
            )
        )
        session.flush()
        for step, channel in (("welcome_email", "email"), ("nudge_sms", "sms")):
            tid = ids.touch_id("e1", step)
            session.add(
                Touch(
                    id=tid,
                    enrollment_id="e1",
                    customer_id="c1",
                    journey_key="welcome",
                    journey_version=1,
                    step_id=step,
                    purpose="marketing",
                    channel=channel,
                    decision={},
                    scheduled_for=START,
                    created_at=START,
                )
            )
            session.flush()
            session.add(Interaction(id=ids.interaction_id(tid, "outcome"), touch_id=tid, customer_id="c1", kind="sent", channel=channel, provider="sendgrid" if channel == "email" else "twilio",
                                    provider_message_id="MSGID123" if channel == "email" else "SM" + "0" * 32, occurred_at=START, recorded_at=START, detail={}))  # fmt: skip
    return ids.touch_id("e1", "welcome_email")


def signed(
    emulators: SandboxServer, events: list[dict], timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    # The API's clock is the test's ManualClock, at START: a signature is fresh against it.
    stamp = str(timestamp or int(START.timestamp()))
    return body, {
        SENDGRID_TIMESTAMP_HEADER: stamp,
        SENDGRID_SIGNATURE_HEADER: emulators.sandbox.signer.sign(body, stamp),
        "Content-Type": "application/json",
    }


def sendgrid_event(kind: str, event_id: str, touch_id: str | None) -> dict:
    event = {
        "email": "ada@example.com",
        "timestamp": int((START + timedelta(hours=1)).timestamp()),
        "event": kind,
        "sg_event_id": event_id,
        "sg_message_id": "MSGID123.filterdrecv-1-0",
    }
    if touch_id:
        event["touch_id"] = touch_id
    return event


def interactions(db: Database, kind: str) -> int:
    with db.session() as session:
        return session.execute(
            select(func.count()).select_from(Interaction).where(Interaction.kind == kind)
        ).scalar_one()


def test_signed_sendgrid_events_become_interactions(
    api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    body, headers = signed(
        emulators, [sendgrid_event("delivered", "ev1", touch), sendgrid_event("open", "ev2", touch)]
    )
    response = api.post("/webhooks/sendgrid/events", content=body, headers=headers)
    assert response.status_code == 200 and response.json() == {
        "recorded": 2,
        "duplicates": 0,
        "unmatched": 0,
    }
    with db.session() as session:
        opened = session.execute(
            select(Interaction).where(Interaction.kind == "opened")
        ).scalar_one()
        assert (opened.touch_id, opened.channel, opened.occurred_at) == (
            touch,
            "email",
            START + timedelta(hours=1),
        )


def test_an_event_without_our_touch_id_is_matched_by_message_id(
    api: httpx.Client, emulators: SandboxServer, touch: str
) -> None:
    body, headers = signed(emulators, [sendgrid_event("click", "ev9", None)])
    assert (
        api.post("/webhooks/sendgrid/events", content=body, headers=headers).json()["recorded"] == 1
    )


def test_a_duplicated_webhook_is_recorded_once(
    api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    body, headers = signed(
        emulators, [sendgrid_event("open", "ev1", touch), sendgrid_event("open", "ev1", touch)]
    )
    assert api.post("/webhooks/sendgrid/events", content=body, headers=headers).json() == {
        "recorded": 1,
        "duplicates": 1,
        "unmatched": 0,
    }
    assert api.post("/webhooks/sendgrid/events", content=body, headers=headers).json() == {
        "recorded": 0,
        "duplicates": 2,
        "unmatched": 0,
    }
    assert interactions(db, "opened") == 1


@pytest.mark.parametrize("tamper", ["body", "signature", "missing", "stale"])
def test_an_unsigned_or_tampered_sendgrid_webhook_is_refused_and_stored_nowhere(
    tamper: str, api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    events = [sendgrid_event("open", "ev1", touch)]
    body, headers = signed(
        emulators,
        events,
        timestamp=int(START.timestamp()) - 3 * 86400 if tamper == "stale" else None,
    )
    if tamper == "body":
        body = body.replace(b'"open"', b'"click"')
    elif tamper == "signature":
        headers[SENDGRID_SIGNATURE_HEADER] = signed(
            emulators, [sendgrid_event("click", "ev1", touch)]
        )[1][SENDGRID_SIGNATURE_HEADER]
    elif tamper == "missing":
        headers = {"Content-Type": "application/json"}
    response = api.post("/webhooks/sendgrid/events", content=body, headers=headers)
    assert response.status_code == 403
    assert interactions(db, "opened") == interactions(db, "clicked") == 0


def test_signed_twilio_status_callbacks_are_recorded(
    api: httpx.Client, settings: Settings, db: Database, touch: str
) -> None:
    sms_touch = ids.touch_id("e1", "nudge_sms")
    url = f"{settings.public_url}/webhooks/twilio/status?touch_id={sms_touch}"
    for status in ("queued", "sent", "delivered", "delivered"):
        params = {
            "MessageSid": "SM" + "0" * 32,
            "MessageStatus": status,
            "To": "+14155550100",
            "AccountSid": settings.twilio_account_sid,
        }
        signature = twilio_signature(settings.twilio_auth_token.get_secret_value(), url, params)
        response = api.post(
            f"/webhooks/twilio/status?touch_id={sms_touch}",
            data=params,
            headers={"X-Twilio-Signature": signature},
        )
        assert response.status_code == 200
    assert (
        interactions(db, "delivered") == 1
        and interactions(db, "processed") == 1
        and interactions(db, "queued") == 1
    )  # the repeated "delivered" is a duplicate


def test_a_tampered_twilio_callback_is_refused(
    api: httpx.Client, settings: Settings, db: Database, touch: str
) -> None:
    url = f"{settings.public_url}/webhooks/twilio/status"
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    signature = twilio_signature(settings.twilio_auth_token.get_secret_value(), url, params)
    response = api.post(
        "/webhooks/twilio/status",
        data={**params, "MessageStatus": "undelivered"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 403
    assert api.post("/webhooks/twilio/status", data=params).status_code == 403
    assert interactions(db, "delivered") == interactions(db, "undelivered") == 0


def test_one_click_unsubscribe_revokes_email_marketing(
    api: httpx.Client, settings: Settings, db: Database, touch: str
) -> None:
    from touchline.links import unsubscribe_url

    url = unsubscribe_url(
        settings.public_url,
        settings.link_secret.get_secret_value(),
        customer_id="c1",
        channel="email",
        touch_id=touch,
    )
    path = url.removeprefix(settings.public_url)
    assert "Unsubscribe from" in api.get(path).text
    response = api.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    with db.session() as session:
        consent = session.execute(select(Consent)).scalar_one()
        assert (consent.channel, consent.purpose, consent.status, consent.source) == (
            "email",
            "marketing",
            "revoked",
            "unsubscribe_link",
        )
        assert consent.evidence["one_click"] is True and consent.evidence["touch_id"] == touch
    assert api.post(path[:-3] + "xyz").status_code == 404  # a forged link


def test_a_bounce_suppresses_the_address_once_and_the_next_decision_skips_it(
    api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    from preference_center import load_profiles
    from touchline.record import Identity, Suppression

    with db.session() as session:
        session.get(Touch, touch).address = "ada@example.com"
        session.add(Identity(customer_id="c1", kind="email", value="ada@example.com",
                             source="test", created_at=START))  # fmt: skip
    for event_id in ("ev-b1", "ev-b2"):  # a second bounce adds no second suppression
        body, headers = signed(emulators, [sendgrid_event("bounce", event_id, touch)])
        assert (
            api.post("/webhooks/sendgrid/events", content=body, headers=headers).status_code == 200
        )
    with db.session() as session:
        rows = session.execute(
            select(Suppression.kind, Suppression.value, Suppression.reason)
        ).all()
        profile = load_profiles(session, ["c1"])["c1"]
    assert [tuple(r) for r in rows] == [("email", "ada@example.com", "bounced")]
    assert profile.suppressed == {"email": "bounced"}


# --- every SendGrid event, and what the ones about the address or consent do --------------


def post_events(api: httpx.Client, emulators: SandboxServer, events: list[dict]) -> dict:
    body, headers = signed(emulators, events)
    response = api.post("/webhooks/sendgrid/events", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def email_consents(db: Database) -> list[tuple]:
    with db.session() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(Consent.channel, Consent.purpose, Consent.topic, Consent.status,
                       Consent.source, Consent.evidence)
                .order_by(Consent.recorded_at, Consent.id)
            )
        ]  # fmt: skip


def suppressions(db: Database) -> list[tuple]:
    from touchline.record import Suppression

    with db.session() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(Suppression.kind, Suppression.value, Suppression.reason)
            )
        ]


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("processed", "processed"),
        ("deferred", "deferred"),
        ("delivered", "delivered"),
        ("open", "opened"),
        ("click", "clicked"),
        ("bounce", "bounced"),
        ("dropped", "dropped"),
        ("spamreport", "spam_report"),
        ("unsubscribe", "unsubscribed"),
        ("group_unsubscribe", "unsubscribed"),
    ],
)
def test_every_sendgrid_event_is_recorded_on_its_touch(
    event: str, kind: str, api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    # No touch id: found by the message id, "MSGID123" being the prefix of sg_message_id.
    assert post_events(api, emulators, [sendgrid_event(event, f"ev-{event}", None)]) == {
        "recorded": 1,
        "duplicates": 0,
        "unmatched": 0,
    }
    with db.session() as session:
        row = session.execute(select(Interaction).where(Interaction.kind == kind)).scalar_one()
    assert (row.touch_id, row.channel, row.provider, row.provider_message_id) == (
        touch,
        "email",
        "sendgrid",
        "MSGID123",
    )
    assert row.detail["event"] == event and row.detail["event_id"] == f"ev-{event}"


def test_an_unsubscribe_at_sendgrid_revokes_email_marketing_once(
    api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    event = {**sendgrid_event("unsubscribe", "ev-u1", touch), "ip": "203.0.113.9",
             "useragent": "Mozilla/5.0"}  # fmt: skip
    post_events(api, emulators, [event])
    post_events(api, emulators, [event])  # SendGrid repeats itself: still one ledger row
    [(channel, purpose, topic, status, source, evidence)] = email_consents(db)
    assert (channel, purpose, topic, status, source) == (
        "email", "marketing", None, "revoked", "provider",
    )  # fmt: skip
    assert evidence["event"] == "unsubscribe" and evidence["event_id"] == "ev-u1"
    assert evidence["touch_id"] == touch and evidence["provider_message_id"] == "MSGID123"
    assert evidence["ip"] == "203.0.113.9" and evidence["occurred_at"].startswith("2026-11-23T15")

    from preference_center import load_profiles

    with db.session() as session:
        profile = load_profiles(session, ["c1"])["c1"]
    assert profile.consents[("email", "marketing")].status == "revoked"


def test_a_group_unsubscribe_leaves_the_topic_of_its_group(
    api: httpx.Client,
    emulators: SandboxServer,
    touch: str,
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The API's own settings (the app was made with this object), as an operator sets
    # TOUCHLINE_SENDGRID_ASM_GROUPS='{"4242": "promotions", "77": "account"}'.
    monkeypatch.setattr(settings, "sendgrid_asm_groups", {4242: "promotions", 77: "account"})
    leave = {**sendgrid_event("group_unsubscribe", "ev-g1", touch), "asm_group_id": 4242}
    rejoin = {**sendgrid_event("group_resubscribe", "ev-g2", touch), "asm_group_id": 4242}
    rejoin["timestamp"] += 60
    required = {**sendgrid_event("group_unsubscribe", "ev-g3", touch), "asm_group_id": 77}
    post_events(api, emulators, [leave, rejoin, required])
    rows = email_consents(db)
    assert [r[:5] for r in rows] == [
        ("email", "marketing", "promotions", "revoked", "provider"),
        ("email", "marketing", "promotions", "granted", "provider"),
    ]  # account notices cannot be left: the third event changes nothing
    assert rows[0][5]["asm_group_id"] == 4242 and rows[0][5]["event"] == "group_unsubscribe"


def test_a_group_we_cannot_name_revokes_email_marketing_as_a_whole(
    api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    event = {**sendgrid_event("group_unsubscribe", "ev-g9", touch), "asm_group_id": 999}
    post_events(api, emulators, [event])
    [(channel, purpose, topic, status, source, evidence)] = email_consents(db)
    assert (channel, purpose, topic, status, source) == (
        "email", "marketing", None, "revoked", "provider",
    )  # fmt: skip
    assert evidence["unmapped_group"] is True and evidence["asm_group_id"] == 999


@pytest.mark.parametrize(
    ("reason", "suppressed_as"),
    [
        ("Bounced Address", "bounced"),
        ("Spam Reporting Address", "spam_report"),
        ("Unsubscribed Address", "unsubscribed"),
        ("Invalid SMTPAPI header", None),  # our request's fault, not the address's
        ("Spam Content (if spam checker app enabled)", None),
    ],
)
def test_a_message_dropped_for_an_address_on_sendgrids_lists_suppresses_it(
    reason: str,
    suppressed_as: str | None,
    api: httpx.Client,
    emulators: SandboxServer,
    touch: str,
    db: Database,
) -> None:
    with db.session() as session:
        session.get(Touch, touch).address = "ada@example.com"
    post_events(api, emulators, [{**sendgrid_event("dropped", "ev-d1", touch), "reason": reason}])
    expected = [("email", "ada@example.com", suppressed_as)] if suppressed_as else []
    assert suppressions(db) == expected


def test_a_spam_report_suppresses_the_address(
    api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    with db.session() as session:
        session.get(Touch, touch).address = "ada@example.com"
    post_events(api, emulators, [sendgrid_event("spamreport", "ev-s1", touch)])
    assert suppressions(db) == [("email", "ada@example.com", "spam_report")]


@pytest.mark.parametrize(
    ("offset", "status"),
    [(-9 * 60, 200), (9 * 60, 200), (-11 * 60, 403), (11 * 60, 403), (-3 * 86400, 403)],
)
def test_the_replay_window_is_the_setting_on_the_apis_own_clock(
    offset: int, status: int, api: httpx.Client, emulators: SandboxServer, touch: str
) -> None:
    """Ten minutes either side of the API's clock (TOUCHLINE_SENDGRID_WEBHOOK_MAX_AGE),
    whatever the wall clock says: the API's clock is the test's, at START."""
    body, headers = signed(
        emulators, [sendgrid_event("open", "ev1", touch)], int(START.timestamp()) + offset
    )
    assert api.post("/webhooks/sendgrid/events", content=body, headers=headers).status_code == (
        status
    )


@pytest.mark.parametrize(
    "stamp", ["abc", "", "+1795442400", "1_795_442_400", "1.7e9", "1795442400.5", "9" * 5000,
              "-1", "0x6B05E460", "99999999999999999999"],
)  # fmt: skip
def test_a_malformed_signature_timestamp_is_403_never_500(
    stamp: str, api: httpx.Client, emulators: SandboxServer, touch: str, db: Database
) -> None:
    body = json.dumps([sendgrid_event("open", "ev1", touch)]).encode()
    headers = {
        SENDGRID_TIMESTAMP_HEADER: stamp,
        SENDGRID_SIGNATURE_HEADER: emulators.sandbox.signer.sign(body, stamp),
        "Content-Type": "application/json",
    }
    response = api.post("/webhooks/sendgrid/events", content=body, headers=headers)
    assert response.status_code == 403
    assert interactions(db, "opened") == 0
