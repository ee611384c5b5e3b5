"""WhatsApp through the real Twilio SDK over HTTP to the emulator: free text inside the
customer's 24-hour session window, approved templates (ContentSid) outside it, Twilio's
error codes mapped in one place, and the lookup of messages sent before a crash."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException

from channels import (
    InDoubt,
    PermanentChannelError,
    ProviderConfigurationError,
    TransientChannelError,
    WhatsAppMessage,
    content_digest,
)
from channels._exception_map import translated_errors
from channels.twilio_whatsapp import TwilioWhatsApp
from sandbox import SandboxClient, SandboxServer

SID = "AC00000000000000000000000000000000"
SENDER = "+14155238886"  # Twilio's sandbox WhatsApp sender, the emulator's default
ADA, BEA = "+14155550100", "+14155550101"
REMINDER = "HXb5b62575e6e4ff6129ad7c8efe1f983e"  # "Your appointment is coming up on {{1}} at {{2}}"
CART = "HX3c1f0a9b8e7d6c5b4a39281706f5e4d3"


def adapter(emulators: SandboxServer, **overrides: str) -> TwilioWhatsApp:
    options = {"account_sid": SID, "auth_token": "sandbox-auth-token", "from_number": SENDER,
               "status_callback_url": "http://127.0.0.1:9/webhooks/twilio/status", **overrides}  # fmt: skip
    return TwilioWhatsApp(base_url=emulators.twilio_url, timeout=5, **options)


@pytest.fixture
def whatsapp(emulators: SandboxServer) -> TwilioWhatsApp:
    return adapter(emulators)


def test_free_text_inside_the_session_window_is_accepted(
    whatsapp: TwilioWhatsApp, sandbox_client: SandboxClient
) -> None:
    opened = sandbox_client.whatsapp_inbound(ADA, "Is my order on its way?")
    assert opened["posted"] is False  # no inbound URL configured: only the window opens
    receipt = whatsapp.send(WhatsAppMessage("t1", ADA, body="Yes, it left this morning."))
    assert receipt.provider == "twilio" and receipt.provider_message_id.startswith("SM")
    [received] = sandbox_client.sms(to=f"whatsapp:{ADA}")
    assert (received["from"], received["body"], received["touch_id"]) == (
        f"whatsapp:{SENDER}",
        "Yes, it left this morning.",
        "t1",
    )
    assert received["content_sid"] is None and received["num_segments"] == "1"


def test_free_text_outside_the_window_is_refused_with_63016(
    whatsapp: TwilioWhatsApp, sandbox_client: SandboxClient
) -> None:
    with pytest.raises(PermanentChannelError) as never_wrote:
        whatsapp.send(WhatsAppMessage("t1", ADA, body="Hello"))
    assert (never_wrote.value.status, never_wrote.value.code) == (400, "63016")
    assert "outside the allowed window" in never_wrote.value.message
    assert not never_wrote.value.recipient_opted_out  # a template may still reach them

    # The window is 24 hours from the customer's last message, in sandbox time.
    start = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    sandbox_client.set_time(start)
    sandbox_client.whatsapp_inbound(BEA, "hi")
    sandbox_client.set_time(start + timedelta(hours=23, minutes=59))
    whatsapp.send(WhatsAppMessage("t2", BEA, body="Still here"))
    sandbox_client.set_time(start + timedelta(hours=24))
    with pytest.raises(PermanentChannelError) as closed:
        whatsapp.send(WhatsAppMessage("t3", BEA, body="Too late"))
    assert closed.value.code == "63016"
    assert [m["touch_id"] for m in sandbox_client.sms()] == ["t2"]


def test_an_approved_template_goes_outside_the_window(
    whatsapp: TwilioWhatsApp, sandbox_client: SandboxClient
) -> None:
    variables = {"1": "12/1", "2": "3pm"}
    receipt = whatsapp.send(
        WhatsAppMessage("t1", ADA, content_sid=REMINDER, content_variables=variables)
    )
    assert receipt.detail == {"content_sid": REMINDER}
    [received] = sandbox_client.sms(to=f"whatsapp:{ADA}")
    assert received["content_sid"] == REMINDER
    assert json.loads(received["content_variables"]) == variables  # a JSON string, as documented
    assert received["body"] == "Your appointment is coming up on 12/1 at 3pm"


@pytest.mark.parametrize(
    ("content_sid", "variables", "code"),
    [
        ("HX" + "0" * 32, {"1": "x"}, "21655"),  # no such approved template
        ("HXnot-a-sid", {}, "21655"),
        (REMINDER, {"1": "12/1\nat noon"}, "21656"),  # Twilio refuses newlines in variables
        (REMINDER, {"1": "   "}, "21656"),
    ],
)
def test_templates_twilio_refuses_fail_permanently(
    whatsapp: TwilioWhatsApp, content_sid: str, variables: dict, code: str
) -> None:
    with pytest.raises(PermanentChannelError) as caught:
        whatsapp.send(
            WhatsAppMessage("t1", ADA, content_sid=content_sid, content_variables=variables)
        )
    assert (caught.value.status, caught.value.code) == (400, code)


def test_a_message_needs_exactly_one_form(
    whatsapp: TwilioWhatsApp, sandbox_client: SandboxClient
) -> None:
    for message in (
        WhatsAppMessage("t1", ADA),
        WhatsAppMessage("t1", ADA, body="x", content_sid=REMINDER),
    ):
        with pytest.raises(PermanentChannelError, match="either a body"):
            whatsapp.send(message)
    assert sandbox_client.stats()["requests"] == {}  # refused before any request


def test_a_sender_that_is_not_whatsapp_enabled_is_a_configuration_error(
    emulators: SandboxServer, sandbox_client: SandboxClient
) -> None:
    sandbox_client.whatsapp_inbound(ADA, "hi")
    with pytest.raises(ProviderConfigurationError) as caught:
        adapter(emulators, from_number="+15005550006").send(WhatsAppMessage("t1", ADA, body="x"))
    assert (caught.value.status, caught.value.code) == (400, "63007")


def test_mixing_sms_and_whatsapp_addresses_is_refused(emulators: SandboxServer) -> None:
    import httpx

    response = httpx.post(
        f"{emulators.twilio_url}/2010-04-01/Accounts/{SID}/Messages.json",
        data={"To": ADA, "From": f"whatsapp:{SENDER}", "Body": "x"},
        auth=(SID, "sandbox-auth-token"),
    )
    assert (response.status_code, response.json()["code"]) == (400, 21910)


def test_rate_limits_are_transient(whatsapp: TwilioWhatsApp, sandbox_client: SandboxClient) -> None:
    sandbox_client.faults("twilio", burst_429=1)
    with pytest.raises(TransientChannelError) as caught:
        whatsapp.send(WhatsAppMessage("t1", ADA, content_sid=REMINDER))
    assert (caught.value.status, caught.value.code) == (429, "20429")
    whatsapp.send(WhatsAppMessage("t1", ADA, content_sid=REMINDER))  # the burst is over


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, 63018, TransientChannelError),  # the WhatsApp sender's messaging limit
        (400, 63018, TransientChannelError),  # a rate limit whatever the status says
        (400, 63017, TransientChannelError),
        (400, 63016, PermanentChannelError),
        (400, 63007, ProviderConfigurationError),
    ],
)
def test_whatsapp_codes_are_classified_in_the_exception_map(
    status: int, code: int, expected: type
) -> None:
    with (
        pytest.raises(expected) as caught,
        translated_errors("twilio", lambda: {"Retry-After": "2"}),
    ):
        raise TwilioRestException(status, "https://api.twilio.com/x", msg="m", code=code)
    assert caught.value.code == str(code)
    if expected is TransientChannelError:
        assert caught.value.retry_after == 2.0


def test_messages_in_doubt_are_found_free_text_and_templates_alike(
    whatsapp: TwilioWhatsApp, sandbox_client: SandboxClient
) -> None:
    sandbox_client.whatsapp_inbound(ADA, "hi")
    free = WhatsAppMessage("t1", ADA, body="Your parcel is out for delivery")
    template = WhatsAppMessage(
        "t2", BEA, content_sid=CART,
        content_variables={"1": "Bea", "2": "$42.00", "3": "https://shop.example/cart/9"},
    )  # fmt: skip
    never = WhatsAppMessage("t3", BEA, content_sid=CART, content_variables={"1": "Bea"})
    sent = {m.touch_id: whatsapp.send(m).provider_message_id for m in (free, template)}
    since = datetime.now(UTC)
    doubt = [InDoubt(m.touch_id, m.to, content_digest(m), "a1", since) for m in (free, template, never)]  # fmt: skip

    found = whatsapp.find_sent(doubt, frozenset())
    assert {t: r.provider_message_id for t, r in found.items()} == sent
    assert all(r.detail == {"reconciled": True} for r in found.values())
    # A sid already recorded for another touch is never claimed twice.
    assert list(whatsapp.find_sent(doubt, frozenset({sent["t2"]}))) == ["t1"]
