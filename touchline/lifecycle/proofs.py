"""Proofs: the real message, through the real channel, to the team's own addresses.

Only addresses on the configured proof list (``TOUCHLINE_PROOF_ADDRESSES``) are accepted;
anything else refuses the whole request, so a typo never reaches a customer. The content is
rendered for a real customer (``--customer``) or a sampled one, exactly as the send step
would, and only the recipient changes (an email's subject says "[Proof]"). Proofs are kept
in ``proof_send``, never as touches: no report, frequency cap, learned effectiveness or
attribution reads that table, and the providers' webhooks for them match no touch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from channels import ChannelError, EmailMessage, Message
from touchline.engine import Engine
from touchline.errors import TouchlineError
from touchline.lifecycle.preview import Renderer, preview
from touchline.record import ProofSend

PROOF_PREFIX = "[Proof] "


class ProofError(TouchlineError):
    """A proof refused before anything was sent."""


@dataclass(frozen=True)
class ProofResult:
    address: str
    channel: str
    step_id: str
    status: str  # sent | failed
    provider_message_id: str | None
    error: str | None


def channel_of(address: str) -> str:
    """The channel an address belongs to: email, sms, whatsapp (``whatsapp:+…``), x (``@…``)."""
    if address.startswith("whatsapp:"):
        return "whatsapp"
    if address.startswith("@"):
        return "x"
    if "@" in address:
        return "email"
    if address.startswith("+"):
        return "sms"
    raise ProofError(
        f"'{address}' is not an address: give an email, +E.164 phone, whatsapp:+E.164 or @handle"
    )


def check_proof_list(addresses: list[str], allowed: list[str]) -> None:
    if not addresses:
        raise ProofError("give at least one --to ADDRESS from the proof list")
    known = {a.strip().lower() for a in allowed}
    outside = [a for a in addresses if a.strip().lower() not in known]
    if outside:
        listed = ", ".join(allowed) if allowed else "empty"
        raise ProofError(
            f"not on the proof list: {', '.join(outside)}. Proofs go only to "
            f"TOUCHLINE_PROOF_ADDRESSES (now: {listed}); nothing was sent"
        )


def send_proofs(
    engine: Engine,
    journey_key: str,
    addresses: list[str],
    now: datetime,
    *,
    who: str,
    step_id: str | None = None,
    customer_id: str | None = None,
    locale: str | None = None,
) -> list[ProofResult]:
    check_proof_list(addresses, engine.settings.proof_addresses)
    wanted = [(a.strip(), channel_of(a.strip())) for a in addresses]
    renderer = Renderer(engine.settings, engine.catalog, engine.policy)
    _journey, version, previews = preview(
        engine.db, renderer, journey_key, now, step_id=step_id, customer_id=customer_id,
        sample=1, locale=locale,
    )  # fmt: skip
    plans: list[tuple[str, str, str, Message, str]] = []  # address, channel, step, msg, cust
    for address, channel in wanted:
        usable = False
        for item in previews:
            render = next((r for r in item.channels if r.channel == channel), None)
            if render is None:
                continue
            usable = True
            if render.error is not None or render.message is None:
                raise ProofError(f"{item.step_id} ({channel}): {render.error}; nothing was sent")
            plans.append((address, channel, item.step_id, render.message, item.customer_id))
        if not usable:
            raise ProofError(
                f"no step of {journey_key} sends by {channel} (for {address}); nothing was sent"
            )
    results = []
    with engine.db.session() as session:
        for address, channel, step, message, customer in plans:
            proof_id = str(uuid.uuid4())
            outgoing = _addressed(message, address.removeprefix("whatsapp:").lstrip("@"),
                                  f"proof-{proof_id}")  # fmt: skip
            sender = engine.channels[channel]
            try:
                receipt = sender.send(outgoing)
                result = ProofResult(address, channel, step, "sent",
                                     receipt.provider_message_id, None)  # fmt: skip
            except ChannelError as exc:
                result = ProofResult(address, channel, step, "failed", None, exc.describe())
            session.add(
                ProofSend(
                    id=proof_id, journey_key=journey_key, journey_version=version, step_id=step,
                    channel=channel, address=address, customer_id=customer,
                    provider=sender.provider, provider_message_id=result.provider_message_id,
                    status=result.status, error=(result.error or "")[:500] or None,
                    sent_by=who, sent_at=now,
                    detail={"proof": True, "subject": getattr(outgoing, "subject", None)},
                )
            )  # fmt: skip
            results.append(result)
    return results


def _addressed(message: Message, address: str, touch_id: str) -> Message:
    changes: dict[str, object] = {"to": address, "touch_id": touch_id}
    if isinstance(message, EmailMessage):
        changes["subject"] = PROOF_PREFIX + message.subject
        changes["to_name"] = None
    return replace(message, **changes)  # type: ignore[arg-type]
