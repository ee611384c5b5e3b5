"""What every request must get past before a route sees it (an ASGI middleware).

- **Size.** A body larger than its route's limit is refused with 413 as soon as it passes
  the limit: a declared ``Content-Length`` over the limit before a byte is read, a chunked
  body as its running total crosses it. Nothing beyond the limit is ever held in memory
  (uvicorn stops reading the socket while the app does not ask for more), so a 256 MiB
  unsigned body costs the API no more than a small one (bench/body_limit.py measures it).
- **Depth.** JSON nested deeper than ``json_max_depth`` is refused with 422 before any
  parser recurses into it (Python's ``json`` and PostgreSQL's JSONB both recurse).
- **NUL.** A NUL character (``\\x00``, ``%00``, ``\\u0000``) in the path, the query or the
  body of anything but a provider webhook is refused with 422: PostgreSQL cannot store NUL
  in text or JSONB and would otherwise fail the request with a 500. Webhooks are left to
  their signature checks: a provider's payload is not ours to refuse for its characters.

A JSON body that is not UTF-8 is refused with 422 too (FastAPI would answer an undocumented
400). Bodies within the limit are read here, checked, and handed on whole to the route, which
reads them again from memory as if from the socket.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from touchline.config import Settings

WEBHOOK_PREFIX = "/webhooks/"
EVENTS_PATH = "/events"
# Inside a JSON string: the escape \u0000 preceded by an even number of backslashes (an odd
# number would make it the literal text "\u0000", which is harmless).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def body_limit(settings: Settings, path: str) -> int:
    """The largest body the route at ``path`` accepts, in bytes."""
    if path.startswith(WEBHOOK_PREFIX):
        return settings.webhook_max_body_bytes
    if path.rstrip("/") == EVENTS_PATH:
        return settings.events_max_body_bytes
    return settings.api_max_body_bytes


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (a malformed document is
    the parser's to refuse; only its depth is measured here)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets: the common case, no scan
    depth = 0
    for token in _JSON_TOKENS.finditer(body):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def has_nul(body: bytes, content_type: str) -> bool:
    if b"\x00" in body:
        return True
    if "json" in content_type or body.lstrip()[:1] in (b"{", b"["):
        return _JSON_NUL.search(body) is not None
    if "x-www-form-urlencoded" in content_type:
        return b"%00" in body
    return False


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        webhook = path.startswith(WEBHOOK_PREFIX)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not webhook and ("\x00" in path or b"%00" in scope.get("query_string", b"")):
            await _refuse(send, 422, "the path or query contains a NUL character (\\u0000)",
                          "path", "remove %00 from the URL")  # fmt: skip
            return
        limit = body_limit(self.settings, path)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, int(declared), limit)
            return

        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, None, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)

        content_type = headers.get("content-type", "").lower()
        looks_json = "json" in content_type or body.lstrip()[:1] in (b"{", b"[")
        if looks_json and json_depth_exceeds(body, self.settings.json_max_depth):
            await _refuse(send, 422, "the JSON is nested too deeply", "body",
                          f"at most {self.settings.json_max_depth} levels of objects and arrays")  # fmt: skip
            return
        if not webhook and looks_json and not _utf8(body):
            await _refuse(send, 422, "the body is not UTF-8 JSON", "body",
                          "send JSON encoded as UTF-8")  # fmt: skip
            return
        if not webhook and body and has_nul(body, content_type):
            await _refuse(send, 422, "the body contains a NUL character (\\u0000)", "body",
                          "remove \\u0000 from the strings")  # fmt: skip
            return

        await self.app(scope, _replay(body, receive), send)


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body once, then passes on (disconnects, for streaming)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _too_large(send: Send, declared: int | None, limit: int) -> None:
    size = f"{declared:,} bytes" if declared is not None else f"more than {limit:,} bytes"
    await _refuse(send, 413, f"the body is {size}; the limit here is {limit:,}", "body",
                  f"send at most {limit:,} bytes")  # fmt: skip


async def _refuse(send: Send, status: int, detail: str, field: str, message: str) -> None:
    # The API's error shape (touchline.api.errors): detail plus problems naming the field.
    payload: dict[str, Any] = {"detail": detail, "problems": [{"field": field, "message": message}]}
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        # The rest of the body is not read: the connection cannot carry another request.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
