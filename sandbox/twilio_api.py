"""A faithful subset of Twilio's Programmable Messaging API (2010-04-01 Messages).

Create (form-encoded POST), fetch and list, with HTTP Basic auth (401 / 20003), Twilio's
error body ``{"code", "message", "more_info", "status"}``, 429 / 20429 when too many
requests arrive, and Twilio's magic test numbers:

    From +15005550006   a valid sender            To +15005550001  21211 invalid number
    To   +15005550002   21612 cannot route        To +15005550003  21408 no permission
    To   +15005550004   21610 unsubscribed        To +15005550009  21614 not a mobile

WhatsApp goes through the same Messages resource with ``whatsapp:`` addresses: the From
must be one of the account's WhatsApp senders (63007), free text (``Body``) is refused
outside the recipient's 24-hour session window (63016), and a template is sent by its
``ContentSid`` (21655 if the account has no such approved template) with
``ContentVariables`` as a JSON object (21656), rendered into the message body as Twilio
does. The Content API (``GET /v1/Content``) lists the approved templates.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import secrets
import time
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.state import WHATSAPP, ContentTemplate, Sandbox, touch_id_from_url

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
OUTSIDE_WINDOW = (
    "Failed to send freeform message because you are outside the allowed window. "
    "If you are using WhatsApp, please use a Message Template."
)
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {from_} via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {to} is not a valid mobile number"),
}  # fmt: skip
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def routes(sandbox: Sandbox) -> list[Route]:
    base = "/2010-04-01/Accounts/{account_sid}"
    in_flight = 0

    def monitored(handler):  # type: ignore[no-untyped-def]
        """Twilio reports the account's concurrency on every response (the headers its docs
        tell you to watch), and answers 429 / 20429 beyond the account's limit."""

        async def wrapped(request: Request) -> Response:
            nonlocal in_flight
            in_flight += 1
            started = time.perf_counter()
            try:
                limit = sandbox.faults["twilio"].plan.concurrency_limit
                if limit and in_flight > limit:
                    sandbox.faults["twilio"].injected["concurrency"] = (
                        sandbox.faults["twilio"].injected.get("concurrency", 0) + 1
                    )
                    response: Response = twilio_error(429, 20429, "Too Many Requests")
                else:
                    response = await handler(request)
                response.headers["Twilio-Concurrent-Requests"] = str(in_flight)
                response.headers["Twilio-Request-Duration"] = f"{time.perf_counter() - started:.3f}"
                return response
            finally:
                in_flight -= 1

        return wrapped

    def authenticate(request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(
            f"{sandbox.config.twilio_account_sid}:{sandbox.config.twilio_auth_token}".encode()
        ).decode()
        if (
            header != f"Basic {expected}"
            or request.path_params["account_sid"] != sandbox.config.twilio_account_sid
        ):
            return twilio_error(401, 20003, "Authenticate")
        return None

    async def create(request: Request) -> Response:
        raw = await request.body()  # a real server has the request before it is slow
        faults = sandbox.faults["twilio"]
        fault, delay = faults.decide()
        if delay:
            await asyncio.sleep(delay)
        if fault in ("429", "rate_limit"):
            sandbox.count_attempt("twilio", None)
            return twilio_error(429, 20429, "Too Many Requests")
        if fault == "error":
            sandbox.count_attempt("twilio", None)
            return twilio_error(faults.plan.error_status, 20500, "Internal Server Error")
        if (denied := authenticate(request)) is not None:
            return denied

        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        to, from_ = str(form.get("To") or ""), str(form.get("From") or "")
        body = str(form.get("Body") or "")
        callback = str(form["StatusCallback"]) if form.get("StatusCallback") else None
        touch_id = touch_id_from_url(callback)
        sandbox.count_attempt("twilio", touch_id)

        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not form.get("MessagingServiceSid"):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if form.get("ContentVariables") and not form.get("ContentSid"):
            return twilio_error(400, 21654, "ContentSid Required")
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        content_sid = str(form.get("ContentSid") or "") or None
        whatsapp = to.startswith(WHATSAPP) or from_.startswith(WHATSAPP)
        if whatsapp:
            refused, body = _whatsapp_checks(sandbox, form, to, from_, body)
            if refused is not None:
                return refused
        elif from_ and from_ not in sandbox.config.twilio_numbers:
            return twilio_error(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone number or short code for your account.",
            )
        if not whatsapp and to in MAGIC_TO:
            code, message = MAGIC_TO[to]
            return twilio_error(400, code, message.format(to=to, from_=from_))
        if not whatsapp and not E164.match(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not whatsapp and to in sandbox.sms_opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")

        now = sandbox.clock.now()
        sid = "SM" + secrets.token_hex(16)
        message = _resource(sandbox.config.twilio_account_sid, sid, to, from_, body, now)
        message["_touch_id"] = touch_id
        if whatsapp:
            message["num_segments"] = "1"  # WhatsApp messages are not split into segments
            message["_content_sid"] = content_sid
            message["_content_variables"] = form.get("ContentVariables") or None
        if not sandbox.config.keep_bodies:
            message["body"] = ""
        sandbox.sms.append(message)
        sandbox.sms_by_sid[sid] = message
        sandbox.count_accepted("twilio", touch_id)
        if whatsapp:
            sandbox.whatsapp_accepted(message, callback, touch_id)
        elif sandbox.config.webhooks:
            sandbox.engagement.sms_accepted(
                sid=sid,
                account_sid=sandbox.config.twilio_account_sid,
                to=to,
                from_=from_,
                accepted_at=now,
                status_callback=callback,
                touch_id=touch_id,
            )
        return JSONResponse(_public(message), status_code=201)

    async def fetch(request: Request) -> Response:
        if (denied := authenticate(request)) is not None:
            return denied
        message = sandbox.sms_by_sid.get(request.path_params["sid"])
        if message is None:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return JSONResponse(_public(message))

    async def listing(request: Request) -> Response:
        # The same injected faults as sending: a lookup after a crash meets outages too.
        faults = sandbox.faults["twilio"]
        fault, delay = faults.decide()
        if delay:
            await asyncio.sleep(delay)
        if fault in ("429", "rate_limit"):
            return twilio_error(429, 20429, "Too Many Requests")
        if fault == "error":
            return twilio_error(faults.plan.error_status, 20500, "Internal Server Error")
        if (denied := authenticate(request)) is not None:
            return denied
        to, from_ = request.query_params.get("To"), request.query_params.get("From")
        size = min(int(request.query_params.get("PageSize", 50)), 1000)
        try:
            after = _date_filter(request.query_params.get("DateSent>"))
            before = _date_filter(request.query_params.get("DateSent<"))
        except ValueError:
            return twilio_error(400, 20001, "Invalid DateSent filter")
        found = [
            m for m in reversed(sandbox.sms)
            if (to is None or m["to"] == to) and (from_ is None or m["from"] == from_)
            and (after is None or _sent_on(m) >= after)
            and (before is None or _sent_on(m) <= before)
        ][:size]  # fmt: skip
        path = request.url.path
        return JSONResponse(
            {
                "messages": [_public(m) for m in found],
                "end": max(len(found) - 1, 0),
                "first_page_uri": f"{path}?PageSize={size}&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{path}?PageSize={size}&Page=0",
            }
        )

    async def contents(request: Request) -> Response:
        if (denied := authenticate_account(request)) is not None:
            return denied
        items = [
            _content(sandbox.config.twilio_account_sid, sid, template)
            for sid, template in sorted(sandbox.config.whatsapp_templates.items())
        ]
        size = min(int(request.query_params.get("PageSize", 50)), 1000)
        url = str(request.url.replace(query=""))
        return JSONResponse(
            {
                "contents": items[:size],
                "meta": {
                    "page": 0,
                    "page_size": size,
                    "first_page_url": f"{url}?PageSize={size}&Page=0",
                    "previous_page_url": None,
                    "url": f"{url}?PageSize={size}&Page=0",
                    "next_page_url": None,
                    "key": "contents",
                },
            }
        )

    async def content(request: Request) -> Response:
        if (denied := authenticate_account(request)) is not None:
            return denied
        sid = request.path_params["sid"]
        template = sandbox.config.whatsapp_templates.get(sid)
        if template is None:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return JSONResponse(_content(sandbox.config.twilio_account_sid, sid, template))

    def authenticate_account(request: Request) -> Response | None:
        """The Content API has no account in its path: HTTP Basic alone."""
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(
            f"{sandbox.config.twilio_account_sid}:{sandbox.config.twilio_auth_token}".encode()
        ).decode()
        return None if header == f"Basic {expected}" else twilio_error(401, 20003, "Authenticate")

    return [
        Route(f"{base}/Messages.json", monitored(create), methods=["POST"]),
        Route(f"{base}/Messages.json", monitored(listing), methods=["GET"]),
        Route(f"{base}/Messages/{{sid}}.json", monitored(fetch), methods=["GET"]),
        Route("/v1/Content", monitored(contents), methods=["GET"]),
        Route("/v1/Content/{sid}", monitored(content), methods=["GET"]),
    ]


def _whatsapp_checks(
    sandbox: Sandbox, form: dict[str, str], to: str, from_: str, body: str
) -> tuple[Response | None, str]:
    """Twilio's refusal of a WhatsApp message, if any, and the body it will carry (a
    template's text with its variables filled in)."""
    if not (to.startswith(WHATSAPP) and from_.startswith(WHATSAPP)):
        return twilio_error(
            400,
            21910,
            "Invalid From and To pair. From and To should be of the same channel",
        ), body
    if from_.removeprefix(WHATSAPP) not in sandbox.config.whatsapp_senders:
        return twilio_error(
            400, 63007, "Twilio could not find a Channel with the specified From address"
        ), body
    number = to.removeprefix(WHATSAPP)
    if not E164.match(number):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number."), body
    content_sid = form.get("ContentSid")
    if not content_sid:
        if not sandbox.whatsapp_session_open(number, sandbox.clock.now()):
            return twilio_error(400, 63016, OUTSIDE_WINDOW), body
        return None, body
    template = sandbox.config.whatsapp_templates.get(content_sid)
    if not CONTENT_SID.match(content_sid) or template is None:
        return twilio_error(400, 21655, "The ContentSid is Invalid"), body
    variables = _content_variables(form.get("ContentVariables"))
    if variables is None:
        return twilio_error(400, 21656, "The ContentVariables Parameter is invalid"), body
    values = {**template.variables, **variables}  # what is left out takes the sample value
    return None, PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template.body)


def _content_variables(raw: str | None) -> dict[str, str] | None:
    """The variables, or None where Twilio answers 21656: not a JSON object of strings,
    an empty value, or a newline, tab or more than four spaces in a row."""
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    for value in parsed.values():
        if not isinstance(value, str) or not value.strip():
            return None
        if "\n" in value or "\t" in value or "     " in value:
            return None
    return {str(k): v for k, v in parsed.items()}


def _content(account: str, sid: str, template: ContentTemplate) -> dict[str, Any]:
    stamp = "2026-01-05T10:00:00Z"
    url = f"https://content.twilio.com/v1/Content/{sid}"
    return {
        "sid": sid,
        "account_sid": account,
        "friendly_name": template.friendly_name,
        "language": "en",
        "variables": dict(template.variables),
        "types": {"twilio/text": {"body": template.body}},
        "url": url,
        "date_created": stamp,
        "date_updated": stamp,
        "links": {
            "approval_create": f"{url}/ApprovalRequests/whatsapp",
            "approval_fetch": f"{url}/ApprovalRequests",
        },
    }


def _date_filter(value: str | None) -> date | None:
    """Twilio's DateSent filters compare calendar days (GMT), whatever time is given."""
    if not value:
        return None
    return date.fromisoformat(value[:10])


def _sent_on(message: dict[str, Any]) -> date:
    stamp = message.get("date_sent") or message["date_created"]
    return parsedate_to_datetime(stamp).astimezone(UTC).date()


def _segments(body: str) -> int:
    if all(ch in GSM7 for ch in body):
        septets = sum(2 if ch in "^{}\\[~]|€\f" else 1 for ch in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _resource(
    account: str, sid: str, to: str, from_: str, body: str, now: datetime
) -> dict[str, Any]:
    stamp = format_datetime(now, usegmt=True).replace("GMT", "+0000")
    uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"
    return {
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": stamp,
        "date_sent": None,
        "date_updated": stamp,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(_segments(body)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": to,
        "uri": uri,
    }


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}
