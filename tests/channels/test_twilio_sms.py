"""Twilio through the real SDK over HTTP to the emulator."""

import asyncio

import httpx
import pytest

from channels import (
    PermanentChannelError,
    ProviderConfigurationError,
    SmsMessage,
    TransientChannelError,
)
from channels.twilio_sms import TwilioSms
from sandbox import SandboxClient, SandboxServer

SID = "AC00000000000000000000000000000000"


@pytest.fixture
def sms(emulators: SandboxServer) -> TwilioSms:
    return TwilioSms(
        account_sid=SID, auth_token="sandbox-auth-token", base_url=emulators.twilio_url,
        from_number="+15005550006", status_callback_url="http://127.0.0.1:9/webhooks/twilio/status", timeout=5,
    )  # fmt: skip


def test_accepted_with_an_sm_sid(sms: TwilioSms, sandbox_client: SandboxClient) -> None:
    receipt = sms.send(SmsMessage(touch_id="t1", to="+14155550100", body="Hello"))
    assert receipt.provider_message_id.startswith("SM") and len(receipt.provider_message_id) == 34
    assert receipt.status == "queued"
    [received] = sandbox_client.sms()
    assert (received["sid"], received["to"], received["from"], received["body"]) == (
        receipt.provider_message_id,
        "+14155550100",
        "+15005550006",
        "Hello",
    )
    assert received["touch_id"] == "t1"  # carried on the status callback URL


@pytest.mark.parametrize(
    ("to", "code", "opted_out"),
    [
        ("+15005550001", "21211", False),
        ("+15005550004", "21610", True),
        ("+15005550009", "21614", False),
        ("4155550100", "21211", False),
    ],
)
def test_magic_numbers_fail_permanently_with_twilios_codes(
    sms: TwilioSms, to: str, code: str, opted_out: bool
) -> None:
    with pytest.raises(PermanentChannelError) as caught:
        sms.send(SmsMessage(touch_id="t1", to=to, body="Hello"))
    assert (caught.value.status, caught.value.code, caught.value.recipient_opted_out) == (
        400,
        code,
        opted_out,
    )


def test_a_number_that_texted_stop_is_refused_with_21610(
    sms: TwilioSms, sandbox_client: SandboxClient
) -> None:
    sandbox_client.suppress(numbers=["+14155550100"])
    with pytest.raises(PermanentChannelError) as caught:
        sms.send(SmsMessage(touch_id="t1", to="+14155550100", body="Hello"))
    assert caught.value.recipient_opted_out


def test_a_sender_we_do_not_own_is_a_configuration_error(emulators: SandboxServer) -> None:
    stranger = TwilioSms(
        account_sid=SID,
        auth_token="sandbox-auth-token",
        base_url=emulators.twilio_url,
        from_number="+14155550199",
    )
    with pytest.raises(ProviderConfigurationError) as caught:
        stranger.send(SmsMessage(touch_id="t1", to="+14155550100", body="Hello"))
    assert caught.value.code == "21606"


def test_bad_credentials_are_a_configuration_error(emulators: SandboxServer) -> None:
    wrong = TwilioSms(
        account_sid=SID,
        auth_token="wrong",
        base_url=emulators.twilio_url,
        from_number="+15005550006",
    )
    with pytest.raises(ProviderConfigurationError) as caught:
        wrong.send(SmsMessage(touch_id="t1", to="+14155550100", body="Hello"))
    assert (caught.value.status, caught.value.code) == (401, "20003")


def test_429_is_transient(sms: TwilioSms, sandbox_client: SandboxClient) -> None:
    sandbox_client.faults("twilio", burst_429=1)
    with pytest.raises(TransientChannelError) as caught:
        sms.send(SmsMessage(touch_id="t1", to="+14155550100", body="Hello"))
    assert (caught.value.status, caught.value.code) == (429, "20429")


def test_the_emulator_counts_segments_like_twilio(sms: TwilioSms) -> None:
    receipt = sms.send(SmsMessage(touch_id="t1", to="+14155550100", body="Zoë " * 20))
    assert receipt.detail["num_segments"] == "2"


def test_too_many_concurrent_requests_get_429_with_twilios_headers(
    emulators: SandboxServer, sandbox_client: SandboxClient
) -> None:
    sandbox_client.faults("twilio", concurrency_limit=2, latency_ms=300)
    auth = ("AC00000000000000000000000000000000", "sandbox-auth-token")
    url = f"{emulators.twilio_url}/2010-04-01/Accounts/{SID}/Messages.json"

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(auth=auth) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        url, data={"To": "+14155550100", "From": "+15005550006", "Body": "x"}
                    )
                    for _ in range(5)
                )
            )

    responses = asyncio.run(burst())
    assert sorted(r.status_code for r in responses) == [201, 201, 429, 429, 429]
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.json()["code"] == 20429
    assert int(throttled.headers["Twilio-Concurrent-Requests"]) > 2
    assert "Twilio-Request-Duration" in throttled.headers


def test_sms_in_doubt_are_found_by_recipient_and_body(
    sms: TwilioSms, sandbox_client: SandboxClient
) -> None:
    from datetime import UTC, datetime

    from channels import InDoubt, content_digest
    from channels.errors import LookupIncomplete

    sent = SmsMessage("t1", "+14155550101", "Hello from the sale")
    receipt = sms.send(sent)
    never = SmsMessage("t2", "+14155550102", "Hello from the sale")
    since = datetime.now(UTC)
    doubt = [InDoubt(m.touch_id, m.to, content_digest(m), "a1", since) for m in (sent, never)]

    found = sms.find_sent(doubt, frozenset())
    assert list(found) == ["t1"] and found["t1"].provider_message_id == receipt.provider_message_id
    assert sms.find_sent(doubt, frozenset({receipt.provider_message_id})) == {}

    sandbox_client.faults("twilio", error_rate=1.0)
    with pytest.raises(LookupIncomplete):
        sms.find_sent(doubt, frozenset())
