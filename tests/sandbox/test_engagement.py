"""The engagement simulator models people: a lean to email or texts, a day in their own time
zone, and answers to texts posted back as signed Twilio inbound webhooks."""

import base64
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from sandbox import SandboxClient, SandboxServer, ThreadedApp
from sandbox.engagement import FREE_TEXT_REPLIES, EngagementModel, EngagementSimulator
from sandbox.signing import TWILIO_SIGNATURE_HEADER
from tests.conftest import START

SID = "AC00000000000000000000000000000000"
TWILIO_AUTH = "Basic " + base64.b64encode(f"{SID}:sandbox-auth-token".encode()).decode()
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_inbound_url_after(emulators: SandboxServer):  # type: ignore[no-untyped-def]
    """The emulators serve the whole session: leave no inbound URL behind, in either
    direction."""
    emulators.sandbox.config.inbound_sms_url = None
    yield
    emulators.sandbox.config.inbound_sms_url = None


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    """Touchline's inbound URL, played by a receiver that keeps what it is sent."""
    received: list[tuple[str, dict[str, str], dict[str, str]]] = []

    async def keep(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        received.append((str(request.url), form, dict(request.headers)))
        return Response("<Response/>", media_type="application/xml")

    with ThreadedApp() as server:
        server.start(Starlette(routes=[Route("/{path:path}", keep, methods=["POST"])]))
        yield server, received


def text(emulators: SandboxServer, to: str, body: str, touch: str = "t1") -> httpx.Response:
    return httpx.post(
        f"{emulators.twilio_url}/2010-04-01/Accounts/{SID}/Messages.json",
        data={
            "To": to,
            "From": "+15005550006",
            "Body": body,
            "StatusCallback": f"http://127.0.0.1:9/status?touch_id={touch}",
        },
        headers={"Authorization": TWILIO_AUTH},
    )


def email_events(model: EngagementModel, recipients: list[str], at: datetime) -> list[dict]:
    simulator = EngagementSimulator(model)
    for n, to in enumerate(recipients):
        simulator.email_accepted(
            message_id=f"m{n}", to=to, accepted_at=at, custom_args={"touch_id": f"t{n}"},
            categories=[], first_link="https://shop.example/", suppressed=None,
        )  # fmt: skip
    return [d.body for d in simulator.due(at + timedelta(days=10))]


# --- people -------------------------------------------------------------------------------


def test_a_person_is_the_same_on_every_message_and_run() -> None:
    model = EngagementModel(seed="s1")
    assert model.persona("Ada@Example.com") == EngagementModel(seed="s1").persona("ada@example.com")
    different = [EngagementModel(seed=f"s{n}").persona("ada@example.com") for n in range(20)]
    assert len({p.texter for p in different}) == 2  # the seed decides


def test_texters_are_the_settable_share_and_lean_to_texts() -> None:
    model = EngagementModel(texter_share=0.3)
    people = [model.persona(f"p{n}@example.com") for n in range(4000)]
    share = sum(p.texter for p in people) / len(people)
    assert 0.27 < share < 0.33
    for person in people:
        if person.texter:
            assert person.email_affinity <= 0.45 <= person.sms_affinity + 0.24
        else:
            assert person.email_affinity >= 0.45 and person.sms_affinity <= 0.26
    assert all(not p.texter for p in map(EngagementModel(texter_share=0).persona, ["a", "b"]))


def test_a_registered_person_is_one_person_on_every_address_and_lives_in_their_zone() -> None:
    model = EngagementModel.from_dict(
        {
            "people": [
                {
                    "id": "c1",
                    "addresses": ["ada@example.com", "+14155550100"],
                    "timezone": "Asia/Tokyo",
                }
            ]
        }
    )
    by_email, by_phone = model.persona("ADA@example.com"), model.persona("+14155550100")
    assert by_email == by_phone and by_email.key == "c1" and by_email.timezone == "Asia/Tokyo"
    # Someone not registered is their address, in their number's zone where it has one.
    assert model.persona("+12125550100").timezone == "America/New_York"
    assert model.persona("+15005550006").timezone == "UTC"  # many zones: none of them
    assert model.persona("bob@example.com").timezone == "UTC"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"texter_share": 1.5}, "texter_share must be a number between 0 and 1"),
        ({"open_rate_low": 0.9, "open_rate_high": 0.1}, "open_rate_low is above open_rate_high"),
        ({"people": [{"addresses": []}]}, r"people\[0\].addresses must be a non-empty list"),
        ({"people": [{"addresses": ["a@b.c"], "timezone": "Mars/Olympus"}]}, "unknown zone"),
        ({"people": [{"addresses": ["a@b.c"], "zone": "UTC"}]}, r"people\[0\] must be"),
        ({"appetite": 1}, "unknown engagement settings: appetite"),
    ],
)
def test_settings_that_make_no_sense_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngagementModel.from_dict(settings)


def test_the_control_api_refuses_bad_settings_and_keeps_the_model(
    sandbox_client: SandboxClient,
) -> None:
    sandbox_client.engagement(texter_share=0.5, seed="kept")
    with pytest.raises(ValueError, match="evening_share"):
        sandbox_client.engagement(evening_share=-1)
    assert sandbox_client.engagement(texter_share=0.5, seed="kept")["seed"] == "kept"


# --- the hour ---------------------------------------------------------------------------------


def test_the_chance_depends_on_the_local_hour_and_keeps_certainties() -> None:
    model = EngagementModel(
        people=[{"id": "x", "addresses": ["x@example.com"], "timezone": "Europe/Paris"}],
        evening_share=1.0,  # everyone reads in the evening (18:00-22:00)
    )
    person = model.persona("x@example.com")
    evening = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)  # 20:30 in Paris
    morning = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Paris
    assert person.is_active(evening) and not person.is_active(morning)
    assert person.chance(0.6, evening) == pytest.approx(0.6)
    assert person.chance(0.6, morning) == pytest.approx(0.6 * 0.3 / (0.4 + 0.6 * 0.3))
    assert person.chance(1.0, morning) == 1.0 and person.chance(0.0, evening) == 0.0


def test_more_people_open_what_arrives_in_their_active_hours_and_open_it_then() -> None:
    model = EngagementModel(evening_share=0.0, texter_share=0.0)  # morning readers, UTC
    recipients = [f"r{n}@example.com" for n in range(600)]
    in_hours = email_events(model, recipients, MONDAY.replace(hour=8))
    off_hours = email_events(model, recipients, MONDAY.replace(hour=15))
    opened = [Counter(e["event"] for e in events)["open"] for events in (in_hours, off_hours)]
    assert opened[0] > 1.6 * opened[1]
    opens = [e for e in in_hours + off_hours if e["event"] == "open"]
    morning = sum(7 <= datetime.fromtimestamp(e["timestamp"], UTC).hour < 10 for e in opens)
    assert morning / len(opens) > 0.8  # mostly in their active hours, whenever it arrived


def test_the_same_seed_gives_the_same_future() -> None:
    recipients = [f"r{n}@example.com" for n in range(50)]
    first = email_events(EngagementModel(seed="a"), recipients, MONDAY)
    assert first == email_events(EngagementModel(seed="a"), recipients, MONDAY)
    assert first != email_events(EngagementModel(seed="b"), recipients, MONDAY)


# --- answers to texts, through the emulator ---------------------------------------------------


def replies(received: list) -> list[dict[str, str]]:
    return [form for _, form, _ in received]


def test_a_yes_to_the_double_opt_in_is_posted_signed_to_the_inbound_url(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.configure(inbound_sms_url=f"{server.url}/webhooks/twilio/inbound")
    sandbox_client.engagement(confirm_rate=1.0, stop_rate=0.0, sms_undelivered_rate=0.0)
    sandbox_client.set_time(START)
    asking = "Acme: reply YES to get our offers by text. Reply HELP for help, STOP to opt out."
    assert text(emulators, "+14155550100", asking).status_code == 201
    sandbox_client.set_time(START + timedelta(hours=4))
    [(url, form, headers)] = received
    assert url == f"{server.url}/webhooks/twilio/inbound"
    assert RequestValidator("sandbox-auth-token").validate(
        url, form, headers[TWILIO_SIGNATURE_HEADER.lower()]
    )
    assert form["Body"].upper() == "YES" and form["SmsStatus"] == "received"
    assert (form["From"], form["To"], form["AccountSid"]) == ("+14155550100", "+15005550006", SID)
    assert form["MessageSid"].startswith("SM") and len(form["MessageSid"]) == 34
    assert sandbox_client.stats()["webhooks"]["twilio_inbound_posted"] == 1


def test_texters_answer_in_words_that_are_no_keyword(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.configure(inbound_sms_url=f"{server.url}/in")
    sandbox_client.engagement(reply_rate_low=1.0, reply_rate_high=1.0, stop_rate=0.0,
                              sms_undelivered_rate=0.0)  # fmt: skip
    sandbox_client.set_time(START)
    for n in range(5):
        text(emulators, f"+1415555010{n}", "Acme: new arrivals. Reply STOP to opt out.", f"t{n}")
    sandbox_client.set_time(START + timedelta(hours=4))
    bodies = [form["Body"] for form in replies(received)]
    assert len(bodies) == 5 and all(b in FREE_TEXT_REPLIES for b in bodies)


def test_a_stop_reaches_the_inbound_url_and_twilios_own_opt_out_list(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.configure(inbound_sms_url=f"{server.url}/in")
    sandbox_client.engagement(stop_rate=1.0, sms_undelivered_rate=0.0)
    sandbox_client.set_time(START)
    text(emulators, "+14155550100", "Acme: sale. Reply STOP to opt out.")
    sandbox_client.set_time(START + timedelta(hours=4))
    assert [form["Body"].upper() for form in replies(received)] == ["STOP"]
    refused = text(emulators, "+14155550100", "Acme: another sale.")
    assert refused.status_code == 400 and refused.json()["code"] == 21610


def test_without_an_inbound_url_nothing_is_posted_but_stop_still_counts(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    _server, received = receiver
    sandbox_client.engagement(stop_rate=1.0, sms_undelivered_rate=0.0)
    sandbox_client.set_time(START)
    text(emulators, "+14155550100", "Acme: sale. Reply STOP to opt out.")
    sandbox_client.set_time(START + timedelta(hours=4))
    assert received == [] and sandbox_client.stats()["webhooks"]["twilio_inbound_no_url"] == 1
    assert text(emulators, "+14155550100", "again").json()["code"] == 21610


def test_status_callbacks_come_first_and_replies_follow_delivery(
    emulators: SandboxServer, sandbox_client: SandboxClient, receiver
) -> None:  # type: ignore[no-untyped-def]
    server, received = receiver
    sandbox_client.configure(inbound_sms_url=f"{server.url}/in")
    sandbox_client.engagement(reply_rate_low=1.0, reply_rate_high=1.0, stop_rate=0.0,
                              sms_undelivered_rate=0.0)  # fmt: skip
    sandbox_client.set_time(START)
    sid = text(emulators, "+14155550100", "Hi. Reply STOP to opt out.").json()["sid"]
    sandbox_client.set_time(START + timedelta(seconds=40))  # sent and delivered by now
    message = httpx.get(
        f"{emulators.twilio_url}/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
        headers={"Authorization": TWILIO_AUTH},
    ).json()
    assert message["status"] == "delivered"
    sandbox_client.set_time(START + timedelta(hours=4))
    assert len(received) == 1
