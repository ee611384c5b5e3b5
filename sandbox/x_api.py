"""A faithful subset of X API v2 for direct messages, and X's Account Activity webhooks.

Endpoints (what ``tweepy.Client`` calls for them):

    GET  /2/users/by/username/:username                      get_user(username=…)
    POST /2/dm_conversations/with/:participant_id/messages   create_direct_message(…)
    GET  /2/dm_events                                        get_direct_message_events()
    GET  /2/dm_conversations/with/:participant_id/dm_events  …(participant_id=…)

As X does: OAuth 1.0a user context, the signature checked (RFC 5849, HMAC-SHA1, over the
URL X itself serves, https://api.twitter.com/…; 401 otherwise); problem-document error
bodies; ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` on every answer and 429 past
the per-15-minutes limit of each endpoint; a user that does not exist comes back as
200 with an ``errors`` list (not 404); a user whose DM settings refuse us gets 403 with
code 349. User ids are numbers derived from the handle, so the same handle always has the
same id, in lookups and in webhooks.

Written from X's documentation, independently of tweepy and of Touchline's verifier.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.state import Sandbox

API_HOST = "https://api.twitter.com"  # the URL OAuth signatures cover in production
TOUCH_HEADER = "x-touchline-touch-id"  # sent by Touchline's adapter; X ignores it
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
USER_ID = re.compile(r"^[0-9]{1,19}$")
WINDOW_SECONDS = 15 * 60
MAX_DM_TEXT = 10_000
TIMESTAMP_TOLERANCE = 300  # seconds of clock difference an OAuth timestamp may have
EVENTS_KEPT = timedelta(days=30)  # the DM events lookup reaches 30 days back
TWITTER_EPOCH_MS = 1288834974657  # snowflake ids count from here
_sequence = itertools.count()


# --- ids and users -------------------------------------------------------------------------


def account_id(sandbox: Sandbox) -> str:
    """Our account: an X access token starts with its owner's user id."""
    return sandbox.config.x_access_token.split("-", 1)[0]


def user_id(sandbox: Sandbox, handle: str) -> str:
    handle = handle.lower()
    if handle == sandbox.config.x_account_handle.lower():
        return account_id(sandbox)
    digest = hashlib.sha256(f"x-user:{handle}".encode()).digest()
    return str(10**17 + int.from_bytes(digest[:8], "big") % (9 * 10**17))


def remember_user(sandbox: Sandbox, handle: str) -> str:
    uid = user_id(sandbox, handle)
    sandbox.x_users[uid] = handle.lower()
    return uid


def snowflake(moment: datetime) -> str:
    millis = int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS
    return str((millis << 22) | (next(_sequence) % (1 << 22)))


def conversation_id(a: str, b: str) -> str:
    low, high = sorted((a, b), key=int)
    return f"{low}-{high}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- answers -------------------------------------------------------------------------------


def problem(
    status: int, title: str, detail: str, kind: str = "about:blank", **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "type": kind, "status": status, **extra},
        status_code=status,
    )


def invalid_request(parameter: str, value: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status_code=400,
    )


def unauthorized() -> JSONResponse:
    return problem(401, "Unauthorized", "Unauthorized")


# --- OAuth 1.0a (RFC 5849) -----------------------------------------------------------------


def _enc(value: str) -> str:
    return quote(value, safe="~")  # RFC 3986 unreserved characters stay as they are


def oauth_signature(
    method: str,
    url: str,
    params: list[tuple[str, str]],
    consumer_secret: str,
    token_secret: str,
) -> str:
    normalised = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in params))
    base = "&".join((method.upper(), _enc(url), _enc(normalised)))
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()


def _oauth_params(header: str) -> dict[str, str] | None:
    if not header.startswith("OAuth "):
        return None
    params: dict[str, str] = {}
    for part in header[len("OAuth ") :].split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        params[unquote(name)] = unquote(value.strip('"'))
    return params


class OAuthVerifier:
    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox
        self.nonces: deque[tuple[str, str]] = deque(maxlen=10_000)

    def check(self, request: Request, body: bytes) -> bool:
        config = self.sandbox.config
        oauth = _oauth_params(request.headers.get("authorization", ""))
        if oauth is None:
            return False
        signature = oauth.pop("oauth_signature", "")
        oauth.pop("realm", None)
        try:
            stamp = int(oauth.get("oauth_timestamp", ""))
        except ValueError:
            return False
        nonce = (oauth.get("oauth_nonce", ""), oauth.get("oauth_timestamp", ""))
        if (
            oauth.get("oauth_consumer_key") != config.x_consumer_key
            or oauth.get("oauth_token") != config.x_access_token
            or oauth.get("oauth_signature_method") != "HMAC-SHA1"
            or oauth.get("oauth_version", "1.0") != "1.0"
            or not nonce[0]
            or abs(time.time() - stamp) > TIMESTAMP_TOLERANCE
            or nonce in self.nonces  # a replayed request
        ):
            return False
        params = list(parse_qsl(request.url.query, keep_blank_values=True))
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params += parse_qsl(body.decode(), keep_blank_values=True)
        params += list(oauth.items())
        # The signature covers the URL the client addressed. In production that is
        # api.twitter.com; a client pointed at this emulator directly signs our own URL.
        own = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        for url in (API_HOST + request.url.path, own):
            expected = oauth_signature(
                request.method, url, params, config.x_consumer_secret, config.x_access_token_secret
            )
            if hmac.compare_digest(expected, signature):
                self.nonces.append(nonce)
                return True
        return False


# --- rate limits ---------------------------------------------------------------------------


def _take(sandbox: Sandbox, endpoint: str) -> tuple[bool, dict[str, str]]:
    """One request against the endpoint's 15-minute window (per user: we are one user).
    The window is wall-clock time, as the client computes its wait from its own clock."""
    limit = sandbox.config.x_rate_limits.get(endpoint, 0)
    now = time.time()
    reset, used = sandbox.x_rate_windows.get(endpoint, (0, 0))
    if now >= reset:
        reset, used = int(now) + WINDOW_SECONDS, 0
    allowed = not limit or used < limit
    if allowed:
        used += 1
    sandbox.x_rate_windows[endpoint] = (reset, used)
    headers = {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(max(0, limit - used)),
        "x-rate-limit-reset": str(reset),
    }
    return allowed, headers


def too_many_requests(headers: dict[str, str]) -> JSONResponse:
    response = problem(429, "Too Many Requests", "Too Many Requests")
    response.headers.update({**headers, "x-rate-limit-remaining": "0"})
    return response


# --- the API -------------------------------------------------------------------------------

Handler = Callable[[Request, bytes], Awaitable[Response]]


def routes(sandbox: Sandbox) -> list[Route]:
    oauth = OAuthVerifier(sandbox)

    def endpoint(name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Faults, OAuth and the endpoint's rate limit, in the order X applies them."""

        async def wrapped(request: Request) -> Response:
            body = await request.body()  # a real server has the request before it is slow
            faults = sandbox.faults["x"]
            fault, delay = faults.decide()
            if delay:
                await asyncio.sleep(delay)
            if fault in ("429", "rate_limit"):
                sandbox.count_attempt("x", None)
                return too_many_requests(_take(sandbox, name)[1])
            if fault == "error":
                sandbox.count_attempt("x", None)
                phrase = HTTPStatus(faults.plan.error_status).phrase
                return problem(faults.plan.error_status, phrase, phrase)
            if not oauth.check(request, body):
                return unauthorized()
            allowed, headers = _take(sandbox, name)
            if not allowed:
                return too_many_requests(headers)
            response = await handler(request, body)
            response.headers.update(headers)
            return response

        return wrapped

    async def user_by_username(request: Request, _: bytes) -> Response:
        username = request.path_params["username"]
        if not HANDLE.match(username):
            return invalid_request(
                "username",
                username,
                f"The `username` query parameter value [{username}] does not match ^[A-Za-z0-9_]{{1,15}}$",
            )
        if username.lower() in {h.lower() for h in sandbox.config.x_missing_handles}:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "value": username,
                            "detail": f"Could not find user with username: [{username}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "username",
                            "resource_id": username,
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                }
            )
        uid = remember_user(sandbox, username)
        return JSONResponse({"data": _user(uid, username.lower())})

    async def create_dm(request: Request, body: bytes) -> Response:
        touch_id = request.headers.get(TOUCH_HEADER)
        sandbox.count_attempt("x", touch_id)
        participant = request.path_params["participant_id"]
        if not USER_ID.match(participant):
            return invalid_request(
                "participant_id",
                participant,
                f"The `participant_id` path parameter value [{participant}] is not valid",
            )
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return problem(400, "Invalid Request", "Request body is not valid JSON.",
                           "https://api.twitter.com/2/problems/invalid-request")  # fmt: skip
        text = data.get("text") if isinstance(data, dict) else None
        if not text and not (isinstance(data, dict) and data.get("attachments")):
            return invalid_request("text", "", "One of text or attachments is required.")
        if text and len(text) > MAX_DM_TEXT:
            return invalid_request(
                "text", text[:20], f"The text must be at most {MAX_DM_TEXT} characters long."
            )
        handle = sandbox.x_users.get(participant)
        if handle is None:
            return invalid_request(
                "participant_id", participant, f"[{participant}] is not a valid user id."
            )
        ours = account_id(sandbox)
        if participant == ours or handle in {h.lower() for h in sandbox.config.x_closed_dm_handles}:
            # X's DM settings: the user accepts messages only from people they follow.
            return JSONResponse(
                {
                    "errors": [{"code": 349, "message": "You cannot send messages to this user."}],
                    "title": "Forbidden",
                    "detail": "You cannot send messages to this user.",
                    "type": "about:blank",
                    "status": 403,
                },
                status_code=403,
            )
        now = sandbox.clock.now()
        event = {
            "id": snowflake(now),
            "event_type": "MessageCreate",
            "text": text if sandbox.config.keep_bodies else "",
            "sender_id": ours,
            "dm_conversation_id": conversation_id(ours, participant),
            "created_at": _iso(now),
            "_to": handle,
            "_touch_id": touch_id,
            "_direction": "outbound",
            "_at": now,
        }
        sandbox.direct_messages.append(event)
        sandbox.count_accepted("x", touch_id)
        return JSONResponse(
            {
                "data": {
                    "dm_conversation_id": event["dm_conversation_id"],
                    "dm_event_id": event["id"],
                }
            },
            status_code=201,
        )

    async def dm_events(request: Request, _: bytes) -> Response:
        query = request.query_params
        try:
            size = int(query.get("max_results", "100"))
        except ValueError:
            size = 0
        if not 1 <= size <= 100:
            return invalid_request(
                "max_results", query.get("max_results", ""),
                "The `max_results` query parameter value is not between 1 and 100",
            )  # fmt: skip
        types = set((query.get("event_types") or "MessageCreate").split(","))
        fields = {"id", "event_type", "text"} | set(
            filter(None, (query.get("dm_event.fields") or "").split(","))
        )
        ours = account_id(sandbox)
        participant = request.path_params.get("participant_id")
        wanted = conversation_id(ours, participant) if participant else None
        oldest = sandbox.clock.now() - EVENTS_KEPT
        matching = [
            e for e in reversed(sandbox.direct_messages)
            if e["event_type"] in types and e["_at"] >= oldest
            and (wanted is None or e["dm_conversation_id"] == wanted)
        ]  # fmt: skip
        try:
            start = int(query.get("pagination_token") or 0)
        except ValueError:
            return invalid_request(
                "pagination_token", query["pagination_token"], "Invalid pagination token"
            )
        page = matching[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if start + size < len(matching):
            meta["next_token"] = str(start + size)
        if not page:
            return JSONResponse({"meta": meta})
        return JSONResponse(
            {"data": [{k: v for k, v in e.items() if k in fields} for e in page], "meta": meta}
        )

    dm_path = "/2/dm_conversations/with/{participant_id}"
    return [
        Route("/2/users/by/username/{username}", endpoint("users_by_username", user_by_username), methods=["GET"]),
        Route(f"{dm_path}/messages", endpoint("dm_create", create_dm), methods=["POST"]),
        Route("/2/dm_events", endpoint("dm_events", dm_events), methods=["GET"]),
        Route(f"{dm_path}/dm_events", endpoint("dm_events", dm_events), methods=["GET"]),
    ]  # fmt: skip


def _user(uid: str, handle: str) -> dict[str, str]:
    return {"id": uid, "name": handle.replace("_", " ").title(), "username": handle}


def public(event: dict[str, Any]) -> dict[str, Any]:
    """A stored DM event for the inspection API (our bookkeeping without underscores)."""
    return {k.lstrip("_"): v for k, v in event.items() if k != "_at"}


# --- Account Activity: the webhooks X posts ------------------------------------------------


def webhook_signature(consumer_secret: str, payload: bytes) -> str:
    """``sha256=`` + base64 HMAC-SHA256 of the raw body, keyed with the consumer secret."""
    digest = hmac.new(consumer_secret.encode(), payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def activity_payload(sandbox: Sandbox, from_handle: str, text: str, kind: str) -> dict[str, Any]:
    """What Account Activity posts for a DM to us or a Tweet mentioning us."""
    handle = from_handle.strip().lstrip("@").lower()
    if not HANDLE.match(handle):
        raise ValueError(f"'{from_handle}' is not an X handle")
    if not text.strip():
        raise ValueError("text is required")
    ours, our_handle = account_id(sandbox), sandbox.config.x_account_handle
    sender = remember_user(sandbox, handle)
    now = sandbox.clock.now()
    if kind == "dm":
        event_id = snowflake(now)
        sandbox.direct_messages.append({
            "id": event_id, "event_type": "MessageCreate", "text": text, "sender_id": sender,
            "dm_conversation_id": conversation_id(ours, sender), "created_at": _iso(now),
            "_to": our_handle.lower(), "_touch_id": None, "_direction": "inbound", "_at": now,
        })  # fmt: skip
        return {
            "for_user_id": ours,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event_id,
                    "created_timestamp": str(int(now.timestamp() * 1000)),
                    "message_create": {
                        "target": {"recipient_id": ours},
                        "sender_id": sender,
                        "message_data": {"text": text, "entities": _no_entities()},
                    },
                }
            ],
            "users": {
                sender: _legacy_user(sender, handle, now),
                ours: _legacy_user(ours, our_handle, now),
            },
        }
    if kind == "mention":
        mention = f"@{our_handle}"
        body = text if mention.lower() in text.lower() else f"{mention} {text}"
        start = body.lower().index(mention.lower())
        tweet_id = snowflake(now)
        entities = _no_entities()
        entities["user_mentions"] = [
            {"screen_name": our_handle, "name": our_handle.title(), "id": int(ours),
             "id_str": ours, "indices": [start, start + len(mention)]}
        ]  # fmt: skip
        user = _legacy_user(sender, handle, now)
        return {
            "for_user_id": ours,
            "user_has_blocked": False,
            "tweet_create_events": [
                {
                    "created_at": now.strftime("%a %b %d %H:%M:%S +0000 %Y"),  # X's v1.1 format
                    "id": int(tweet_id),
                    "id_str": tweet_id,
                    "text": body,
                    "source": '<a href="https://x.com" rel="nofollow">X Web App</a>',
                    "truncated": False,
                    "in_reply_to_status_id": None,
                    "in_reply_to_status_id_str": None,
                    "in_reply_to_user_id": None,
                    "in_reply_to_user_id_str": None,
                    "in_reply_to_screen_name": None,
                    "user": {**user, "id": int(sender), "id_str": sender},
                    "entities": entities,
                    "lang": "en",
                }
            ],
        }
    raise ValueError(f"kind must be dm or mention, not '{kind}'")


def _no_entities() -> dict[str, list[Any]]:
    return {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}


def _legacy_user(uid: str, handle: str, now: datetime) -> dict[str, Any]:
    return {
        "id": uid,
        "created_timestamp": str(int((now - timedelta(days=400)).timestamp() * 1000)),
        "name": handle.replace("_", " ").title(),
        "screen_name": handle,
        "protected": False,
        "verified": False,
        "followers_count": 0,
        "friends_count": 0,
        "statuses_count": 0,
    }


async def post_inbound(
    sandbox: Sandbox, client: httpx.AsyncClient, from_handle: str, text: str, kind: str
) -> dict[str, Any]:
    """Post one signed Account Activity event to the configured webhook URL, as X would
    when a customer DMs us or mentions us. Raises ValueError for what X would not accept
    (not a handle, no text, an unknown kind)."""
    payload = json.dumps(
        activity_payload(sandbox, from_handle, text, kind), separators=(",", ":")
    ).encode()
    url = sandbox.config.x_webhook_url
    if not url:
        # The DM or Tweet exists on X all the same; nobody subscribed to hear of it.
        sandbox.webhooks["x_no_url"] += 1
        return {"posted": False, "status": None, "response": "no x_webhook_url configured"}
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "X-Webhooks/1.0",
        SIGNATURE_HEADER: webhook_signature(sandbox.config.x_consumer_secret, payload),
    }
    try:
        response = await client.post(url, content=payload, headers=headers)
    except httpx.HTTPError as exc:
        sandbox.webhooks["x_failed"] += 1
        return {"posted": False, "error": str(exc)}
    sandbox.webhooks["x_posted" if response.status_code < 300 else "x_failed"] += 1
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return {
        "posted": response.status_code < 300,
        "status": response.status_code,
        "response": answer,
    }
