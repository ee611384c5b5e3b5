"""Unsubscribe links: a page for people, one-click POST for mailbox providers (RFC 8058).

The link is signed (touchline.links), so it needs no login and cannot be forged for
someone else. Each unsubscribe is a consent-ledger row with its evidence, written for the
profile kept now: a link sent to a profile since merged into another reaches the person.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from preference_center.ledger import unsubscribe_all
from preference_center.linking import follow_merges
from touchline.api.deps import ApiState, state
from touchline.api.openapi import PAGE_ERRORS
from touchline.links import InvalidToken, verify
from touchline.record import Customer

router = APIRouter(tags=["unsubscribe"], responses=PAGE_ERRORS)
CHANNEL_NAMES = {"email": "emails", "sms": "text messages"}


def _payload(token: str, app: ApiState) -> dict[str, str]:
    try:
        payload = verify(token, app.settings.link_secret.get_secret_value())
    except InvalidToken as exc:
        raise HTTPException(404, "This link is not valid.") from exc
    if payload.get("ch") not in CHANNEL_NAMES or not payload.get("c"):
        raise HTTPException(404, "This link is not valid.")
    return payload


@router.get("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe page")
def page(token: str, app: ApiState = Depends(state)) -> str:
    payload = _payload(token, app)
    what = CHANNEL_NAMES[payload["ch"]]
    company = html.escape(app.settings.company_name)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto">
<h1>Unsubscribe from {company} marketing {what}?</h1>
<form method="post"><button type="submit">Unsubscribe</button></form></body></html>"""


@router.post("/u/{token}", response_class=HTMLResponse, summary="Unsubscribe (one-click, RFC 8058)")
async def unsubscribe(token: str, request: Request, app: ApiState = Depends(state)) -> str:
    payload = _payload(token, app)
    body = (await request.body()).decode(errors="replace")
    one_click = "List-Unsubscribe=One-Click" in body
    now = app.clock.now()
    with app.db.session() as session:
        if session.get(Customer, payload["c"]) is None:
            raise HTTPException(404, "This link is not valid.")
        # An email sent before a merge carries the merged-away profile: the person is the
        # profile kept now, which is the one mailed from then on (as on the preference page).
        unsubscribe_all(
            session,
            follow_merges(session, payload["c"]),
            source="unsubscribe_link",
            evidence={
                "link_issued_for": payload["c"],
                "touch_id": payload.get("t"),
                "one_click": one_click,
                "ip": request.client.host if request.client else None,
                "user_agent": request.headers.get("user-agent"),
            },
            at=now,
            channels=[payload["ch"]],
        )
    return "<!doctype html><html><body style='font-family:sans-serif;max-width:32rem;margin:4rem auto'><h1>You are unsubscribed.</h1></body></html>"
