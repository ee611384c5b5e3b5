"""X direct messages through the real tweepy SDK over HTTP to the X emulator."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from channels import (
    DirectMessage,
    InDoubt,
    PermanentChannelError,
    ProviderConfigurationError,
    TransientChannelError,
    content_digest,
)
from channels.errors import LookupIncomplete
from channels.x_dm import XDirectMessages
from sandbox import SandboxClient, SandboxServer

OUR_ID = "1000000000000000001"  # the sandbox account: its access token starts with it


def adapter(emulators: SandboxServer, **overrides: str) -> XDirectMessages:
    credentials = {
        "consumer_key": "sandbox-consumer-key",
        "consumer_secret": "sandbox-consumer-secret",
        "access_token": f"{OUR_ID}-sandboxAccessToken",
        "access_token_secret": "sandbox-access-token-secret",
        **overrides,
    }
    return XDirectMessages(**credentials, base_url=emulators.x_url, timeout=5)


@pytest.fixture
def x(emulators: SandboxServer) -> Iterator[XDirectMessages]:
    channel = adapter(emulators)
    yield channel
    channel.close()


@pytest.fixture
def limits(emulators: SandboxServer) -> Iterator[dict[str, int]]:
    """The emulator's rate limits, restored after the test."""
    saved = dict(emulators.sandbox.config.x_rate_limits)
    yield emulators.sandbox.config.x_rate_limits
    emulators.sandbox.config.x_rate_limits = saved


def test_a_dm_reaches_the_participant_behind_the_handle(
    x: XDirectMessages, sandbox_client: SandboxClient, emulators: SandboxServer
) -> None:
    receipt = x.send(DirectMessage(touch_id="t1", to="@Ada_Lovelace", text="We are sorry."))

    [received] = sandbox_client.direct_messages()
    participant = receipt.detail["participant_id"]
    assert emulators.sandbox.x_users[participant] == "ada_lovelace"  # looked up by handle
    assert (received["id"], received["text"], received["to"], received["touch_id"]) == (
        receipt.provider_message_id,
        "We are sorry.",
        "ada_lovelace",
        "t1",
    )
    assert received["sender_id"] == OUR_ID and received["direction"] == "outbound"
    # X names a one-to-one conversation by its two user ids, the smaller first.
    assert received["dm_conversation_id"] == "-".join(sorted((OUR_ID, participant), key=int))
    assert receipt.detail["dm_conversation_id"] == received["dm_conversation_id"]
    assert sandbox_client.stats()["touches"]["x"] == 1


def test_the_handle_is_looked_up_once_per_adapter(
    x: XDirectMessages, emulators: SandboxServer
) -> None:
    for n in range(3):
        x.send(DirectMessage(touch_id=f"t{n}", to="ada", text=f"Message {n}"))
    used = {name: used for name, (_, used) in emulators.sandbox.x_rate_windows.items()}
    assert used == {"users_by_username": 1, "dm_create": 3}


def test_an_unknown_handle_fails_permanently(x: XDirectMessages, emulators: SandboxServer) -> None:
    with pytest.raises(PermanentChannelError) as caught:
        x.send(DirectMessage(touch_id="t1", to="nosuchuser", text="Hello"))
    # X answers 200 with an errors list, not 404, for a username nobody has.
    assert caught.value.code == "resource-not-found"
    assert "Could not find user with username: [nosuchuser]" in caught.value.message
    assert emulators.sandbox.direct_messages == []


def test_a_user_who_does_not_accept_our_dms_fails_permanently(
    x: XDirectMessages, sandbox_client: SandboxClient
) -> None:
    sandbox_client.configure(x_closed_dm_handles=["private_pat"])
    try:
        with pytest.raises(PermanentChannelError) as caught:
            x.send(DirectMessage(touch_id="t1", to="private_pat", text="Hello"))
    finally:
        sandbox_client.configure(x_closed_dm_handles=["dmsclosed"])
    assert (caught.value.status, caught.value.code) == (403, "349")
    assert not caught.value.recipient_opted_out  # their DM setting, not a consent of ours
    assert sandbox_client.direct_messages() == []


def test_past_the_15_minute_limit_429_is_transient_until_the_reset(
    x: XDirectMessages, sandbox_client: SandboxClient, limits: dict[str, int]
) -> None:
    limits["dm_create"] = 2
    for n in range(2):
        x.send(DirectMessage(touch_id=f"t{n}", to="ada", text="Hello"))
    with pytest.raises(TransientChannelError) as caught:
        x.send(DirectMessage(touch_id="t2", to="ada", text="Hello"))
    assert caught.value.status == 429
    # The window ends 15 minutes after it opened: that is what the error says to wait.
    assert caught.value.retry_after is not None and 890 < caught.value.retry_after <= 900
    assert len(sandbox_client.direct_messages()) == 2


def test_the_emulator_reports_x_rate_limit_headers_and_xs_429_body(
    emulators: SandboxServer, limits: dict[str, int]
) -> None:
    limits["users_by_username"] = 1
    client = adapter(emulators)._client()
    first = client.get_user(username="ada", user_auth=True)
    assert first.data.username == "ada"
    response = client.session.get("https://api.twitter.com/2/users/by/username/ada")
    assert response.status_code == 401  # unsigned: refused before any limit is counted
    import tweepy

    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.get_user(username="ada", user_auth=True)
    headers = caught.value.response.headers
    assert (headers["x-rate-limit-limit"], headers["x-rate-limit-remaining"]) == ("1", "0")
    assert int(headers["x-rate-limit-reset"]) > time.time() + 800
    assert caught.value.response.json()["title"] == "Too Many Requests"


def test_injected_faults_are_transient(x: XDirectMessages, sandbox_client: SandboxClient) -> None:
    sandbox_client.faults("x", burst_429=1)
    with pytest.raises(TransientChannelError) as caught:
        x.send(DirectMessage(touch_id="t1", to="ada", text="Hello"))
    assert caught.value.status == 429
    sandbox_client.faults("x", error_rate=1.0, error_status=503)
    with pytest.raises(TransientChannelError) as caught:
        x.send(DirectMessage(touch_id="t1", to="ada", text="Hello"))
    assert caught.value.status == 503
    sandbox_client.faults("x")
    x.send(DirectMessage(touch_id="t1", to="ada", text="Hello"))
    assert sandbox_client.stats()["accepted"]["x"] == 1


@pytest.mark.parametrize(
    "wrong",
    [
        {"consumer_secret": "not-the-secret"},
        {"access_token_secret": "not-the-secret"},
        {"consumer_key": "someone-elses-app"},
    ],
)
def test_wrong_credentials_are_a_configuration_error(
    emulators: SandboxServer, wrong: dict[str, str]
) -> None:
    with pytest.raises(ProviderConfigurationError) as caught:
        adapter(emulators, **wrong).send(DirectMessage(touch_id="t1", to="ada", text="Hello"))
    assert caught.value.status == 401


def test_the_emulator_checks_the_oauth_signature_not_just_its_presence(
    emulators: SandboxServer,
) -> None:
    forged = (
        'OAuth oauth_consumer_key="sandbox-consumer-key", oauth_nonce="abc", '
        'oauth_signature="bm90IGEgc2lnbmF0dXJl", oauth_signature_method="HMAC-SHA1", '
        f'oauth_timestamp="{int(time.time())}", oauth_token="{OUR_ID}-sandboxAccessToken", '
        'oauth_version="1.0"'
    )
    response = httpx.get(
        f"{emulators.x_url}/2/users/by/username/ada", headers={"Authorization": forged}
    )
    assert response.status_code == 401
    assert response.json() == {
        "title": "Unauthorized", "detail": "Unauthorized", "type": "about:blank", "status": 401,
    }  # fmt: skip


def test_a_connection_refused_is_transient(emulators: SandboxServer) -> None:
    channel = XDirectMessages(
        consumer_key="k", consumer_secret="s", access_token="1-t", access_token_secret="s",
        base_url="http://127.0.0.1:9", timeout=2,
    )  # fmt: skip
    with pytest.raises(TransientChannelError, match="connection failed"):
        channel.send(DirectMessage(touch_id="t1", to="ada", text="Hello"))


def test_dms_in_doubt_are_found_in_the_conversation_by_their_text(
    x: XDirectMessages, sandbox_client: SandboxClient
) -> None:
    since = datetime.now(UTC)
    sent = DirectMessage("t1", "ada", "Sorry about your order")
    receipt = x.send(sent)
    sandbox_client.x_inbound("ada", "Sorry about your order", kind="dm")  # hers, not ours
    never = DirectMessage("t2", "grace", "Sorry about your order")
    doubt = [InDoubt(m.touch_id, m.to, content_digest(m), "a1", since) for m in (sent, never)]

    found = x.find_sent(doubt, frozenset())
    assert list(found) == ["t1"] and found["t1"].provider_message_id == receipt.provider_message_id
    assert found["t1"].detail["reconciled"] is True
    # An event id already recorded for another touch is never claimed twice.
    assert x.find_sent(doubt, frozenset({receipt.provider_message_id})) == {}

    sandbox_client.faults("x", error_rate=1.0)
    with pytest.raises(LookupIncomplete):
        x.find_sent(doubt, frozenset())


def test_the_dm_events_lookup_pages_newest_first(
    x: XDirectMessages, emulators: SandboxServer
) -> None:
    for n in range(5):
        x.send(DirectMessage(touch_id=f"t{n}", to="ada", text=f"Message {n}"))
    client = x._client()
    first = client.get_direct_message_events(max_results=2, dm_event_fields=["sender_id"])
    assert [e.text for e in first.data] == ["Message 4", "Message 3"]
    assert first.data[0].sender_id == int(OUR_ID)
    rest = client.get_direct_message_events(
        max_results=100, pagination_token=first.meta["next_token"]
    )
    assert [e.text for e in rest.data] == ["Message 2", "Message 1", "Message 0"]
    assert "next_token" not in rest.meta
