"""The sandbox's own control API, under ``/_sandbox`` on every emulator port.

Tests and the demo use it to inspect what providers received, set sandbox time (which
posts the webhooks that became due), inject faults and tune the simulated audience.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import customer_texts
from sandbox.engagement import EngagementModel
from sandbox.faults import FaultPlan
from sandbox.state import PROVIDERS, Sandbox
from sandbox.twilio_api import E164
from sandbox.x_api import post_inbound
from sandbox.x_api import public as public_dm


def routes(sandbox: Sandbox, http: Callable[[], httpx.AsyncClient]) -> list[Route]:
    def bad(message: str) -> Response:
        return JSONResponse({"error": message}, status_code=400)

    async def emails(request: Request) -> Response:
        return JSONResponse(_filter(sandbox.emails, request))

    async def sms(request: Request) -> Response:
        rows = [{k.lstrip("_"): v for k, v in m.items()} for m in sandbox.sms]
        return JSONResponse(_filter(rows, request))

    async def direct_messages(request: Request) -> Response:
        return JSONResponse(_filter([public_dm(m) for m in sandbox.direct_messages], request))

    async def x_inbound(request: Request) -> Response:
        data = await request.json()
        try:
            result = await post_inbound(
                sandbox, http(), str(data.get("from_handle") or ""), str(data.get("text") or ""),
                str(data.get("kind") or "dm"),
            )  # fmt: skip
        except ValueError as exc:
            return bad(str(exc))
        return JSONResponse(result)

    async def request_log(request: Request) -> Response:
        return JSONResponse(_filter(sandbox.request_log, request))

    async def stats(_: Request) -> Response:
        return JSONResponse(sandbox.stats())

    async def config(_: Request) -> Response:
        return JSONResponse(
            {
                "event_webhook_url": sandbox.config.event_webhook_url,
                "event_webhook_public_key": sandbox.signer.public_key_base64(),
                "twilio_numbers": sorted(sandbox.config.twilio_numbers),
                "whatsapp_senders": sorted(sandbox.config.whatsapp_senders),
                "inbound_sms_url": sandbox.config.inbound_sms_url,
                "keep_bodies": sandbox.config.keep_bodies,
                "x_webhook_url": sandbox.config.x_webhook_url,
                "x_closed_dm_handles": sorted(sandbox.config.x_closed_dm_handles),
                "x_missing_handles": sorted(sandbox.config.x_missing_handles),
                "x_rate_limits": sandbox.config.x_rate_limits,
            }
        )

    async def settings(request: Request) -> Response:
        data = await request.json()
        if "event_webhook_url" in data:
            sandbox.config.event_webhook_url = data["event_webhook_url"] or None
        if "keep_bodies" in data:
            sandbox.config.keep_bodies = bool(data["keep_bodies"])
        if "x_webhook_url" in data:
            sandbox.config.x_webhook_url = data["x_webhook_url"] or None
        for name in ("x_closed_dm_handles", "x_missing_handles"):
            if name in data:
                setattr(sandbox.config, name, {str(h).lstrip("@").lower() for h in data[name]})
        if "x_rate_limits" in data:
            sandbox.config.x_rate_limits = {**sandbox.config.x_rate_limits, **data["x_rate_limits"]}
            sandbox.x_rate_windows.clear()
        if "inbound_sms_url" in data:
            sandbox.config.inbound_sms_url = data["inbound_sms_url"] or None
        return await config(request)

    async def reset(_: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"reset": True})

    async def faults(request: Request) -> Response:
        provider = request.path_params["provider"]
        if provider not in PROVIDERS:
            return bad(f"unknown provider '{provider}'; known: {', '.join(PROVIDERS)}")
        try:
            plan = FaultPlan.from_dict(await request.json())
        except (TypeError, ValueError) as exc:
            return bad(str(exc))
        sandbox.faults[provider].configure(plan)
        return JSONResponse({"provider": provider, "plan": plan.__dict__})

    async def engagement(request: Request) -> Response:
        try:
            sandbox.engagement.model = EngagementModel.from_dict(await request.json())
        except (TypeError, ValueError) as exc:
            return bad(str(exc))
        return JSONResponse(sandbox.engagement.model.as_dict())

    async def suppress(request: Request) -> Response:
        data = await request.json()
        for address in data.get("emails", []):
            sandbox.email_suppressions[address.lower()] = data.get("reason", "Unsubscribed Address")
        sandbox.sms_opted_out.update(data.get("numbers", []))
        return JSONResponse(
            {"emails": len(sandbox.email_suppressions), "numbers": len(sandbox.sms_opted_out)}
        )

    async def clock(request: Request) -> Response:
        data = await request.json()
        try:
            if data.get("release"):
                sandbox.clock.release()
            else:
                sandbox.clock.set(datetime.fromisoformat(data["now"]))
        except (KeyError, TypeError, ValueError) as exc:
            return bad(f"give {{'now': ISO-8601 with zone}} or {{'release': true}}: {exc}")
        posted = await sandbox.flush(http())
        return JSONResponse({"now": sandbox.clock.now().isoformat(), "posted": posted})

    async def flush(_: Request) -> Response:
        return JSONResponse({"posted": await sandbox.flush(http())})

    async def whatsapp_inbound(request: Request) -> Response:
        """The customer writes to us on WhatsApp: opens their session window and posts the
        signed inbound webhook to ``inbound_sms_url``."""
        data = await request.json()
        sender = str(data.get("from") or "").removeprefix("whatsapp:")
        if not E164.match(sender):
            return bad("give {'from': an E.164 number, 'body': text}")
        to = str(data["to"]).removeprefix("whatsapp:") if data.get("to") else None
        if to is not None and to not in sandbox.config.whatsapp_senders:
            return bad(f"'{to}' is not one of the account's WhatsApp senders")
        result = await sandbox.whatsapp_inbound(
            http(), from_=sender, body=str(data.get("body") or ""), to=to,
            profile_name=data.get("profile_name"),
        )  # fmt: skip
        return JSONResponse(result)

    return [
        Route("/_sandbox/emails", emails, methods=["GET"]),
        Route("/_sandbox/sms", sms, methods=["GET"]),
        Route("/_sandbox/x/direct_messages", direct_messages, methods=["GET"]),
        Route("/_sandbox/x/inbound", x_inbound, methods=["POST"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/requests", request_log, methods=["GET"]),
        Route("/_sandbox/config", config, methods=["GET"]),
        Route("/_sandbox/config", settings, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/faults/{provider}", faults, methods=["POST"]),
        Route("/_sandbox/engagement", engagement, methods=["POST"]),
        Route("/_sandbox/suppressions", suppress, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/flush", flush, methods=["POST"]),
        Route("/_sandbox/whatsapp/inbound", whatsapp_inbound, methods=["POST"]),
        *customer_texts.routes(sandbox, http),
    ]


def _filter(rows: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    wanted = {k: v for k, v in request.query_params.items() if k in ("touch_id", "to")}
    return [r for r in rows if all(r.get(k) == v for k, v in wanted.items())]
