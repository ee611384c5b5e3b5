"""Authentication of the API's token-holders. Two bearer tokens:

- ``TOUCHLINE_API_TOKEN``, the operator's: every operator route (/customers/…) and
  ``POST /events``;
- ``TOUCHLINE_EVENTS_TOKEN``, the integrators': ``POST /events`` only, so a system that feeds
  us events cannot read or change anyone's consent, preferences or identities.

Customers never need either: their pages are reached by signed links, and providers'
webhooks carry the providers' own signatures.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from touchline.api.deps import ApiState, state

bearer = HTTPBearer(
    auto_error=False,
    description="The operator API token (TOUCHLINE_API_TOKEN) or, for POST /events only, the "
    "events token (TOUCHLINE_EVENTS_TOKEN), as `Authorization: Bearer …`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _matches(credentials: HTTPAuthorizationCredentials | None, token: SecretStr) -> bool:
    expected = token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    # compare_digest: the time taken must not tell how much of a guessed token was right.
    return bool(expected) and hmac.compare_digest(given, expected)


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "a valid token is required: Authorization: Bearer <TOUCHLINE_API_TOKEN>",
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_operator(credentials: Credentials, app: Annotated[ApiState, Depends(state)]) -> None:
    if _matches(credentials, app.settings.api_token):
        return
    if _matches(credentials, app.settings.events_token):
        # Known, but not allowed here: 403 tells the integrator which token they hold.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the events token may only POST /events; this route needs the operator token",
        )
    raise _unauthorized()


def require_events_sender(
    credentials: Credentials, app: Annotated[ApiState, Depends(state)]
) -> None:
    """The events token or the operator token."""
    settings = app.settings
    if not (
        _matches(credentials, settings.events_token) or _matches(credentials, settings.api_token)
    ):
        raise _unauthorized()
