"""From a decided touch to a channel message: the template context, rendering, headers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels import DirectMessage, EmailMessage, Message, SmsMessage, WhatsAppMessage
from preference_center import CustomerProfile
from touchline.config import Settings
from touchline.content import TemplateCatalog, render_email, render_sms
from touchline.content.direct_message import render_direct_message
from touchline.content.render import SMS_OPT_OUT
from touchline.content.whatsapp import render_whatsapp
from touchline.journeys.model import JourneyDefinition, SendStep
from touchline.links import signed_link, unsubscribe_url
from touchline.record import Enrollment


def template_context(
    settings: Settings,
    journey: JourneyDefinition,
    step: SendStep,
    enrollment: Enrollment,
    profile: CustomerProfile,
    touch_id: str,
    channel: str,
    now: datetime,
) -> dict[str, Any]:
    # The journey's own context (offers, links) comes first and the reserved names after:
    # the loader already refuses a journey that tries to redefine them.
    return {
        **journey.context,
        "customer": {"id": profile.customer_id, **profile.attributes},
        "event": enrollment.context.get("event", {}),
        "segment": enrollment.context.get("segment", {}),
        "launch": enrollment.context.get("launch", {}),
        "enrollment": {
            "id": enrollment.id,
            "entered_at": enrollment.entered_at,
            "trigger_at": enrollment.trigger_at,
        },
        "journey": {"key": journey.key, "name": journey.name},
        "step": {"id": step.id},
        "company": {
            "name": settings.company_name,
            "postal_address": settings.company_postal_address,
        },
        "links": {
            "unsubscribe": unsubscribe_url(
                settings.public_url,
                settings.link_secret.get_secret_value(),
                customer_id=profile.customer_id,
                channel=channel,
                touch_id=touch_id,
            ),
            # Every message carries a way to the customer's own preference page; the link
            # expires, so a forwarded email does not hand out someone's settings forever.
            "preferences": signed_link(
                settings.public_url,
                settings.link_secret.get_secret_value(),
                "p",
                customer_id=profile.customer_id,
                expires_at=now + settings.preference_link_ttl,
            ),
            "confirm_sms": signed_link(
                settings.public_url,
                settings.link_secret.get_secret_value(),
                "c",
                customer_id=profile.customer_id,
                expires_at=now + settings.preference_link_ttl,
            ),
        },
        "locale": profile.locale or "en",
        "now": now,
    }


def build_message(
    catalog: TemplateCatalog,
    settings: Settings,
    journey: JourneyDefinition,
    step: SendStep,
    channel: str,
    address: str,
    touch_id: str,
    context: dict[str, Any],
    locale: str | None,
    *,
    whatsapp_session_until: datetime | None = None,
) -> tuple[Message, dict[str, Any]]:
    """The message, and what about its content is worth recording with the send.

    ``whatsapp_session_until``: when the customer's WhatsApp session window closes (None:
    not open); free text before then, the approved template otherwise."""
    tags = (journey.key, step.id)
    if channel == "email":
        rendered = render_email(catalog, step.template, context, locale)
        headers = {}
        if journey.purpose == "marketing":
            # RFC 8058 one-click unsubscribe: mailbox providers show an unsubscribe button
            # and POST "List-Unsubscribe=One-Click" to the URL; Gmail and Yahoo require it
            # of bulk senders.
            headers = {
                "List-Unsubscribe": f"<{context['links']['unsubscribe']}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        first = context["customer"].get("first_name")
        last = context["customer"].get("last_name")
        name = " ".join(str(p) for p in (first, last) if p) or None
        message = EmailMessage(
            touch_id=touch_id, to=address, to_name=name, subject=rendered.subject,
            html=rendered.html, text=rendered.text, headers=headers, tags=tags,
        )  # fmt: skip
        return message, {"subject": rendered.subject}
    if channel == "sms":
        sms = render_sms(
            catalog, step.template, context, locale, max_segments=settings.sms_max_segments,
            # Marketing texts must say how to opt out; a transactional one is left as written.
            opt_out=SMS_OPT_OUT if journey.purpose == "marketing" else None,
        )  # fmt: skip
        detail = {
            "segments": sms.segments.segments,
            "encoding": sms.segments.encoding,
            "body": sms.body,
        }
        return SmsMessage(touch_id=touch_id, to=address, body=sms.body, tags=tags), detail
    if channel == "whatsapp":
        rendered = render_whatsapp(
            catalog, step.template, context, locale,
            session_until=whatsapp_session_until, now=context["now"],
        )  # fmt: skip
        whatsapp = WhatsAppMessage(
            touch_id=touch_id, to=address, body=rendered.body, content_sid=rendered.content_sid,
            content_variables=rendered.variables, tags=tags,
        )  # fmt: skip
        if rendered.form == "session":
            return whatsapp, {"form": "session", "body": rendered.body}
        return whatsapp, {
            "form": "template",
            "content_sid": rendered.content_sid,
            "content_variables": dict(rendered.variables),
        }
    if channel == "x":
        text = render_direct_message(catalog, step.template, context, locale)
        return DirectMessage(touch_id=touch_id, to=address, text=text, tags=tags), {"text": text}
    raise ValueError(f"no message builder for channel '{channel}'")
