"""WhatsApp through Twilio's Programmable Messaging API, with the official ``twilio`` SDK.

The same Messages resource as SMS, with ``whatsapp:`` addresses. WhatsApp's rule decides
the form: free text (``Body``) only inside the customer's 24-hour session window (opened by
their last message to us); outside it, only a template WhatsApp approved, sent by its
Content SID (``ContentSid``) with its variables as a JSON string (``ContentVariables``).
Which form to use is the caller's decision (it knows the window); Twilio refuses free text
outside the window with 63016, which the exception map makes permanent for that message.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import ClassVar

from channels._exception_map import translated_errors
from channels._twilio import ThreadClients, callback_url, find_listed
from channels.base import InDoubt, Receipt, WhatsAppMessage, content_digest
from channels.credentials import Credential
from channels.errors import PermanentChannelError

PREFIX = "whatsapp:"
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def address(number: str) -> str:
    """Twilio's WhatsApp address of an E.164 number (idempotent)."""
    return number if number.startswith(PREFIX) else f"{PREFIX}{number}"


class TwilioWhatsApp:
    name: ClassVar[str] = "whatsapp"
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
        self._from = address(from_number)
        self._status_callback = status_callback_url
        self._clients = ThreadClients(account_sid, auth_token, base_url, timeout)

    def send(self, message: WhatsAppMessage) -> Receipt:
        if (message.body is None) == (message.content_sid is None):
            raise PermanentChannelError(
                "a WhatsApp message needs either a body (inside the session window) or an "
                "approved template's content_sid, not both and not neither",
                provider=self.provider,
            )
        client, http = self._clients.get()
        kwargs: dict[str, str] = {"to": address(message.to), "from_": self._from}
        if message.content_sid is not None:
            kwargs["content_sid"] = message.content_sid
            if message.content_variables:
                # Twilio takes the variables as one JSON string, keyed by placeholder.
                kwargs["content_variables"] = json.dumps(
                    dict(message.content_variables), ensure_ascii=False, separators=(",", ":")
                )
        else:
            assert message.body is not None
            kwargs["body"] = message.body
        if callback := callback_url(self._status_callback, message.touch_id):
            kwargs["status_callback"] = callback
        with translated_errors(self.provider, lambda: http.last_response_headers):
            created = client.messages.create(**kwargs)
        detail = {"content_sid": message.content_sid} if message.content_sid else {}
        return Receipt(self.provider, created.sid, created.status or "queued", detail)

    def find_sent(
        self, in_doubt: Sequence[InDoubt], known_ids: frozenset[str]
    ) -> dict[str, Receipt]:
        """Our messages to each in-doubt recipient since the attempt, matched by content.

        Free text is matched by its body. A template message is listed with the text
        Twilio rendered from the approved template, and the Message resource does not say
        which template it was: so the account's templates are read from the Content API
        and the body is matched back against each one to recover the variables.
        """
        templates = self._approved_texts()

        def digests(body: str) -> set[str]:
            found = {hashlib.sha256(body.encode()).hexdigest()}
            for sid, text in templates:
                variables = _variables_in(text, body)
                if variables is not None:
                    found.add(
                        content_digest(
                            WhatsAppMessage("", "", content_sid=sid, content_variables=variables)
                        )
                    )
            return found

        return find_listed(
            self._clients,
            self.provider,
            in_doubt,
            known_ids,
            to=address,
            from_=self._from,
            digests=digests,
        )

    def _approved_texts(self) -> list[tuple[str, str]]:
        """(content sid, text with {{n}} placeholders) of every text template."""
        client, http = self._clients.get()
        with translated_errors(self.provider, lambda: http.last_response_headers):
            contents = client.content.v1.contents.list(limit=1000)
        found = []
        for content in contents:
            text = (content.types or {}).get("twilio/text", {}).get("body")
            if content.sid and text:
                found.append((content.sid, text))
        return found

    def close(self) -> None:
        self._clients.close()


def _variables_in(template: str, body: str) -> dict[str, str] | None:
    """The variables that make ``template`` render as ``body``, or None if it cannot."""
    pattern, names, seen = [], [], set()
    position = 0
    for match in PLACEHOLDER.finditer(template):
        pattern.append(re.escape(template[position : match.start()]))
        name = match.group(1)
        if name in seen:
            pattern.append(f"(?P={_group(name)})")
        else:
            seen.add(name)
            names.append(name)
            pattern.append(f"(?P<{_group(name)}>.+?)")
        position = match.end()
    pattern.append(re.escape(template[position:]))
    found = re.fullmatch("".join(pattern), body, re.DOTALL)
    if found is None:
        return None
    return {name: found.group(_group(name)) for name in names}


def _group(name: str) -> str:
    return f"v_{name}"
