"""Inbound SMS from Twilio: the message a customer texted to our number, and our answer.

The request is signed like a status callback (twilio_signature.verify). The answer is TwiML:
Twilio sends the <Message> back to the sender, so a HELP gets its help text without an
API call of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse

from channels.webhooks.base import WebhookPayloadError

MAX_BODY = 1600  # Twilio's own limit for a message body


@dataclass(frozen=True)
class InboundMessage:
    message_sid: str
    from_: str
    to: str
    body: str


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    sid = params.get("MessageSid") or params.get("SmsSid")
    missing = [name for name, value in (("MessageSid", sid), ("From", params.get("From")),
                                        ("To", params.get("To"))) if not value]  # fmt: skip
    if missing:
        raise WebhookPayloadError(f"an inbound message needs {', '.join(missing)}")
    body = params.get("Body", "")
    if len(body) > MAX_BODY:
        raise WebhookPayloadError(
            f"the body has {len(body)} characters; Twilio sends at most {MAX_BODY}"
        )
    assert sid is not None
    return InboundMessage(sid, params["From"], params["To"], body)


def reply_twiml(text: str | None) -> str:
    """TwiML answering with ``text``, or an empty <Response/> (Twilio then sends nothing)."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
