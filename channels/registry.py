"""Build the configured channels."""

from __future__ import annotations

from channels.base import Channel
from channels.sendgrid_email import SendGridEmail
from channels.twilio_sms import TwilioSms
from touchline.config import Settings


def build_channels(settings: Settings) -> dict[str, Channel]:
    public = settings.public_url.rstrip("/")
    return {
        "email": SendGridEmail(
            api_key=settings.sendgrid_api_key.get_secret_value(),
            host=settings.sendgrid_host,
            from_email=settings.email_from,
            from_name=settings.email_from_name,
            timeout=settings.provider_timeout,
        ),
        "sms": TwilioSms(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            base_url=settings.twilio_base_url,
            from_number=settings.sms_from,
            status_callback_url=f"{public}/webhooks/twilio/status",
            timeout=settings.provider_timeout,
        ),
    }
