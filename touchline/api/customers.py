"""Privacy requests over HTTP (operators only): ``DELETE /customers/{customer_id}`` erases
the customer's personal data, ``GET /customers/{customer_id}/export`` returns everything
held about them as JSON. Both are audited (touchline.privacy); docs/privacy.md says what
erasure removes and what it keeps as proof.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from touchline.api.auth import require_operator
from touchline.api.deps import ApiState, state
from touchline.api.openapi import OPERATOR_ERRORS
from touchline.privacy.actions import export_customer_data, forget_customer

router = APIRouter(
    prefix="/customers/{customer_id}",
    dependencies=[Depends(require_operator)],
    tags=["privacy"],
    responses=OPERATOR_ERRORS,
)
App = Annotated[ApiState, Depends(state)]
# Ids as the record stores them (128 characters); a NUL or a control character is a 422
# here, before PostgreSQL would refuse it with a 500.
CustomerId = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$", description="The customer")
]
Actor = Annotated[
    str,
    Query(
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00-\x1f]+$",
        description="Who asked (an operator's name, a ticket number): kept in the audit.",
    ),
]


class ForgetOut(BaseModel):
    customer_id: str = Field(description="The customer erased (after following merges)")
    profiles: list[str] = Field(description="Every profile of the person: merged ones too")
    customer_key: str = Field(description="The keyed hash naming them in the privacy audit")
    counts: dict[str, int] = Field(description="Rows changed, table by table")
    audit_id: int


@router.delete(
    "",
    response_model=ForgetOut,
    summary="Erase a customer's personal data (GDPR Art. 17, CCPA deletion); audited",
)
def delete_customer(customer_id: CustomerId, app: App, actor: Actor = "operator-api") -> ForgetOut:
    result = forget_customer(
        app.db, customer_id, settings=app.settings, now=app.clock.now(), actor=actor, via="api"
    )
    return ForgetOut(
        customer_id=result.customer_id,
        profiles=result.profiles,
        customer_key=result.customer_key,
        counts=result.counts,
        audit_id=result.audit_id,
    )


@router.get(
    "/export",
    summary="Everything held about a customer, as JSON (GDPR Art. 15/20, CCPA); audited",
)
def get_export(customer_id: CustomerId, app: App, actor: Actor = "operator-api") -> dict[str, Any]:
    return export_customer_data(
        app.db, customer_id, settings=app.settings, now=app.clock.now(), actor=actor, via="api"
    )
