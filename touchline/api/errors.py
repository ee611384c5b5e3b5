"""How the API answers when a request cannot be carried out — mapped here, in one place.

Each route runs in one transaction (``Database.session``), so an error raised anywhere in it
rolls back everything the request wrote: the handlers below only choose the status code and
the words. JSON routes get ``{"detail": …, "problems": [{"field", "message"}]}``; a customer's
link that is forged or expired gets a human page, because a person, not a program, opened it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from touchline.api.pages import render
from touchline.api.pages.messages import translator
from touchline.errors import (
    IdentityConflictError,
    InvalidMergeError,
    MergeError,
    PreferenceError,
    Problem,
    UnknownCustomerError,
)
from touchline.links import InvalidToken


def problems_json(problems: list[Problem]) -> list[dict[str, str]]:
    return [{"field": p.field, "message": p.message} for p in problems]


def _preference_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PreferenceError)
    return JSONResponse(
        {"detail": str(exc), "problems": problems_json(exc.problems)}, status_code=422
    )


def _unknown_customer(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _identity_conflict(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdentityConflictError)
    return JSONResponse(
        {"detail": str(exc), "kind": exc.kind, "value": exc.value, "owner": exc.owner},
        status_code=409,
    )


def merge_status(exc: MergeError) -> int:
    # A merge that can never be made as asked (a customer into itself) is bad input; one
    # that clashes with what already happened (merged before) conflicts with the record.
    return 422 if isinstance(exc, InvalidMergeError) else 409


def _merge_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MergeError)
    code = merge_status(exc)
    body: dict[str, Any] = {"detail": str(exc)}
    if code == 422:  # every 422 names its problems, as the other validation errors do
        body["problems"] = [{"field": "", "message": str(exc)}]
    return JSONResponse(body, status_code=code)


def _request_validation(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 (``detail``), plus the same ``problems`` list our errors carry, so a
    client reads one shape whichever layer refused the input."""
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    return JSONResponse(
        {"detail": errors, "problems": [_problem(error) for error in errors]}, status_code=422
    )


def _problem(error: dict[str, Any]) -> dict[str, str]:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return {"field": ".".join(location), "message": message}


def _invalid_link(request: Request, _exc: Exception) -> HTMLResponse:
    # Deliberately the same words for forged, expired and wrong-page tokens: telling them
    # apart would only help someone guessing.
    company = request.app.state.touchline.settings.company_name
    # Whose link it was is unknown (or not to be told): the browser's language decides.
    t = translator(None, request.headers.get("accept-language"))
    page = render("invalid_link.html.j2", t=t, title=t("title.invalid"), company=company)
    return HTMLResponse(page, status_code=404)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PreferenceError, _preference_error)
    app.add_exception_handler(UnknownCustomerError, _unknown_customer)
    app.add_exception_handler(IdentityConflictError, _identity_conflict)
    app.add_exception_handler(MergeError, _merge_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(InvalidToken, _invalid_link)
