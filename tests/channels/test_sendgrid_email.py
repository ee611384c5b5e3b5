"""SendGrid through the real SDK over HTTP to the emulator."""

import pytest

from channels import (
    EmailMessage,
    PermanentChannelError,
    ProviderConfigurationError,
    TransientChannelError,
)
from channels.sendgrid_email import SendGridEmail
from sandbox import SandboxClient, SandboxServer


@pytest.fixture
def email(emulators: SandboxServer) -> SendGridEmail:
    return SendGridEmail(
        api_key="SG.sandbox-key",
        host=emulators.sendgrid_url,
        from_email="hello@touchline.example",
        from_name="Touchline",
        timeout=5,
    )


def message(touch: str = "t1", to: str = "ada@example.com") -> EmailMessage:
    return EmailMessage(
        touch_id=touch, to=to, to_name="Ada", subject="Welcome", html="<p>Hi</p>", text="Hi",
        headers={"List-Unsubscribe": "<https://u/1>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        tags=("welcome", "welcome_email"),
    )  # fmt: skip


def test_accepted_with_a_message_id_and_received_as_sent(
    email: SendGridEmail, sandbox_client: SandboxClient
) -> None:
    receipt = email.send(message())
    assert receipt.provider == "sendgrid" and len(receipt.provider_message_id) == 22
    [received] = sandbox_client.emails()
    assert received["message_id"] == receipt.provider_message_id
    assert (received["to"], received["to_name"], received["from"], received["subject"]) == (
        "ada@example.com",
        "Ada",
        "hello@touchline.example",
        "Welcome",
    )
    assert (received["text"], received["html"]) == ("Hi", "<p>Hi</p>")
    assert received["custom_args"] == {"touch_id": "t1"}
    assert set(received["categories"]) == {"welcome", "welcome_email"}  # the SDK reverses them
    assert received["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_bad_request_is_permanent_and_names_the_field(email: SendGridEmail) -> None:
    bad = EmailMessage(touch_id="t1", to="ada@localhost", subject="s", html="h", text="t")
    with pytest.raises(PermanentChannelError) as caught:
        email.send(bad)
    assert caught.value.status == 400
    assert (
        "personalizations.0.to.0.email: Does not contain a valid address." in caught.value.message
    )


def test_an_unparseable_address_is_permanent_whichever_side_refuses_it(
    email: SendGridEmail,
) -> None:
    # Without a display name the SDK's helper parses the address and fails on its own…
    with pytest.raises(PermanentChannelError, match="cannot be built"):
        email.send(
            EmailMessage(touch_id="t1", to="not-an-address", subject="s", html="h", text="t")
        )
    # …with one, it passes it through and the API refuses it.
    with pytest.raises(PermanentChannelError, match="Does not contain a valid address"):
        email.send(message(to="not-an-address"))


def test_a_wrong_api_key_is_a_configuration_error(emulators: SandboxServer) -> None:
    wrong = SendGridEmail(
        api_key="SG.wrong", host=emulators.sendgrid_url, from_email="hello@touchline.example"
    )
    with pytest.raises(ProviderConfigurationError) as caught:
        wrong.send(message())
    assert caught.value.status == 401


def test_429_is_transient_and_carries_the_reset(
    email: SendGridEmail, sandbox_client: SandboxClient
) -> None:
    sandbox_client.faults("sendgrid", burst_429=1, rate_limit_per_second=5)
    with pytest.raises(TransientChannelError) as caught:
        email.send(message())
    assert (
        caught.value.status == 429
        and caught.value.retry_after is not None
        and 0 <= caught.value.retry_after <= 2
    )


def test_5xx_is_transient(email: SendGridEmail, sandbox_client: SandboxClient) -> None:
    sandbox_client.faults("sendgrid", error_rate=1.0, error_status=503)
    with pytest.raises(TransientChannelError) as caught:
        email.send(message())
    assert caught.value.status == 503


def test_a_timeout_is_transient(emulators: SandboxServer, sandbox_client: SandboxClient) -> None:
    slow = SendGridEmail(
        api_key="SG.sandbox-key",
        host=emulators.sendgrid_url,
        from_email="hello@touchline.example",
        timeout=0.3,
    )
    sandbox_client.faults("sendgrid", timeout_rate=1.0, timeout_ms=1500)
    with pytest.raises(TransientChannelError, match="timed out"):
        slow.send(message())


def test_nothing_listening_is_transient() -> None:
    gone = SendGridEmail(
        api_key="k", host="http://127.0.0.1:9", from_email="hello@touchline.example", timeout=1
    )
    with pytest.raises(TransientChannelError, match="connection failed"):
        gone.send(message())


def test_sends_in_doubt_are_found_by_attempt_and_a_cut_short_lookup_keeps_its_answers(
    email: SendGridEmail, emulators: SandboxServer
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from channels import InDoubt, content_digest
    from channels.errors import LookupIncomplete

    sent = [
        replace(message(f"t{n}", f"c{n}@example.com"), dispatch_id="attempt-1") for n in range(3)
    ]
    receipts = {m.touch_id: email.send(m) for m in sent[:2]}  # the third never left
    since = datetime.now(UTC)
    doubt = [InDoubt(m.touch_id, m.to, content_digest(m), "attempt-1", since) for m in sent]

    found = email.find_sent(doubt, frozenset())
    assert {t: r.provider_message_id for t, r in found.items()} == {
        t: r.provider_message_id for t, r in receipts.items()
    }
    # A message already recorded for another touch is never claimed again.
    assert "t0" not in email.find_sent(doubt, frozenset({receipts["t0"].provider_message_id}))

    # Six lookups a minute: the next attempt's lookup is refused, and says what it knew.
    for _ in range(4):
        email.find_sent(doubt[:1], frozenset())
    with pytest.raises(LookupIncomplete) as refused:
        email.find_sent(doubt, frozenset())
    assert refused.value.found == {} and refused.value.retry_after is not None
    assert emulators.sandbox.activity_requests  # the limit is the emulator's, as SendGrid's
