"""Content rules, checked on what the providers received: every marketing email carries a
text part, inlined CSS, one-click List-Unsubscribe, the sender's postal address, and the touch
id in categories and custom_args; a marketing SMS always says how to opt out."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox import SandboxClient
from tests.conftest import START
from touchline.config import PROJECT_ROOT, Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine, advance_next_batch
from touchline.intake import ingest
from touchline.journeys.loader import LoadedJourney, parse_journey
from touchline.journeys.store import publish
from touchline.launch import launch
from touchline.record import Interaction, Touch

CONFIRMED = {"confirmed_at": "2026-11-01T09:00:00Z", "method": "one-time code"}
# Every shipped marketing email: two sent on an event, two to a launched segment.
EMAIL_TEMPLATES = {
    "mails": ("welcome/welcome", "cart/reminder"),
    "sale": ("winter_sale/announce", "winter_sale/reminder"),
}
CONTEXT = """context:
  offer: {code: WELCOME15, discount_percent: 15, valid_days: 14}
  shop_url: https://shop.example
  sale_ends: December 31
  sale_code: WINTER25
"""
TRIGGERS = {"mails": "{event: customer.signed_up}", "sale": "segment"}
MAILS = {
    key: f"key: {key}\nname: Mails\npurpose: marketing\ntrigger: {TRIGGERS[key]}\n"
    + CONTEXT
    + "steps:\n"
    + "".join(
        f"  - {{id: mail_{n}, type: send, channel: email, template: {t}}}\n"
        for n, t in enumerate(templates)
    )
    for key, templates in EMAIL_TEMPLATES.items()
}
TEXTS = """key: {key}
name: Texts
purpose: {purpose}
trigger: {{event: customer.signed_up}}
steps:
  - {{id: text, type: send, channel: sms, template: rules/plain}}
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """The shipped templates, and one SMS that says nothing about opting out."""
    folder = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", folder)
    (folder / "rules").mkdir()
    (folder / "rules" / "plain.sms.j2").write_text("{{ company.name }}: new arrivals are in.")
    return folder


@pytest.fixture
def engine(settings: Settings, db: Database, templates: Path, tmp_path: Path) -> Iterator[Engine]:
    settings = settings.model_copy(update={"marketing_cap": 0, "templates_dir": templates})
    catalog = TemplateCatalog(templates)
    with db.session() as session:
        for text in (
            *MAILS.values(),
            TEXTS.format(key="offers", purpose="marketing"),
            TEXTS.format(key="notices", purpose="transactional"),
        ):
            definition = parse_journey(text, "test.yaml", catalog)
            publish(session, LoadedJourney(definition, PROJECT_ROOT / "journeys" / "t.yaml"), START)
    signup = {
        "id": "signup-ada", "type": "customer.signed_up", "customer_id": "ada",
        "occurred_at": START.isoformat(),
        "payload": {"cart": {"items": [{"name": "Boots", "price": 80}], "total": 80,
                             "currency": "USD", "url": "https://shop.example/cart/1"}},
        "profile": {"email": "ada@example.com", "phone": "+14155550100",
                    "attributes": {"first_name": "Ada"}},
        "preferences": {"timezone": "Europe/London"},
        "consents": [{"channel": "email", "status": "granted"},
                     {"channel": "sms", "status": "granted", "evidence": CONFIRMED},
                     {"channel": "sms", "purpose": "transactional", "status": "granted"}],
    }  # fmt: skip
    report = ingest(db, [(1, json.dumps(signup))], now=START, source="test")
    assert not report.rejected, report.rejected
    segment = tmp_path / "segment.csv"
    segment.write_text("customer_id\nada\n", encoding="utf-8")
    launch(db, "sale", segment, now=START)
    engine = Engine.from_settings(settings, db)
    try:
        while advance_next_batch(engine, START).claimed:
            pass
        yield engine
    finally:
        engine.close()


def touch_ids(db: Database, journey: str) -> dict[str, str]:
    """step -> touch id, for the touches that were sent."""
    with db.session() as session:
        rows = session.execute(
            select(Touch.step_id, Touch.id)
            .join(Interaction, Interaction.touch_id == Touch.id)
            .where(Touch.journey_key == journey, Interaction.kind == "sent")
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def test_every_marketing_email_carries_what_the_rules_ask(
    engine: Engine, db: Database, sandbox_client: SandboxClient, settings: Settings
) -> None:
    sent = {(key, step): touch for key in MAILS for step, touch in touch_ids(db, key).items()}
    assert len(sent) == sum(len(t) for t in EMAIL_TEMPLATES.values())
    for (journey, step), touch in sent.items():
        [email] = sandbox_client.emails(touch_id=touch)
        assert email["text"].strip(), step  # a plain-text part
        # CSS inlined: the layout's classes became style attributes; @media stays behind.
        assert '<td class="footer" style="padding: 24px 32px' in email["html"], step
        assert "<style>@media (max-width: 620px)" in email["html"], step
        # RFC 8058 one-click unsubscribe, to our own signed link.
        unsubscribe = email["headers"]["List-Unsubscribe"]
        assert unsubscribe.startswith(f"<{settings.public_url}/u/") and unsubscribe.endswith(">")
        assert email["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # The sender's postal address, in both parts.
        assert settings.company_postal_address in email["html"], step
        assert settings.company_postal_address in email["text"], step
        # Categories (journey, step) and custom_args carry what finds the touch again.
        assert set(email["categories"]) == {journey, step}
        assert email["custom_args"]["touch_id"] == touch


def test_a_marketing_sms_says_how_to_opt_out_and_a_transactional_one_is_as_written(
    engine: Engine, db: Database, sandbox_client: SandboxClient
) -> None:
    [marketing] = sandbox_client.sms(touch_id=touch_ids(db, "offers")["text"])
    [transactional] = sandbox_client.sms(touch_id=touch_ids(db, "notices")["text"])
    company = engine.settings.company_name
    assert marketing["body"] == f"{company}: new arrivals are in. Reply STOP to opt out."
    assert transactional["body"] == f"{company}: new arrivals are in."
    with db.session() as session:
        detail = session.execute(
            select(Interaction.detail).where(
                Interaction.touch_id == touch_ids(db, "offers")["text"], Interaction.kind == "sent"
            )
        ).scalar_one()
    # What was counted is what was sent: the instructions are in the segments.
    assert detail["body"] == marketing["body"] and detail["segments"] == 1
