"""Previews render what a customer would receive, with the decision taken now, and record
nothing; proofs go through the real channel (the emulators) to the proof list only, and no
report, cap, learned effectiveness or attribution ever counts them."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from channels.webhooks import ProviderEvent
from preference_center import load_profiles
from sandbox import SandboxClient
from tests.conftest import START
from tests.touchline.engine.test_language import customer, journey, send
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine
from touchline.inbound import record_provider_events
from touchline.launch import launch
from touchline.lifecycle.preview import PreviewError, Renderer, preview
from touchline.lifecycle.preview_files import write_previews
from touchline.lifecycle.proofs import ProofError, send_proofs
from touchline.lifecycle.screenshots import unavailable
from touchline.lifecycle.status import journey_status
from touchline.record import Interaction, ProofSend, Touch

PROMO = """key: promo
name: Promo
purpose: marketing
trigger: segment
reentry: every_event
context: {sale_code: SNOW25, sale_ends: December 6, shop_url: "https://shop.example"}
steps:
  - {id: announce, type: send, channel: [email, sms], template: winter_sale/announce}
"""


@pytest.fixture
def promo(db: Database, catalog: TemplateCatalog, tmp_path: Path) -> None:
    journey(db, catalog, PROMO)
    send(db, customer("ann", tz="Europe/Paris"), customer("bob"))
    segment = tmp_path / "segment.csv"
    segment.write_text("customer_id,discount\nann,40%\n")
    launch(db, "promo", segment, now=START)  # ann is enrolled, bob is not


def counts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        touches = session.scalar(select(func.count()).select_from(Touch))
        interactions = session.scalar(select(func.count()).select_from(Interaction))
    return touches, interactions


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_preview_renders_every_channel_with_the_decision_and_records_nothing(
    engine: Engine, db: Database, promo: None, tmp_path: Path
) -> None:
    before = counts(db)
    renderer = Renderer(engine.settings, engine.catalog, engine.policy)
    definition, version, [item] = preview(db, renderer, "promo", START, customer_id="ann")
    assert (definition.key, version, item.step_id) == ("promo", 1, "announce")
    assert item.decision.channel == "email" and item.decision.send_at == START
    assert any("email" in str(r) for r in item.decision.reasons)
    email, sms = item.channels
    assert (email.channel, email.chosen, email.address) == ("email", True, "ann@example.com")
    assert "SNOW25" in email.message.html
    # Rendered with ann's own enrollment: her segment row's discount.
    assert item.enrolled and "40% off" in email.detail["subject"]
    assert (sms.channel, sms.chosen) == ("sms", False)
    assert sms.detail["encoding"] in ("GSM-7", "UCS-2") and sms.detail["segments"] >= 1
    assert "SNOW25" in sms.detail["body"]

    reason = write_previews(tmp_path, [item], screenshots=unavailable() is None)
    folder = tmp_path / "ann" / "announce"
    assert (folder / "email.subject.txt").read_text() == email.detail["subject"]
    assert "SNOW25" in (folder / "email.txt").read_text()
    assert (folder / "sms.txt").read_text() == sms.detail["body"]
    assert '"channel": "email"' in (folder / "decision.json").read_text()
    if reason is None:
        assert png_size(folder / "email.desktop.png")[0] == 1280
        assert png_size(folder / "email.phone.png")[0] == 390
    assert counts(db) == before  # a preview is not a touch


def test_preview_samples_customers_and_names_what_is_wrong(
    engine: Engine, db: Database, promo: None
) -> None:
    renderer = Renderer(engine.settings, engine.catalog, engine.policy)
    _, _, items = preview(db, renderer, "promo", START, sample=2)
    by_customer = {i.customer_id: i for i in items}
    assert sorted(by_customer) == ["ann", "bob"]
    # bob is not enrolled: rendered as if entering now, with the template's default.
    assert not by_customer["bob"].enrolled
    assert "25% off" in by_customer["bob"].channels[0].detail["subject"]
    with pytest.raises(PreviewError, match="no send step 'nope'; its send steps: announce"):
        preview(db, renderer, "promo", START, step_id="nope")
    with pytest.raises(PreviewError, match="no customer 'zed'"):
        preview(db, renderer, "promo", START, customer_id="zed")


def test_a_proof_goes_to_the_proof_list_only_and_is_never_counted(
    engine: Engine, db: Database, promo: None, sandbox_client: SandboxClient
) -> None:
    settings = engine.settings.model_copy(update={"proof_addresses": ["team@touchline.example"]})
    engine = replace(engine, settings=settings)
    with pytest.raises(ProofError, match=r"not on the proof list: ann@example\.com"):
        send_proofs(engine, "promo", ["team@touchline.example", "ann@example.com"], START, who="t")
    assert sandbox_client.emails() == []  # one address outside the list: nothing sent

    before = counts(db)
    [result] = send_proofs(engine, "promo", ["team@touchline.example"], START, who="ana",
                           customer_id="ann")  # fmt: skip
    assert result.status == "sent" and result.channel == "email"
    [email] = sandbox_client.emails()
    assert email["to"] == "team@touchline.example" and email["subject"].startswith("[Proof] ")
    with db.session() as session:
        [proof] = session.execute(select(ProofSend)).scalars().all()
        assert (proof.address, proof.sent_by, proof.customer_id) == (
            "team@touchline.example", "ana", "ann",
        )  # fmt: skip
        assert proof.detail["proof"] is True
        # Not a touch: status, caps (recent marketing) and the provider's events ignore it.
        assert counts(db) == before
        [status] = journey_status(session, START, "promo")
        assert status.sent_today == {}
        profile = load_profiles(session, {"ann"}, marketing_since=START - timedelta(days=7))["ann"]
        assert profile.recent_marketing == 0
        opened = ProviderEvent("sendgrid", "ev1", "opened", proof.provider_message_id,
                               email["touch_id"], "team@touchline.example", START)  # fmt: skip
        report = record_provider_events(session, [opened], START)
        assert report.unmatched == ["ev1"] and report.recorded == 0
