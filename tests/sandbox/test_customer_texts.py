"""The sandbox's customer texting our number (POST /_sandbox/sms/inbound): what it refuses,
and what it does with no inbound URL — Twilio's opt-out list still learns a STOP."""

from __future__ import annotations

import httpx

from sandbox import SandboxClient, SandboxServer


def test_messy_requests_get_a_clear_400(emulators: SandboxServer) -> None:
    url = f"{emulators.twilio_url}/_sandbox/sms/inbound"
    for body in (
        {"from": "not a number", "body": "STOP"},
        {"from": "+14155550100", "body": "x" * 1601},
        {"from": "+14155550100", "body": 12},
        {"from": "+14155550100", "body": "STOP", "to": "+19999999999"},
        [],
    ):
        response = httpx.post(url, json=body)
        assert response.status_code == 400 and response.json()["error"], body
    assert httpx.post(url, content=b"{nope", headers={"content-type": "application/json"}
                      ).status_code == 400  # fmt: skip


def test_without_an_inbound_url_nothing_is_posted_but_twilio_still_blocks_the_number(
    emulators: SandboxServer, sandbox_client: SandboxClient
) -> None:
    result = sandbox_client.sms_inbound("+14155550100", " stop ")
    assert result["opted_out"] and not result["posted"] and result["replies"] == []
    assert sandbox_client.stats()["webhooks"]["twilio_inbound_no_url"] == 1
    assert "+14155550100" in emulators.sandbox.sms_opted_out
    # Twilio matches single words only: "stop please" is Touchline's to read, not Twilio's.
    assert not sandbox_client.sms_inbound("+14155550101", "stop please")["opted_out"]
    assert not sandbox_client.sms_inbound("+14155550100", "UNSTOP")["opted_out"]
