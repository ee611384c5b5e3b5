"""The X emulator's control side: inbound events it refuses, and DMs it keeps either way."""

import pytest

from sandbox import SandboxClient


@pytest.mark.parametrize(
    ("handle", "text", "kind", "problem"),
    [
        ("not a handle!", "hi", "dm", "is not an X handle"),
        ("ada", "   ", "dm", "text is required"),
        ("ada", "hi", "retweet", "kind must be dm or mention"),
    ],
)
def test_inbound_events_x_could_not_send_are_refused(
    sandbox_client: SandboxClient, handle: str, text: str, kind: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        sandbox_client.x_inbound(handle, text, kind)


def test_a_dm_without_a_webhook_url_still_lands_in_the_conversation(
    sandbox_client: SandboxClient,
) -> None:
    answer = sandbox_client.x_inbound("@Ada", "Hello?", "dm")
    assert answer["posted"] is False
    [received] = sandbox_client.direct_messages()
    assert (received["direction"], received["text"], received["to"]) == (
        "inbound",
        "Hello?",
        "touchline",
    )
    assert sandbox_client.stats()["accepted"]["x"] == 0  # ours only: none sent
