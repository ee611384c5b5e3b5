"""A customer texting our Twilio number, as Twilio handles it: ``POST /_sandbox/sms/inbound``.

    {"from": "+14155550100", "body": "Stop!", "to": "+15005550006"}   (to: optional)

What Twilio does with an inbound SMS, in order:
1. Advanced Opt-Out: a message that is exactly one of Twilio's default keywords (STOP,
   STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT; START, YES, UNSTOP), in any case
   and with surrounding blanks, puts the number on — or takes it off — the account's
   opt-out list, whether or not anyone listens at the inbound URL. Twilio matches single
   words only ("STOP PLEASE" is not one); Touchline reads the rest (opt_out_text). From then
   on a send to that number is refused with 21610 (sandbox.twilio_api).
2. The message is posted, signed with the auth token (X-Twilio-Signature), to the number's
   inbound URL ("A message comes in"); without one, nothing is posted
   (``twilio_inbound_no_url`` in the stats).
3. Each <Message> of the TwiML answer is sent back to the customer as an outbound message
   (in ``/_sandbox/sms`` with ``direction: reply``) — unless the number was on the opt-out
   list before this message came in and still is: Twilio refuses it with 21610 (a failed
   message), as it refuses any send to an opted-out number. The one confirmation of the STOP that put the
   number on the list goes out; a second STOP's answer, or a HELP from an opted-out number,
   does not. The sandbox stands for a number whose keyword confirmations come from the
   application (Touchline's ``sms_keyword_replies``); where Twilio's own Advanced Opt-Out
   confirmations are on, turn that setting off.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.engagement import is_opt_out
from sandbox.signing import TWILIO_SIGNATURE_HEADER, twilio_signature
from sandbox.state import Sandbox, _twiml_messages
from sandbox.twilio_api import E164, _resource

MAX_BODY = 1600  # what Twilio carries in one inbound message
OPTED_OUT = (21610, "Attempt to send to unsubscribed recipient")


async def customer_texts(
    sandbox: Sandbox, client: httpx.AsyncClient, *, from_: str, body: str, to: str | None = None
) -> dict[str, Any]:
    """The customer's text through Twilio: the opt-out list, the signed webhook, the replies."""
    config = sandbox.config
    number = to or min(config.twilio_numbers)
    was_opted_out = from_ in sandbox.sms_opted_out
    opted = is_opt_out(body)  # Twilio's own list, before anything is posted
    if opted is True:
        sandbox.sms_opted_out.add(from_)
    elif opted is False:
        sandbox.sms_opted_out.discard(from_)
    sid = "SM" + secrets.token_hex(16)
    params = {
        "AccountSid": config.twilio_account_sid, "ApiVersion": "2010-04-01", "Body": body,
        "From": from_, "MessageSid": sid, "NumMedia": "0", "NumSegments": "1",
        "SmsMessageSid": sid, "SmsSid": sid, "SmsStatus": "received", "To": number,
    }  # fmt: skip
    if opted is not None:
        params["OptOutType"] = "STOP" if opted else "START"  # as Advanced Opt-Out adds it
    result: dict[str, Any] = {
        "message_sid": sid, "opted_out": from_ in sandbox.sms_opted_out, "posted": False,
        "status": None, "replies": [], "refused_replies": [],
    }  # fmt: skip
    url = config.inbound_sms_url
    if not url:
        sandbox.webhooks["twilio_inbound_no_url"] += 1
        return result
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": f"{sid}-received",
        TWILIO_SIGNATURE_HEADER: twilio_signature(config.twilio_auth_token, url, params),
    }
    try:
        response = await client.post(url, data=params, headers=headers)
    except httpx.HTTPError:
        sandbox.webhooks["twilio_inbound_failed"] += 1
        return result
    result["status"] = response.status_code
    if response.status_code >= 300:
        sandbox.webhooks["twilio_inbound_failed"] += 1
        return result
    sandbox.webhooks["twilio_inbound_posted"] += 1
    result["posted"] = True
    for text in _twiml_messages(response.text):
        reply = _resource(config.twilio_account_sid, "SM" + secrets.token_hex(16), from_, number,
                          text, sandbox.clock.now())  # fmt: skip
        reply["direction"] = "reply"
        reply["_touch_id"] = None
        reply["_in_reply_to"] = sid
        if was_opted_out and from_ in sandbox.sms_opted_out:
            reply["status"] = "failed"
            reply["error_code"], reply["error_message"] = OPTED_OUT
            sandbox.webhooks["twilio_reply_refused_opted_out"] += 1
            result["refused_replies"].append(text)
        else:
            reply["status"] = "sent"
            sandbox.webhooks["twilio_reply_sent"] += 1
            result["replies"].append(text)
        sandbox.sms.append(reply)
        sandbox.sms_by_sid[reply["sid"]] = reply
    return result


def routes(sandbox: Sandbox, http: Callable[[], httpx.AsyncClient]) -> list[Route]:
    async def inbound(request: Request) -> Response:
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return JSONResponse({"error": "give {'from': E.164, 'body': text}"}, status_code=400)
        sender, body = str(data.get("from") or ""), data.get("body")
        to = str(data["to"]) if data.get("to") else None
        if not E164.match(sender):
            return JSONResponse({"error": f"'from' must be an E.164 number, not {sender!r}"},
                                status_code=400)  # fmt: skip
        if not isinstance(body, str) or len(body) > MAX_BODY:
            return JSONResponse({"error": f"'body' must be text of at most {MAX_BODY} characters"},
                                status_code=400)  # fmt: skip
        if to is not None and to not in sandbox.config.twilio_numbers:
            return JSONResponse({"error": f"'{to}' is not one of the account's numbers"},
                                status_code=400)  # fmt: skip
        return JSONResponse(await customer_texts(sandbox, http(), from_=sender, body=body, to=to))

    return [Route("/_sandbox/sms/inbound", inbound, methods=["POST"])]
