"""What the Twilio adapters (SMS, WhatsApp) share: the SDK pointed at a base URL, one client
per thread, and the lookup of messages sent before a crash."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels._exception_map import translated_errors
from channels.base import InDoubt, Receipt
from channels.credentials import Credential, current
from channels.errors import LookupIncomplete, TransientChannelError


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends the SDK's requests to a configured base URL instead of *.twilio.com.

    The SDK hard-codes its hosts; rewriting at the HTTP layer keeps every other part of the
    SDK (auth, parameter encoding, error parsing) exactly as in production.
    """

    def __init__(self, base_url: str, timeout: float):
        # requests re-reads the proxy variables from the whole environment on every
        # request (measured: 0.4 ms of CPU per SMS, a third of the client's cost). Every
        # request goes to one base URL, so the proxy is decided once, here.
        host = urlsplit(base_url).hostname or ""
        proxies = {} if proxy_bypass(host) else getproxies()
        super().__init__(
            timeout=timeout, proxy={k: v for k, v in proxies.items() if k in ("http", "https")}
        )
        if self.session is not None:
            self.session.trust_env = False
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ) -> Response:  # type: ignore[no-untyped-def]
        parts = urlsplit(url)
        target = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(
            method, target, params, data, headers, auth, timeout, allow_redirects
        )

    @property
    def last_response_headers(self) -> dict[str, str] | None:
        response = self._test_only_last_response
        return dict(response.headers) if response is not None and response.headers else None


class ThreadClients:
    """One SDK client per thread: the dispatch pool sends from several threads, and a
    requests session is not safe to share between them."""

    def __init__(self, account_sid: str, auth_token: Credential, base_url: str, timeout: float):
        self._args = (account_sid, auth_token, base_url, timeout)
        self._local = threading.local()

    def get(self) -> tuple[Client, BaseUrlHttpClient]:
        sid, auth_token, base_url, timeout = self._args
        token = current(auth_token)
        pair = getattr(self._local, "pair", None)
        # A rotated token (a Prefect Secret block) takes effect at the next request.
        if pair is None or self._local.token != token:
            http = BaseUrlHttpClient(base_url, timeout)
            pair = (Client(sid, token, http_client=http), http)
            self._local.pair, self._local.token = pair, token
        return pair

    def close(self) -> None:
        self._local = threading.local()


def callback_url(base: str | None, touch_id: str) -> str | None:
    """The status callback for one message. The touch id rides on the URL: Twilio's status
    callbacks carry no custom fields, and the signature covers the full URL, so it cannot
    be forged."""
    return f"{base}?{urlencode({'touch_id': touch_id})}" if base else None


def find_listed(
    clients: ThreadClients,
    provider: str,
    in_doubt: Sequence[InDoubt],
    known_ids: frozenset[str],
    *,
    to: Callable[[str], str],
    from_: str,
    digests: Callable[[str], Iterable[str]],
) -> dict[str, Receipt]:
    """List our messages to each in-doubt recipient since the attempt and match the content.

    ``to`` turns the recorded recipient into Twilio's address; ``digests`` gives the
    content digests a listed body can stand for. Twilio's date filter has a granularity of
    a day, hence the margin; a message whose sid is already recorded belongs to another
    touch and is never claimed twice.
    """
    client, http = clients.get()
    claimed = set(known_ids)
    found: dict[str, Receipt] = {}
    for item in in_doubt:
        try:
            with translated_errors(provider, lambda: http.last_response_headers):
                listed = client.messages.list(
                    to=to(item.to),
                    from_=from_,
                    date_sent_after=item.since - timedelta(days=1),
                    limit=200,
                )
        except TransientChannelError as exc:
            raise LookupIncomplete(exc, dict(found)) from exc
        for message in listed:
            if message.sid not in claimed and item.digest in digests(message.body or ""):
                claimed.add(message.sid)
                found[item.touch_id] = Receipt(
                    provider, message.sid, message.status or "queued", {"reconciled": True}
                )
                break
    return found
