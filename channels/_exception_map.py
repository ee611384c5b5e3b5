"""The one place where vendor exceptions become channel errors.

Classification follows what the providers document: 429 and 5xx are worth retrying (after
Retry-After or X-RateLimit-Reset when given); 401/403/404 mean our configuration is wrong;
other 4xx are about this message and will fail again.
"""

from __future__ import annotations

import json
import time
import urllib.error
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import python_http_client.exceptions as sendgrid_http
import requests
import tweepy.errors as tweepy_errors
from twilio.base.exceptions import TwilioException, TwilioRestException

from channels.errors import (
    ChannelError,
    PermanentChannelError,
    ProviderConfigurationError,
    TransientChannelError,
)

# Twilio error codes that say the recipient will not take messages from us.
TWILIO_OPTED_OUT = {21610}
# Twilio codes that say our account or sender is wrong rather than this message
# (63007: no WhatsApp sender with this From address).
TWILIO_CONFIGURATION = {20003, 20404, 21606, 21212, 21659, 63007}
# Twilio's rate limits by code, whatever HTTP status carries them (63017: the account's
# messages per second; 63018: the WhatsApp or RCS sender's messaging limit): worth a retry.
TWILIO_RATE_LIMITED = {63017, 63018}
# Free text outside WhatsApp's 24-hour session window: this message will never go as it
# is (it needs an approved template), but the customer has not opted out.
TWILIO_OUTSIDE_SESSION = 63016
# X error codes on a 403 that say this recipient does not take DMs from us (150: they do
# not follow us; 349: they do not accept messages from us): final for this message only.
# Any other 403 from X means our app or token lacks access (a configuration problem).
X_DM_REFUSED = {150, 349}


@contextmanager
def translated_errors(
    provider: str, response_headers: Callable[[], Mapping[str, str] | None] = lambda: None
) -> Iterator[None]:
    try:
        yield
    except ChannelError:
        raise
    except sendgrid_http.HTTPError as exc:
        raise _from_http_status(
            provider, exc.status_code, _sendgrid_message(exc), None, _headers(exc.headers)
        ) from exc
    except TwilioRestException as exc:
        raise _from_twilio(provider, exc, response_headers()) from exc
    except tweepy_errors.HTTPException as exc:
        raise _from_x(provider, exc) from exc
    except (requests.Timeout, TimeoutError) as exc:
        raise TransientChannelError(f"timed out: {exc}", provider=provider) from exc
    except (requests.ConnectionError, ConnectionError, urllib.error.URLError) as exc:
        raise TransientChannelError(f"connection failed: {exc}", provider=provider) from exc
    except TwilioException as exc:
        raise _from_twilio_page(provider, exc) from exc


def _from_http_status(
    provider: str,
    status: int,
    message: str,
    code: str | None,
    headers: Mapping[str, str],
) -> ChannelError:
    if status == 429 or status >= 500:
        return TransientChannelError(
            message, provider=provider, code=code, status=status, retry_after=retry_after(headers)
        )
    if status in (401, 403, 404):
        return ProviderConfigurationError(message, provider=provider, code=code, status=status)
    return PermanentChannelError(message, provider=provider, code=code, status=status)


def _from_twilio(
    provider: str, exc: TwilioRestException, headers: Mapping[str, str] | None
) -> ChannelError:
    code = int(exc.code) if exc.code is not None else None
    # The SDK prefixes the API's message with its own ("Unable to create record: …").
    message = (exc.msg or f"HTTP {exc.status}").removeprefix("Unable to create record: ")
    if code in TWILIO_CONFIGURATION:
        return ProviderConfigurationError(
            message, provider=provider, code=str(code), status=exc.status
        )
    if code in TWILIO_RATE_LIMITED:
        return TransientChannelError(
            message,
            provider=provider,
            code=str(code),
            status=exc.status,
            retry_after=retry_after(headers or {}),
        )
    if code == TWILIO_OUTSIDE_SESSION:
        return PermanentChannelError(message, provider=provider, code=str(code), status=exc.status)
    error = _from_http_status(
        provider, int(exc.status), message, str(code) if code else None, headers or {}
    )
    if isinstance(error, PermanentChannelError) and code in TWILIO_OPTED_OUT:
        error.recipient_opted_out = True
    return error


def _from_twilio_page(provider: str, exc: TwilioException) -> ChannelError:
    """Listing pages fail with a bare TwilioException("Unable to fetch page", response)
    instead of TwilioRestException: classify it by the response it carries."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return PermanentChannelError(str(exc), provider=provider)
    code, message = None, f"HTTP {status}"
    try:
        body = json.loads(getattr(response, "text", "") or "{}")
        code = str(body["code"]) if body.get("code") is not None else None
        message = str(body.get("message") or message)
    except (ValueError, AttributeError, TypeError):
        pass
    return _from_http_status(
        provider,
        status,
        f"{exc.args[0]}: {message}",
        code,
        dict(getattr(response, "headers", None) or {}),
    )


def _from_x(provider: str, exc: tweepy_errors.HTTPException) -> ChannelError:
    """tweepy raises one class per status. X's bodies are problem documents (``title``,
    ``detail``, ``type``), sometimes with ``errors: [{code, message}]`` as in API v1.1."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    headers = _headers(getattr(response, "headers", None))
    message = "; ".join(str(m) for m in exc.api_messages) or str(exc)
    code = str(exc.api_codes[0]) if exc.api_codes else None
    if isinstance(exc, tweepy_errors.TooManyRequests):
        # X names the end of the 15-minute window as an epoch in x-rate-limit-reset (tweepy
        # parses it); the shared helper knows only the x-ratelimit-reset spelling.
        wait = (
            max(0.0, exc.reset_time - time.time())
            if exc.reset_time is not None
            else retry_after(headers)
        )
        return TransientChannelError(
            message, provider=provider, code=code, status=status, retry_after=wait
        )
    if status == 403 and set(exc.api_codes) & X_DM_REFUSED:
        return PermanentChannelError(message, provider=provider, code=code, status=status)
    return _from_http_status(provider, status, message, code, headers)


def _sendgrid_message(exc: sendgrid_http.HTTPError) -> str:
    try:
        body = json.loads(exc.body)
        errors = body.get("errors") or []
        parts = []
        for err in errors:
            field = err.get("field")
            parts.append(f"{field}: {err.get('message')}" if field else str(err.get("message")))
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, TypeError):
        pass
    return f"HTTP {exc.status_code} {exc.reason}"


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    return {str(k).lower(): str(v) for k, v in raw.items()}


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date) or X-RateLimit-Reset (epoch)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    reset = lowered.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return None
