"""A faithful subset of SendGrid's v3 Mail Send API (POST /v3/mail/send).

Behaves as documented: Bearer API key (401 otherwise), JSON validation with SendGrid's error
shape ``{"errors": [{"message", "field", "help"}]}`` and field paths such as
``personalizations.0.to.0.email``, 413 above 30 MB, 429 with X-RateLimit-* headers, and 202
with an ``X-Message-Id`` header and an empty body on success. Suppressed recipients are
accepted and then dropped, as SendGrid does.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.state import Sandbox, new_message_id

MAX_BODY = 30 * 1024 * 1024
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESERVED_HEADERS = {
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
}  # fmt: skip
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"


def errors(
    status: int, *items: tuple[str | None, str], headers: dict[str, str] | None = None
) -> Response:
    body = {
        "errors": [
            {"message": message, "field": field, "help": HELP if field else None}
            for field, message in items
        ]
    }
    return JSONResponse(body, status_code=status, headers=headers)


def too_many_requests(limit: int, reset: int) -> Response:
    """SendGrid's 429: the limit, nothing remaining, and the epoch second it resets."""
    return errors(
        429,
        (None, "too many requests"),
        headers={
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )


def routes(sandbox: Sandbox) -> list[Route]:
    async def mail_send(request: Request) -> Response:
        started = time.time()
        response = await _mail_send(request)
        sandbox.request_log.append(
            {"provider": "sendgrid", "started": started, "answered": time.time(),
             "status": response.status_code}
        )  # fmt: skip
        return response

    async def _mail_send(request: Request) -> Response:
        raw = await request.body()  # a real server has the request before it is slow
        faults = sandbox.faults["sendgrid"]
        fault, delay = faults.decide()
        if delay:
            await asyncio.sleep(delay)
        if fault in ("429", "rate_limit"):
            sandbox.count_attempt("sendgrid", None)
            # Epoch seconds of the window's end, at least the next full second.
            reset = int(time.time()) + max(2, math.ceil(faults.seconds_until_token()))
            return too_many_requests(int(faults.plan.rate_limit_per_second) or 600, reset)
        if fault == "error":
            sandbox.count_attempt("sendgrid", None)
            status = faults.plan.error_status
            return errors(
                status, (None, "internal server error" if status == 500 else "service unavailable")
            )

        auth = request.headers.get("authorization", "")
        if not auth:
            return errors(401, (None, "authorization required"))
        if auth != f"Bearer {sandbox.config.sendgrid_api_key}":
            return errors(
                401, (None, "The provided authorization grant is invalid, expired, or revoked")
            )

        if len(raw) > MAX_BODY:
            return errors(
                413, (None, "The JSON payload you have included in your request is too large.")
            )
        try:
            body = json.loads(raw)
        except ValueError:
            return errors(400, (None, "Bad Request"))
        if not isinstance(body, dict):
            return errors(400, (None, "Bad Request"))

        touch_id = (
            (body.get("custom_args") or {}).get("touch_id")
            if isinstance(body.get("custom_args"), dict)
            else None
        )
        sandbox.count_attempt("sendgrid", touch_id)
        problems = validate(body)
        if problems:
            return errors(400, *problems)

        message_id = new_message_id()
        accepted_at = sandbox.clock.now()
        html = next((c["value"] for c in body.get("content", []) if c["type"] == "text/html"), "")
        text = next((c["value"] for c in body.get("content", []) if c["type"] == "text/plain"), "")
        first_link = _first_link(html)
        categories = body.get("categories") or []
        for personalization in body["personalizations"]:
            custom_args = {
                **(body.get("custom_args") or {}),
                **(personalization.get("custom_args") or {}),
            }
            for recipient in personalization["to"]:
                address = recipient["email"]
                record: dict[str, Any] = {
                    "message_id": message_id,
                    "to": address,
                    "to_name": recipient.get("name"),
                    "from": body["from"]["email"],
                    "subject": personalization.get("subject") or body.get("subject"),
                    "categories": categories,
                    "custom_args": custom_args,
                    "headers": {
                        **(body.get("headers") or {}),
                        **(personalization.get("headers") or {}),
                    },
                    "received_at": accepted_at.isoformat(),
                    "touch_id": custom_args.get("touch_id"),
                }
                if sandbox.config.keep_bodies:
                    record.update(text=text, html=html)
                sandbox.emails.append(record)
                sandbox.count_accepted("sendgrid", custom_args.get("touch_id"))
                if sandbox.config.webhooks:
                    sandbox.engagement.email_accepted(
                        message_id=message_id,
                        to=address,
                        accepted_at=accepted_at,
                        custom_args={k: str(v) for k, v in custom_args.items()},
                        categories=categories,
                        first_link=first_link,
                        suppressed=sandbox.email_suppressions.get(address.lower()),
                    )
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    async def activity(request: Request) -> Response:
        """GET /v3/messages: the Email Activity API's message search."""
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {sandbox.config.sendgrid_api_key}":
            return errors(401, (None, "authorization required"))
        limit_per_minute = sandbox.config.activity_requests_per_minute
        now = time.monotonic()
        window = sandbox.activity_requests
        while window and window[0] <= now - 60:
            window.popleft()
        if limit_per_minute and len(window) >= limit_per_minute:
            return too_many_requests(
                limit_per_minute, int(time.time() + 60 - (now - window[0])) + 1
            )
        window.append(now)
        try:
            limit = int(request.query_params.get("limit", "10"))
        except ValueError:
            return errors(400, ("limit", "limit must be an integer"))
        if not 1 <= limit <= 1000:
            return errors(400, ("limit", "limit must be between 1 and 1000"))
        try:
            clauses = parse_activity_query(request.query_params.get("query", ""))
        except ValueError as exc:
            return errors(400, ("query", str(exc)))
        found = [e for e in reversed(sandbox.emails) if all(c(e) for c in clauses)][:limit]
        return JSONResponse(
            {
                "messages": [
                    {
                        "from_email": e["from"],
                        "msg_id": f"{e['message_id']}.filterdrecv-sandbox-1-0",
                        "subject": e["subject"],
                        "to_email": e["to"],
                        "status": "processed",
                        "opens_count": 0,
                        "clicks_count": 0,
                        "last_event_time": e["received_at"],
                    }
                    for e in found
                ]
            },
            headers={
                "X-RateLimit-Limit": str(limit_per_minute),
                "X-RateLimit-Remaining": str(max(0, limit_per_minute - len(window))),
            },
        )

    return [
        Route("/v3/mail/send", mail_send, methods=["POST"]),
        Route("/v3/messages", activity, methods=["GET"]),
    ]


# `to_email="a@b.c"`, `unique_args['touch_id']="…"`, joined by AND: the part of the Email
# Activity query language that finding one's own messages needs.
_CLAUSE = re.compile(
    r"""\s*(?:(?P<field>to_email|from_email|subject|msg_id|status)|unique_args\['(?P<arg>[^']+)'\])"""
    r"""\s*=\s*"(?P<value>[^"]*)"\s*"""
)


def parse_activity_query(query: str) -> list[Any]:
    clauses: list[Any] = []
    if not query.strip():
        return clauses
    for part in re.split(r"\s+AND\s+", query.strip().strip("()")):
        match = _CLAUSE.fullmatch(part)
        if match is None:
            raise ValueError(f"invalid query: {part!r}")
        value = match["value"]
        if match["arg"]:
            clauses.append(lambda e, k=match["arg"], v=value: str(e["custom_args"].get(k)) == v)
        else:
            key = {"to_email": "to", "from_email": "from"}.get(match["field"], match["field"])
            if key == "msg_id":
                clauses.append(lambda e, v=value: v.startswith(e["message_id"]))
            elif key == "status":
                clauses.append(lambda e, v=value: v == "processed")
            else:
                clauses.append(lambda e, k=key, v=value: str(e.get(k)) == v)
    return clauses


def validate(body: dict[str, Any]) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(
            (
                "personalizations",
                "The personalizations field is required and must have at least one personalization.",
            )
        )
        personalizations = []
    elif len(personalizations) > 1000:
        problems.append(
            ("personalizations", "The personalizations field must have between 1 and 1000 items.")
        )
    for i, p in enumerate(personalizations):
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to:
            problems.append(
                (
                    f"personalizations.{i}.to",
                    "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
                )
            )
            continue
        for j, recipient in enumerate(to):
            email = recipient.get("email") if isinstance(recipient, dict) else None
            if not isinstance(email, str) or not EMAIL.match(email):
                problems.append(
                    (f"personalizations.{i}.to.{j}.email", "Does not contain a valid address.")
                )

    sender = body.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("email"), str):
        problems.append(
            (
                "from",
                'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
            )
        )
    elif not EMAIL.match(sender["email"]):
        problems.append(("from.email", "The from email does not contain a valid address."))

    has_template = bool(body.get("template_id"))
    every_subject = bool(personalizations) and all(
        isinstance(p, dict) and p.get("subject") for p in personalizations
    )
    if not has_template and not body.get("subject") and not every_subject:
        problems.append(
            (
                "subject",
                "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
            )
        )

    content = body.get("content")
    if not has_template:
        if not isinstance(content, list) or not content:
            problems.append(
                (
                    "content",
                    "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.",
                )
            )
        else:
            types = []
            for k, block in enumerate(content):
                if not isinstance(block, dict) or not block.get("type"):
                    problems.append(
                        (
                            f"content.{k}.type",
                            "The content type cannot contain ';', or CRLF characters.",
                        )
                    )
                    continue
                types.append(block["type"])
                if not isinstance(block.get("value"), str) or not block["value"]:
                    problems.append(
                        (
                            f"content.{k}.value",
                            "The content value must be a string at least one character in length.",
                        )
                    )
            if "text/plain" in types and types[0] != "text/plain":
                problems.append(
                    (
                        "content",
                        "If present, text/plain and text/x-amp-html must be first, followed by text/html, followed by any other content.",
                    )
                )

    categories = body.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or len(categories) > 10:
            problems.append(("categories", "You may not have more than 10 categories per request."))
        elif any(not isinstance(c, str) or len(c) > 255 for c in categories):
            problems.append(("categories", "A category cannot have more than 255 characters."))

    custom_args = body.get("custom_args")
    if custom_args is not None:
        if not isinstance(custom_args, dict) or any(
            not isinstance(v, str) for v in custom_args.values()
        ):
            problems.append(
                (
                    "custom_args",
                    "Invalid type. Expected: object, given: array. Values must be strings.",
                )
            )
        elif len(json.dumps(custom_args)) > 10_000:
            problems.append(
                ("custom_args", "The custom_args may not exceed 10,000 bytes per personalization.")
            )

    headers = body.get("headers")
    if isinstance(headers, dict):
        for name in headers:
            if name.lower() in RESERVED_HEADERS:
                problems.append(
                    (f"headers.{name}", f"The header '{name}' is reserved and cannot be set.")
                )
    return problems


def _first_link(html: str) -> str | None:
    match = re.search(r'href="(https?://[^"]+)"', html)
    return match.group(1) if match else None
