"""SMS through Twilio's Programmable Messaging API, with the official ``twilio`` SDK."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import ClassVar

from channels._exception_map import translated_errors
from channels._twilio import BaseUrlHttpClient, ThreadClients, callback_url, find_listed
from channels.base import InDoubt, Receipt, SmsMessage
from channels.credentials import Credential

__all__ = ["BaseUrlHttpClient", "TwilioSms"]


class TwilioSms:
    name: ClassVar[str] = "sms"
    provider: ClassVar[str] = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: Credential,
        base_url: str,
        from_number: str,
        status_callback_url: str | None = None,
        timeout: float = 10.0,
    ):
        self._from = from_number
        self._status_callback = status_callback_url
        self._clients = ThreadClients(account_sid, auth_token, base_url, timeout)

    def send(self, message: SmsMessage) -> Receipt:
        client, http = self._clients.get()
        kwargs = {"to": message.to, "from_": self._from, "body": message.body}
        if callback := callback_url(self._status_callback, message.touch_id):
            kwargs["status_callback"] = callback
        with translated_errors(self.provider, lambda: http.last_response_headers):
            created = client.messages.create(**kwargs)
        return Receipt(
            self.provider,
            created.sid,
            created.status or "queued",
            {"num_segments": created.num_segments},
        )

    def find_sent(
        self, in_doubt: Sequence[InDoubt], known_ids: frozenset[str]
    ) -> dict[str, Receipt]:
        """Our messages to each in-doubt recipient since the attempt, matched by body."""
        return find_listed(
            self._clients,
            self.provider,
            in_doubt,
            known_ids,
            to=lambda number: number,
            from_=self._from,
            digests=lambda body: (hashlib.sha256(body.encode()).hexdigest(),),
        )

    def close(self) -> None:
        self._clients.close()
