"""X direct messages through X API v2, with the ``tweepy`` SDK (``tweepy.Client``).

A DM goes to a user id, not a handle: the handle is looked up once
(``GET /2/users/by/username/:username``) and the id kept for the adapter's life, then
``POST /2/dm_conversations/with/:participant_id/messages`` sends it. DMs need user context,
so requests are signed with OAuth 1.0a (consumer key and secret + our account's access
token and secret); app-only bearer tokens cannot send them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import tweepy
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from channels._exception_map import translated_errors
from channels.base import DirectMessage, InDoubt, Receipt
from channels.credentials import Credential, current
from channels.errors import LookupIncomplete, PermanentChannelError, TransientChannelError

# Where tweepy sends every request: BaseClient.request hard-codes this host.
TWEEPY_HOST = "https://api.twitter.com"
# DMs carry no metadata of ours. X ignores request headers it does not know; the emulator
# reads this one to count attempts per touch, as SendGrid's custom args and Twilio's
# callback URL let it do for email and SMS.
TOUCH_HEADER = "X-Touchline-Touch-Id"
DM_EVENT_FIELDS = ["id", "event_type", "text", "sender_id", "dm_conversation_id", "created_at"]
LOOKUP_PAGE = 100  # the DM events lookup's largest page
LOOKUP_PAGES = 10  # 1,000 events back per recipient is far more than one attempt's window
# Clocks differ: look a little further back than the attempt started.
LOOKUP_MARGIN = timedelta(minutes=5)


class BaseUrlAdapter(HTTPAdapter):
    """Sends what tweepy addresses to https://api.twitter.com to a configured base URL.

    tweepy has no option for its host. Of the ways to change it, this is the narrowest:
    overriding ``Client.request`` would mean copying tweepy's status handling (its error
    classes, rate-limit parsing); a transport adapter mounted on the client's own
    ``requests`` session leaves all of that as in production, including the OAuth 1.0a
    signature, which keeps covering the https://api.twitter.com URL X itself verifies.
    Only the connection goes elsewhere. It also gives every request a timeout, which
    tweepy never sets (a stalled connection would hang a dispatch thread forever).
    """

    def __init__(self, base_url: str, timeout: float):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # The session does not read the environment (trust_env off: it would look up
        # proxies for api.twitter.com on every request); the proxy for the real
        # destination is decided once, here.
        host = urlsplit(base_url).hostname or ""
        proxies = {} if proxy_bypass(host) else getproxies()
        self.proxies = {k: v for k, v in proxies.items() if k in ("http", "https")}

    def send(  # type: ignore[override]
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        parts = urlsplit(request.url or "")
        request.url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(
            request,
            stream=stream,
            timeout=timeout or self.timeout,
            verify=verify,
            cert=cert,
            proxies=self.proxies,
        )


class XDirectMessages:
    name: ClassVar[str] = "x"
    provider: ClassVar[str] = "x"

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: Credential,
        access_token: str,
        access_token_secret: Credential,
        base_url: str,
        timeout: float = 10.0,
    ):
        self._credentials = (consumer_key, consumer_secret, access_token, access_token_secret)
        self._base_url = base_url
        self._timeout = timeout
        # A requests session is not documented as thread-safe: one client per dispatch
        # thread. The handle -> user id cache is shared (ids never change; a dict's get and
        # set are atomic under the GIL, and a race costs one extra lookup).
        self._local = threading.local()
        self._user_ids: dict[str, str] = {}

    def _client(self) -> tweepy.Client:
        key, secret_source, token, token_secret_source = self._credentials
        secret, token_secret = current(secret_source), current(token_secret_source)
        client = getattr(self._local, "client", None)
        # Rotated secrets (Prefect Secret blocks) take effect at the next request.
        if client is None or self._local.secrets != (secret, token_secret):
            self._local.secrets = (secret, token_secret)
            client = tweepy.Client(
                consumer_key=key,
                consumer_secret=secret,
                access_token=token,
                access_token_secret=token_secret,
                # Never sleep through a rate limit inside a dispatch thread: the error goes
                # up with its reset time and the dispatcher decides.
                wait_on_rate_limit=False,
            )
            client.session.trust_env = False
            client.session.mount(TWEEPY_HOST, BaseUrlAdapter(self._base_url, self._timeout))
            self._local.client = client
        return client

    def send(self, message: DirectMessage) -> Receipt:
        client = self._client()
        with translated_errors(self.provider):
            participant = self._user_id(client, message.to)
            client.session.headers[TOUCH_HEADER] = message.touch_id
            try:
                response = client.create_direct_message(
                    participant_id=participant, text=message.text, user_auth=True
                )
            finally:
                client.session.headers.pop(TOUCH_HEADER, None)
        data = response.data or {}
        event_id = data.get("dm_event_id")
        if not event_id:
            # Sent or not, without the event id nothing could find it again: an anomaly.
            raise PermanentChannelError(
                f"accepted without a dm_event_id: {response.errors or data}",
                provider=self.provider,
            )
        return Receipt(
            self.provider,
            str(event_id),
            "sent",
            {"dm_conversation_id": data.get("dm_conversation_id"), "participant_id": participant},
        )

    def _user_id(self, client: tweepy.Client, handle: str) -> str:
        username = handle.strip().lstrip("@").lower()
        cached = self._user_ids.get(username)
        if cached is not None:
            return cached
        response = client.get_user(username=username, user_auth=True)
        if response.data is None:
            # X answers 200 with an ``errors`` list for a user that does not exist or is
            # suspended: this message will never go.
            problem = (response.errors or [{}])[0]
            raise PermanentChannelError(
                str(problem.get("detail") or f"no X user @{username}"),
                provider=self.provider,
                code=str(problem.get("type", "")).rsplit("/", 1)[-1] or None,
                status=200,
            )
        user_id = str(response.data.id)
        self._user_ids[username] = user_id
        return user_id

    def find_sent(
        self, in_doubt: Sequence[InDoubt], known_ids: frozenset[str]
    ) -> dict[str, Receipt]:
        """Look through our DM conversation with each in-doubt recipient
        (``GET /2/dm_conversations/with/:participant_id/dm_events``, newest first, back to
        the attempt) for a message of ours with the same text. An event id already recorded
        belongs to another touch and is never claimed twice.
        """
        client = self._client()
        claimed = set(known_ids)
        found: dict[str, Receipt] = {}
        for item in in_doubt:
            try:
                with translated_errors(self.provider):
                    participant = self._user_id(client, item.to)
                    receipt = self._find_one(client, item, participant, claimed)
            except PermanentChannelError:
                continue  # the recipient does not exist: nothing can have reached them
            except TransientChannelError as exc:
                raise LookupIncomplete(exc, dict(found)) from exc
            if receipt is not None:
                claimed.add(receipt.provider_message_id)
                found[item.touch_id] = receipt
        return found

    def _find_one(
        self, client: tweepy.Client, item: InDoubt, participant: str, claimed: set[str]
    ) -> Receipt | None:
        oldest = item.since - LOOKUP_MARGIN
        token: str | None = None
        for _ in range(LOOKUP_PAGES):
            response = client.get_direct_message_events(
                participant_id=participant,
                event_types="MessageCreate",
                dm_event_fields=DM_EVENT_FIELDS,
                max_results=LOOKUP_PAGE,
                pagination_token=token,
                user_auth=True,
            )
            events = response.data or []
            for event in events:
                if event.created_at is not None and event.created_at < oldest:
                    return None
                if (
                    str(event.sender_id) != participant  # ours, not theirs
                    and str(event.id) not in claimed
                    and _digest(event.text or "") == item.digest
                ):
                    return Receipt(
                        self.provider,
                        str(event.id),
                        "sent",
                        {"dm_conversation_id": event.dm_conversation_id, "reconciled": True},
                    )
            token = (response.meta or {}).get("next_token")
            if not token:
                return None
        return None

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.session.close()
        self._local = threading.local()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
