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

from sandbox.engagement import EngagementModel
from sandbox.faults import FaultPlan
from sandbox.state import PROVIDERS, Sandbox


def routes(sandbox: Sandbox, http: Callable[[], httpx.AsyncClient]) -> list[Route]:
    def bad(message: str) -> Response:
        return JSONResponse({"error": message}, status_code=400)

    async def emails(request: Request) -> Response:
        return JSONResponse(_filter(sandbox.emails, request))

    async def sms(request: Request) -> Response:
        rows = [{k.lstrip("_"): v for k, v in m.items()} for m in sandbox.sms]
        return JSONResponse(_filter(rows, request))

    async def stats(_: Request) -> Response:
        return JSONResponse(sandbox.stats())

    async def config(_: Request) -> Response:
        return JSONResponse(
            {
                "event_webhook_url": sandbox.config.event_webhook_url,
                "event_webhook_public_key": sandbox.signer.public_key_base64(),
                "twilio_numbers": sorted(sandbox.config.twilio_numbers),
                "keep_bodies": sandbox.config.keep_bodies,
            }
        )

    async def settings(request: Request) -> Response:
        data = await request.json()
        if "event_webhook_url" in data:
            sandbox.config.event_webhook_url = data["event_webhook_url"] or None
        if "keep_bodies" in data:
            sandbox.config.keep_bodies = bool(data["keep_bodies"])
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
        return JSONResponse(sandbox.engagement.model.__dict__)

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

    return [
        Route("/_sandbox/emails", emails, methods=["GET"]),
        Route("/_sandbox/sms", sms, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/config", config, methods=["GET"]),
        Route("/_sandbox/config", settings, methods=["POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/faults/{provider}", faults, methods=["POST"]),
        Route("/_sandbox/engagement", engagement, methods=["POST"]),
        Route("/_sandbox/suppressions", suppress, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/flush", flush, methods=["POST"]),
    ]


def _filter(rows: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    wanted = {k: v for k, v in request.query_params.items() if k in ("touch_id", "to")}
    return [r for r in rows if all(r.get(k) == v for k, v in wanted.items())]
