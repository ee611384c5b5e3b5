"""Authentication of the operator API: one bearer token for operators and the systems
they run (``TOUCHLINE_API_TOKEN``). Customers never need it: their pages are reached by
signed links, and providers' webhooks carry the providers' own signatures."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from touchline.api.deps import ApiState, state

bearer = HTTPBearer(
    auto_error=False,
    description="The operator API token (TOUCHLINE_API_TOKEN), as `Authorization: Bearer …`.",
)


def require_operator(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    app: Annotated[ApiState, Depends(state)],
) -> None:
    expected = app.settings.api_token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    # compare_digest: the time taken must not tell how much of a guessed token was right.
    if not expected or not hmac.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid operator token is required: Authorization: Bearer <TOUCHLINE_API_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
