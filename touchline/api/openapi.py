"""The error answers every route can give, documented in the OpenAPI once, here.

Every JSON error has the shape of touchline.api.errors: ``detail`` (a sentence, or FastAPI's
list of validation errors) and ``problems`` naming each field. The request guard
(touchline.api.guard) can answer 413 and 422 on any route, before the route runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ProblemOut(BaseModel):
    field: str = Field(description="where: a dotted path into the body, 'path' or 'body'")
    message: str


class ErrorOut(BaseModel):
    detail: Any = Field(description="what went wrong, in a sentence")
    problems: list[ProblemOut] = Field(default=[], description="each bad field (4xx input)")


DESCRIPTIONS: dict[int, str] = {
    400: "the body cannot be read (a webhook payload that is not what the provider sends)",
    401: "no token, or not a valid one (`Authorization: Bearer <token>`)",
    403: "refused: the events token on an operator route, or a webhook signature or "
    "timestamp that does not verify",
    404: "no such customer or journey, or a link that is not valid",
    409: "conflicts with the record (an address that is another customer's, a merge made "
    "before, a journey state change that its current state does not allow)",
    413: "the body is larger than this route accepts; it was not read further",
    422: "invalid input, named field by field: validation, JSON nested too deeply, a NUL "
    "character, attributes over their limit",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these status codes, with the error model."""
    return {code: {"model": ErrorOut, "description": DESCRIPTIONS[code]} for code in codes}


# What each kind of route can answer besides success.
OPERATOR_ERRORS = error_responses(401, 403, 404, 413, 422)
EVENTS_ERRORS = error_responses(401, 413, 422)
WEBHOOK_ERRORS = error_responses(400, 403, 413, 422)
PAGE_ERRORS = {
    **error_responses(413, 422),
    404: {"description": DESCRIPTIONS[404] + " (an HTML page)", "content": {"text/html": {}}},
}
