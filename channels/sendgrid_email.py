"""Email through SendGrid's v3 Mail Send API, with the official ``sendgrid`` SDK."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import ClassVar

from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Category, CustomArg, From, Header, Mail, To

from channels._exception_map import translated_errors
from channels.base import EmailMessage, InDoubt, Receipt
from channels.credentials import Credential, current
from channels.errors import LookupIncomplete, PermanentChannelError, TransientChannelError


class SendGridEmail:
    name: ClassVar[str] = "email"
    provider: ClassVar[str] = "sendgrid"

    def __init__(
        self,
        *,
        api_key: Credential,
        host: str,
        from_email: str,
        from_name: str | None = None,
        timeout: float = 10.0,
    ):
        self._api_key = api_key
        self._host = host.rstrip("/")
        self._from = From(from_email, from_name)
        self._timeout = timeout
        # python-http-client builds a new urllib opener per request and keeps no shared
        # state worth guarding, but the SDK object is not documented as thread-safe: one
        # per dispatch thread.
        self._local = threading.local()

    def _client(self) -> SendGridAPIClient:
        key = current(self._api_key)
        client = getattr(self._local, "client", None)
        # A rotated key (a Prefect Secret block) takes effect at the next send.
        if client is None or self._local.key != key:
            self._local.key = key
            client = SendGridAPIClient(api_key=key, host=self._host)
            # The SDK sets no timeout at all by default: a stalled connection would hang a
            # dispatch thread forever.
            client.client.timeout = self._timeout
            self._local.client = client
        return client

    def send(self, message: EmailMessage) -> Receipt:
        mail = Mail(
            from_email=self._from,
            to_emails=To(message.to, message.to_name),
            subject=message.subject,
            plain_text_content=message.text,
            html_content=message.html,
        )
        # custom_args come back on every Event Webhook event: that is how an open or a
        # bounce finds its touch.
        mail.custom_arg = [CustomArg("touch_id", message.touch_id)]
        if message.dispatch_id:
            # Findable in the Email Activity API if we die before reading the response.
            mail.custom_arg = [*mail.custom_arg, CustomArg("dispatch_id", message.dispatch_id)]
        if message.tags:
            mail.category = [Category(tag[:255]) for tag in message.tags[:10]]
        if message.headers:
            mail.header = [Header(k, v) for k, v in message.headers.items()]
        try:
            payload = mail.get()
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            # The SDK's helpers fail with bare KeyErrors on addresses they cannot parse.
            raise PermanentChannelError(
                f"the message cannot be built for SendGrid: {type(exc).__name__} {exc}",
                provider=self.provider,
            ) from exc
        with translated_errors(self.provider):
            response = self._client().send(payload)
        message_id = response.headers.get("X-Message-Id") if response.headers else None
        if not message_id:
            # 202 without an id would leave webhooks unmatched; treat it as the anomaly it is.
            raise PermanentChannelError(
                f"accepted with HTTP {response.status_code} but no X-Message-Id",
                provider=self.provider,
            )
        return Receipt(self.provider, message_id, "accepted", {"status_code": response.status_code})

    def find_sent(
        self, in_doubt: Sequence[InDoubt], known_ids: frozenset[str]
    ) -> dict[str, Receipt]:
        """Ask the Email Activity API what each in-doubt attempt delivered to SendGrid.

        One query per attempt (the API allows 6 requests a minute), matched on recipient
        and subject: the activity list does not show custom args, only filters on them.
        An attempt bigger than one page is then asked about touch by touch.
        """
        by_attempt: dict[str, list[InDoubt]] = defaultdict(list)
        for item in in_doubt:
            by_attempt[item.dispatch_id].append(item)
        found: dict[str, Receipt] = {}
        claimed = set(known_ids)
        try:
            for dispatch_id, items in by_attempt.items():
                listed = self._activity(f"unique_args['dispatch_id']=\"{dispatch_id}\"")
                found.update(_match(items, listed, claimed))
                if len(listed) < ACTIVITY_PAGE:
                    continue
                for item in items:
                    if item.touch_id not in found:
                        listed = self._activity(f"unique_args['touch_id']=\"{item.touch_id}\"")
                        found.update(_match([item], listed, claimed))
        except TransientChannelError as exc:
            raise LookupIncomplete(exc, dict(found)) from exc
        return found

    def _activity(self, query: str) -> list[dict[str, object]]:
        with translated_errors(self.provider):
            response = self._client().client.messages.get(
                query_params={"query": query, "limit": ACTIVITY_PAGE}
            )
        return json.loads(response.body or b"{}").get("messages") or []

    def close(self) -> None:
        self._local = threading.local()


ACTIVITY_PAGE = 1000  # the Email Activity API's largest page


def _match(
    items: Sequence[InDoubt], listed: list[dict[str, object]], claimed: set[str]
) -> dict[str, Receipt]:
    """In-doubt sends found in an activity listing, by recipient and subject; a message
    id already claimed (recorded, or matched just now) is never given to a second touch."""
    found: dict[str, Receipt] = {}
    for item in items:
        for entry in listed:
            # msg_id is the X-Message-Id we would have recorded, plus a suffix naming
            # SendGrid's filter server.
            message_id = str(entry.get("msg_id", "")).split(".")[0]
            if (
                message_id not in claimed
                and str(entry.get("to_email", "")).lower() == item.to.lower()
                and _digest(str(entry.get("subject", ""))) == item.digest
            ):
                claimed.add(message_id)
                found[item.touch_id] = Receipt(
                    "sendgrid", message_id, "accepted", {"reconciled": True}
                )
                break
    return found


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
