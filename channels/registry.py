"""Build the configured channels."""

from __future__ import annotations

from channels.base import Channel
from channels.console import console_channels
from channels.sendgrid_email import SendGridEmail
from channels.twilio_sms import TwilioSms
from channels.twilio_whatsapp import TwilioWhatsApp
from channels.x_dm import XDirectMessages
from touchline.config import Settings


def build_channels(settings: Settings) -> dict[str, Channel]:
    if settings.channel_override == "console":
        # A dry run: every channel journeys know writes to the console file instead.
        from touchline.journeys.model import KNOWN_CHANNELS

        path = settings.console_channel_path or str(settings.home / "console.jsonl")
        return dict(console_channels(KNOWN_CHANNELS, path))
    # Imported here: touchline.secrets imports from channels (its errors).
    from touchline.secrets import credential

    public = settings.public_url.rstrip("/")
    return {
        "email": SendGridEmail(
            api_key=credential(settings, "sendgrid_api_key"),
            host=settings.sendgrid_host,
            from_email=settings.email_from,
            from_name=settings.email_from_name,
            timeout=settings.provider_timeout,
        ),
        "sms": TwilioSms(
            account_sid=settings.twilio_account_sid,
            auth_token=credential(settings, "twilio_auth_token"),
            base_url=settings.twilio_base_url,
            from_number=settings.sms_from,
            status_callback_url=f"{public}/webhooks/twilio/status",
            timeout=settings.provider_timeout,
        ),
        "whatsapp": TwilioWhatsApp(
            account_sid=settings.twilio_account_sid,
            auth_token=credential(settings, "twilio_auth_token"),
            base_url=settings.twilio_base_url,
            from_number=settings.whatsapp_from,
            status_callback_url=f"{public}/webhooks/twilio/status",
            timeout=settings.provider_timeout,
        ),
        "x": XDirectMessages(
            consumer_key=settings.x_consumer_key,
            consumer_secret=credential(settings, "x_consumer_secret"),
            access_token=settings.x_access_token,
            access_token_secret=credential(settings, "x_access_token_secret"),
            base_url=settings.x_api_base_url,
            timeout=settings.provider_timeout,
        ),
    }
