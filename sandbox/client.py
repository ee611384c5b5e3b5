"""A small client for the sandbox control API (any emulator port answers it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx


class SandboxClient:
    def __init__(self, base_url: str, timeout: float = 120.0):
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._http.post(path, json=body)
        if response.status_code == 400:
            raise ValueError(response.json().get("error", response.text))
        response.raise_for_status()
        return response.json()

    def emails(self, *, touch_id: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        return self._get("/_sandbox/emails", touch_id=touch_id, to=to)

    def sms(self, *, touch_id: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        return self._get("/_sandbox/sms", touch_id=touch_id, to=to)

    def direct_messages(
        self, *, touch_id: str | None = None, to: str | None = None
    ) -> list[dict[str, Any]]:
        """X DM events, ours and the customers' (``direction``), oldest first."""
        return self._get("/_sandbox/x/direct_messages", touch_id=touch_id, to=to)

    def x_inbound(self, from_handle: str, text: str, kind: str = "dm") -> dict[str, Any]:
        """Have X post a signed Account Activity event (a DM to us, or a mention of us)
        to ``x_webhook_url``; returns the webhook's answer."""
        return self._post(
            "/_sandbox/x/inbound", {"from_handle": from_handle, "text": text, "kind": kind}
        )

    def request_log(self) -> list[dict[str, Any]]:
        """Each send request's arrival and answer (epoch seconds) and status."""
        return self._get("/_sandbox/requests")

    def stats(self) -> dict[str, Any]:
        return self._get("/_sandbox/stats")

    def config(self) -> dict[str, Any]:
        return self._get("/_sandbox/config")

    def configure(self, **settings: Any) -> dict[str, Any]:
        return self._post("/_sandbox/config", settings)

    def reset(self) -> None:
        self._post("/_sandbox/reset", {})

    def set_time(self, moment: datetime) -> int:
        """Move sandbox time; returns how many webhooks became due and were posted."""
        return self._post("/_sandbox/clock", {"now": moment.isoformat()})["posted"]

    def release_time(self) -> None:
        self._post("/_sandbox/clock", {"release": True})

    def faults(self, provider: str, **plan: Any) -> dict[str, Any]:
        return self._post(f"/_sandbox/faults/{provider}", plan)

    def engagement(self, **model: Any) -> dict[str, Any]:
        return self._post("/_sandbox/engagement", model)

    def suppress(
        self,
        *,
        emails: list[str] = (),
        numbers: list[str] = (),
        reason: str = "Unsubscribed Address",
    ) -> None:  # type: ignore[assignment]
        self._post(
            "/_sandbox/suppressions",
            {"emails": list(emails), "numbers": list(numbers), "reason": reason},
        )

    def whatsapp_inbound(
        self, sender: str, body: str, *, to: str | None = None, profile_name: str | None = None
    ) -> dict[str, Any]:
        """The customer ``sender`` (E.164) writes ``body`` to our WhatsApp sender: their
        session window opens and the signed webhook goes to the configured inbound URL.
        Returns the message sid, whether the webhook was accepted and the TwiML replies."""
        return self._post(
            "/_sandbox/whatsapp/inbound",
            {"from": sender, "body": body, "to": to, "profile_name": profile_name},
        )

    def sms_inbound(self, sender: str, body: str, *, to: str | None = None) -> dict[str, Any]:
        """The customer ``sender`` (E.164) texts ``body`` to our number (sandbox.customer_texts):
        Twilio's opt-out list, the signed webhook to the inbound URL, the TwiML replies."""
        return self._post("/_sandbox/sms/inbound", {"from": sender, "body": body, "to": to})

    def close(self) -> None:
        self._http.close()
