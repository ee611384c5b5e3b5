"""Erasure and export through the real paths: a customer signs up by event, gets the welcome
email from the engine through the SendGrid emulator, opens it (a provider event), orders,
changes consent with evidence, and has a second profile merged in. After
``forget_customer`` no column of any table — every table SQLModel knows, every text and
JSON column — holds their email, phone or name, on SQLite and PostgreSQL; the consent
evidence is still there, under keyed hashes; and the address coming back in a re-import
does not bring marketing back without a consent given after the erasure.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Text, cast, func, select
from sqlmodel import SQLModel

from channels.webhooks import ProviderEvent
from channels.webhooks.twilio_inbound import InboundMessage
from preference_center.ledger import current_consents, record_consent
from preference_center.linking import link_identity
from preference_center.merge import merge_customers
from preference_center.schemas import ConsentIn
from sandbox import SandboxClient, SandboxServer
from tests.conftest import START
from touchline import ids
from touchline.config import Settings
from touchline.db import Database
from touchline.engine import Engine, advance_next_batch
from touchline.inbound import handle_inbound_sms, record_provider_events
from touchline.intake import ingest
from touchline.privacy.actions import export_customer_data, forget_customer
from touchline.privacy.keys import is_keyed_hash, keyed_hash
from touchline.record import (
    Consent,
    Customer,
    Enrollment,
    Identity,
    Interaction,
    PrivacyAudit,
    Suppression,
    Touch,
)

pytestmark = pytest.mark.usefixtures("published")

EMAIL = "wilhelmina.q@example.org"
OTHER_EMAIL = "w.quackenbush@example.net"
PHONE = "+14155550123"
FIRST, LAST = "Wilhelmina", "Quackenbush"
# What must be gone afterwards, matched case-insensitively anywhere in any text or JSON.
PLAIN = (EMAIL, OTHER_EMAIL, PHONE, "4155550123", "555-0123", FIRST, LAST, "203.0.113.77")
CONFIRMED = {"confirmed_at": "2026-11-01T09:00:00Z", "method": "one-time code"}


def signup(customer: str, event_id: str, at: datetime, **profile: object) -> dict:
    return {
        "id": event_id,
        "type": "customer.signed_up",
        "customer_id": customer,
        "occurred_at": at.isoformat(),
        "profile": {
            "email": EMAIL,
            "phone": PHONE,
            "attributes": {"first_name": FIRST, "last_name": LAST, "segment": "vip"},
            **profile,
        },
        "preferences": {"timezone": "America/New_York", "locale": "en-US"},
        "consents": [
            {"channel": "email", "status": "granted", "evidence": {"form": "footer"}},
            {"channel": "sms", "status": "granted", "evidence": CONFIRMED},
        ],
    }


def send(db: Database, now: datetime, *events: dict) -> None:
    report = ingest(
        db, [(n, json.dumps(e)) for n, e in enumerate(events, 1)], now=now, source="test"
    )
    assert not report.rejected, report.rejected


def advance(engine: Engine, now: datetime) -> None:
    while advance_next_batch(engine, now).claimed:
        pass


def a_full_life(db: Database, engine: Engine, settings: Settings) -> None:
    """c1 signs up, is welcomed by email, opens it, orders, changes consent; c1-old (their
    second profile, another email) is merged into c1."""
    send(db, START, signup("c1", "signup-c1", START - timedelta(minutes=5)))
    advance(engine, START)
    with db.session() as session:
        enrollment = session.scalars(
            select(Enrollment.id).where(Enrollment.customer_id == "c1")
        ).one()
        touch_id = ids.touch_id(enrollment, "welcome_email")
        opened = ProviderEvent(
            "sendgrid", "open-1", "opened", None, touch_id, EMAIL, START + timedelta(hours=1),
            {"email": EMAIL, "ip": "203.0.113.77", "useragent": "Mozilla/5.0"},
        )  # fmt: skip
        assert record_provider_events(session, [opened], START + timedelta(hours=1)).recorded == 1
        sent = session.scalars(
            select(Interaction).where(Interaction.touch_id == touch_id, Interaction.kind == "sent")
        ).one()
        assert FIRST in sent.detail["subject"]  # the rendered message said their name
        record_consent(
            session, "c1", [ConsentIn(channel="email", status="granted", topic="promotions")],
            source="preference_page", at=START + timedelta(hours=2), settings=settings,
            evidence={"ip": "203.0.113.77", "user_agent": "Mozilla/5.0", "typed": EMAIL},
        )  # fmt: skip
        session.add(Customer(id="c1-old", attributes={"name": f"{FIRST} {LAST}"},
                             created_at=START, updated_at=START))  # fmt: skip
        session.flush()
        link_identity(
            session, "c1-old", "email", OTHER_EMAIL, source="import",
            evidence={"file": "crm.csv", "row": f"{LAST};{OTHER_EMAIL}"}, at=START,
        )  # fmt: skip
        merge_customers(
            session, "c1-old", "c1", actor="ops@touchline", at=START + timedelta(hours=3),
            reason=f"same person: {FIRST} {LAST}", evidence={"email": OTHER_EMAIL},
        )  # fmt: skip
    order = {
        "id": "order-1",
        "type": "order.placed",
        "customer_id": "c1",
        "occurred_at": (START + timedelta(hours=4)).isoformat(),
        "payload": {
            "total": 42.5,
            "shipping": {"name": f"{FIRST} {LAST}", "street": "1 Navy Way"},
            "comment": "ring twice",
            "contact": f"call {FIRST} on (415) 555-0123 or mail {EMAIL.upper()}",
        },
    }
    send(db, START + timedelta(hours=4), order)
    # They text us: a message that names them, then STOP (evidence: their number, words).
    for sid, body in (("SM1", f"This is {FIRST}, is my order shipped?"), ("SM2", "Stop")):
        handle_inbound_sms(
            db, InboundMessage(sid, PHONE, settings.sms_from, body),
            START + timedelta(hours=5), settings,
        )  # fmt: skip
    # Another customer, untouched by c1's erasure.
    other = signup("c2", "signup-c2", START, email="ada@example.com", phone="+14155550999")
    other["profile"]["attributes"] = {"first_name": "Ada"}
    send(db, START + timedelta(hours=4), other)


def _holds_text(column: Any) -> bool:
    try:
        return column.type.python_type in (str, dict, list)
    except NotImplementedError:
        return True  # unknown: look anyway


def text_hits(db: Database, needles: tuple[str, ...]) -> list[str]:
    """Where any needle appears: 'table.column: needle', over every text and JSON column."""
    hits = []
    with db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            for column in table.columns:
                if not _holds_text(column):
                    continue
                as_text = func.lower(cast(column, Text))
                for needle in needles:
                    found = session.scalar(
                        select(func.count())
                        .select_from(table)
                        .where(as_text.contains(needle.lower()))
                    )
                    if found:
                        hits.append(f"{table.name}.{column.name}: {needle}")
    return hits


def test_after_erasure_no_table_holds_the_email_phone_or_name(
    db: Database, engine: Engine, settings: Settings, emulators: SandboxServer
) -> None:
    a_full_life(db, engine, settings)
    before = text_hits(db, PLAIN)
    # The test can see what it looks for: each of these is somewhere before the erasure.
    for needle in (EMAIL, OTHER_EMAIL, PHONE, FIRST, LAST, "203.0.113.77"):
        assert any(hit.endswith(f": {needle}") for hit in before), needle

    erased_at = START + timedelta(days=1)
    result = forget_customer(
        db, "c1-old", settings=settings, now=erased_at, actor="dpo", via="test"
    )

    assert result.customer_id == "c1" and sorted(result.profiles) == ["c1", "c1-old"]
    assert text_hits(db, PLAIN) == []
    with db.session() as session:
        # The other customer keeps everything.
        assert session.scalars(select(Identity.value).where(Identity.customer_id == "c2")).all()
        assert session.get(Customer, "c2").attributes == {"first_name": "Ada"}
        # Proof of consent is kept: every row, the address in its evidence a keyed hash.
        rows = session.scalars(select(Consent).where(Consent.customer_id == "c1")).all()
        typed = [r.evidence["typed"] for r in rows if "typed" in r.evidence]
        assert typed == [keyed_hash(settings, "email", EMAIL)]
        assert {r.source for r in rows} >= {"test", "preference_page", "sms_keyword", "erasure"}
        stop = next(r for r in rows if r.source == "sms_keyword")
        assert stop.status == "revoked" and stop.evidence["from"] == keyed_hash(
            settings, "phone", PHONE
        )
        # Nothing resumes for this id: marketing revoked on every channel.
        assert current_consents(session, "c1")[("email", "marketing")].status == "revoked"
        # The addresses are suppressed by keyed hash.
        hashed = set(
            session.scalars(select(Suppression.value).where(Suppression.reason == "erased"))
        )
        assert {keyed_hash(settings, "email", EMAIL), keyed_hash(settings, "phone", PHONE),
                keyed_hash(settings, "email", OTHER_EMAIL)} <= hashed  # fmt: skip
        assert all(is_keyed_hash(v) for v in hashed)
        # History still adds up: the order's total, the touch, its outcome.
        order = session.get(__import__("touchline.record", fromlist=["Event"]).Event, "order-1")
        assert order.payload["total"] == 42.5
        assert order.payload["shipping"] == {"name": "[erased]", "street": "[erased]"}
        touches = session.scalars(select(Touch).where(Touch.customer_id == "c1")).all()
        assert touches and all(t.address is None for t in touches)
        audit = session.scalars(select(PrivacyAudit)).one()
        assert (audit.action, audit.actor, audit.via) == ("erase", "dpo", "test")
        assert audit.customer_key == keyed_hash(settings, "customer_id", "c1")
        assert audit.counts["identity"] == 3 and audit.counts["profiles"] == 2
        assert "c1" not in json.dumps(audit.counts)


def test_an_erased_address_re_imported_does_not_resume_marketing_without_a_new_consent(
    db: Database, engine: Engine, settings: Settings, sandbox_client: SandboxClient
) -> None:
    send(db, START, signup("c1", "signup-c1", START - timedelta(minutes=5)))
    advance(engine, START)
    assert len(sandbox_client.emails(to=EMAIL)) == 1  # welcomed once
    erased_at = START + timedelta(days=1)
    forget_customer(db, "c1", settings=settings, now=erased_at, actor="dpo", via="test")

    # The old CRM file comes back: same address, new ids, the old opt-in (dated 2026-11-20).
    later = erased_at + timedelta(days=1)
    old = START - timedelta(days=3)
    send(db, later, signup("c1", "reimport-c1", old), signup("c7", "reimport-c7", old,
                                                             email=EMAIL, phone="+14155550777"))  # fmt: skip
    with db.session() as session:
        for customer in ("c1", "c7"):
            state = current_consents(session, customer)
            assert state[("email", "marketing")].status == "revoked", customer
        assert current_consents(session, "c1")[("sms", "marketing")].status == "revoked"
        # c7's phone was never erased: its consent stands.
        assert current_consents(session, "c7")[("sms", "marketing")].status == "granted"
        evidence = session.scalars(
            select(Consent.evidence).where(Consent.customer_id == "c7", Consent.source == "erasure")
        ).one()
        assert evidence["address"] == keyed_hash(settings, "email", EMAIL)
    advance(engine, later)
    # No welcome email to the erased address: the engine decided, the gate held.
    assert len(sandbox_client.emails(to=EMAIL)) == 1
    with db.session() as session:
        outcome = session.execute(
            select(Interaction.kind, Interaction.detail)
            .join(Touch, Touch.id == Interaction.touch_id)
            .where(Touch.customer_id == "c7", Interaction.kind.in_(["sent", "skipped"]))
        ).one()
        assert outcome.kind == "skipped"

    # A consent given after the erasure is a new consent, and counts.
    renewed = {
        "id": "signup-again-c7", "type": "preferences.updated", "customer_id": "c7",
        "occurred_at": (later + timedelta(hours=1)).isoformat(),
        "consents": [{"channel": "email", "status": "granted", "evidence": {"form": "signup"}}],
    }  # fmt: skip
    send(db, later + timedelta(hours=1), renewed)
    with db.session() as session:
        assert current_consents(session, "c7")[("email", "marketing")].status == "granted"


def test_an_erased_address_linked_by_an_operator_is_revoked_too(
    db: Database, settings: Settings
) -> None:
    with db.session() as session:
        for cid in ("c1", "c2"):
            session.add(Customer(id=cid, attributes={}, created_at=START, updated_at=START))
        session.flush()
        link_identity(session, "c1", "email", EMAIL, source="import", evidence={"f": 1}, at=START)
    forget_customer(db, "c1", settings=settings, now=START + timedelta(days=1), actor="a", via="t")
    with db.session() as session:
        link_identity(session, "c2", "email", EMAIL, source="admin", evidence={"t": 1},
                      at=START + timedelta(days=2))  # fmt: skip
        state = current_consents(session, "c2")[("email", "marketing")]
        assert (state.status, state.source) == ("revoked", "erasure")
        assert state.recorded_at == START + timedelta(days=1)  # dated at the erasure


def test_the_export_holds_everything_about_the_customer_and_is_audited(
    db: Database, engine: Engine, settings: Settings, emulators: SandboxServer
) -> None:
    a_full_life(db, engine, settings)
    export = export_customer_data(db, "c1", settings=settings, now=START + timedelta(days=1),
                                  actor="dpo", via="test")  # fmt: skip

    tables = export["tables"]
    assert sorted(export["profiles"]) == ["c1", "c1-old"]
    assert {r["value"] for r in tables["identity"]} == {EMAIL, OTHER_EMAIL, PHONE}
    assert {r["id"] for r in tables["event"]} >= {"signup-c1", "order-1"}
    assert {r["kind"] for r in tables["interaction"]} >= {"sent", "opened"}
    assert len(tables["customer_merge"]) == 1 and tables["preference"][0]["timezone"]
    assert any(r.get("topic") == "promotions" for r in tables["consent"])
    assert all(r["customer_id"] != "c2" for r in tables["event"] + tables["consent"])
    json.dumps(export)  # JSON all the way down
    with db.session() as session:
        audit = session.scalars(select(PrivacyAudit)).one()
        assert audit.action == "export" and audit.counts["identity"] == 3
