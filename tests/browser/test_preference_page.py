"""The customer's preference page in a real browser: Debian's headless Chromium, driven by
Playwright, at a phone's size, with JavaScript switched off — the page must not need it.

The API runs as a real HTTP server (the ``api_server`` fixture); the link is built the way
messages build it (touchline.links.signed_link); what the browser submits is checked in the
record afterwards, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from preference_center.ledger import current_consents
from sandbox import ThreadedApp
from tests.browsers import chromium
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.journeys.model import KNOWN_CHANNELS
from touchline.links import signed_link
from touchline.record import Consent, Customer, Identity, Preference

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PHONE = {"width": 390, "height": 844}
USER_AGENT = "Mozilla/5.0 (Linux; Android 14; Pixel 8) TouchlineBrowserTest/1.0"
SCREENSHOT = Path("/tmp/touchline_preference_page_phone.png")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        user_agent=USER_AGENT,
        java_script_enabled=False,
    )
    yield context.new_page()
    context.close()


@pytest.fixture
def app_settings(
    db: Database, api_server: ThreadedApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    for key, value in {
        "TOUCHLINE_HOME": str(tmp_path / "home"),
        "TOUCHLINE_DATABASE_URL": db.url,
        "TOUCHLINE_PUBLIC_URL": api_server.url,
        "TOUCHLINE_LINK_SECRET": "browser-test-secret",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield Settings()
    reset_settings_cache()


@pytest.fixture
def link(app_settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock) -> str:
    """The preference link of customer c1 (email and phone, email marketing granted), served
    by a real API server."""
    with db.session() as session:
        session.add(Customer(id="c1", attributes={}, created_at=START, updated_at=START))
        session.flush()
        session.add_all(
            [
                Identity(customer_id="c1", kind="email", value="ada@example.com",
                         source="signup_form", evidence={"event_id": "e1"}, created_at=START),
                Identity(customer_id="c1", kind="phone", value="+14155550101",
                         source="signup_form", evidence={"event_id": "e1"}, created_at=START),
                Consent(customer_id="c1", channel="email", purpose="marketing",
                        status="granted", source="signup_form", evidence={"event_id": "e1"},
                        recorded_at=START),
                Consent(customer_id="c1", channel="sms", purpose="marketing",
                        status="granted", source="signup_form",
                        evidence={"event_id": "e1", "confirmed_at": START.isoformat()},
                        recorded_at=START),
                Preference(customer_id="c1", channel_order=["email", "sms"],
                           timezone="Europe/Paris", updated_at=START),
            ]
        )  # fmt: skip
    api_server.start(create_app(app_settings, db, clock))
    return signed_link(
        app_settings.public_url, app_settings.link_secret.get_secret_value(), "p",
        customer_id="c1", expires_at=START + app_settings.preference_link_ttl,
    )  # fmt: skip


def new_rows(db: Database) -> list[Consent]:
    with db.session() as session:
        return list(
            session.scalars(
                select(Consent)
                .where(Consent.customer_id == "c1", Consent.source == "preference_page")
                .order_by(Consent.id)
            )
        )


def test_a_customer_changes_topics_and_quiet_hours_on_their_phone(
    phone: Page, link: str, db: Database
) -> None:
    response = phone.goto(link)
    assert response is not None and response.status == 200
    assert "<script" not in response.text().lower()
    assert phone.locator("script").count() == 0
    assert phone.get_by_role("heading", level=1).inner_text().startswith("Your messages from")
    # Readable on a phone: one column inside the screen, touch targets of at least 44 px.
    for element in (
        phone.get_by_role("button", name="Save my choices"),
        phone.get_by_label("Newsletter"),
    ):
        box = element.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    save_box = phone.get_by_role("button", name="Save my choices").bounding_box()
    assert save_box is not None and save_box["height"] >= 44

    account = phone.get_by_label("Account notices")  # required: shown on, cannot be changed
    assert account.is_checked() and account.is_disabled()

    phone.get_by_label("Newsletter").uncheck()
    phone.get_by_label("From").fill("22:30")
    phone.get_by_label("Until").fill("07:00")
    phone.get_by_role("button", name="Save my choices").click()

    phone.get_by_role("status").wait_for()
    assert "Saved" in phone.get_by_role("status").inner_text()
    assert not phone.get_by_label("Newsletter").is_checked()
    assert phone.get_by_label("From").input_value() == "22:30"
    phone.screenshot(path=str(SCREENSHOT), full_page=True)

    rows = new_rows(db)
    assert [(r.channel, r.topic, r.status) for r in rows] == [("all", "newsletter", "revoked")]
    assert rows[0].evidence["user_agent"] == USER_AGENT
    assert rows[0].evidence["link_issued_for"] == "c1"
    with db.session() as session:
        pref = session.get(Preference, "c1")
        assert pref is not None
        assert (pref.quiet_hours_start, pref.quiet_hours_end) == (time(22, 30), time(7, 0))
        assert pref.timezone == "Europe/Paris"  # shown on the page, left as it was


def test_unsubscribe_from_everything_revokes_marketing_on_every_channel(
    phone: Page, link: str, db: Database
) -> None:
    phone.goto(link)

    phone.get_by_role("button", name="Unsubscribe from all marketing").click()

    phone.get_by_role("status").wait_for()
    assert "no more marketing" in phone.get_by_role("status").inner_text()
    for channel in ("email", "sms"):
        assert not phone.locator(f"input[name=channel][value={channel}]").is_checked()
    assert {(r.channel, r.status) for r in new_rows(db)} == {
        (channel, "revoked") for channel in KNOWN_CHANNELS
    }
    with db.session() as session:
        current = current_consents(session, "c1")
        assert all(current[(c, "marketing")].status == "revoked" for c in KNOWN_CHANNELS)


def test_an_expired_link_shows_a_page_that_says_so(
    phone: Page, link: str, clock: ManualClock, db: Database
) -> None:
    clock.advance(timedelta(days=31))

    response = phone.goto(link)

    assert response is not None and response.status == 404
    assert "not valid" in phone.get_by_role("heading", level=1).inner_text()
    assert new_rows(db) == []


def test_a_french_customer_moves_to_new_york_on_their_phone(
    phone: Page, link: str, db: Database
) -> None:
    with db.session() as session:
        pref = session.get(Preference, "c1")
        assert pref is not None
        pref.locale = "fr-FR"

    phone.goto(link)

    assert phone.locator("html").get_attribute("lang") == "fr"
    assert phone.get_by_role("heading", level=1).inner_text().startswith("Vos messages de")
    zone = phone.get_by_label("Fuseau horaire")
    assert zone.input_value() == "Europe/Paris"
    box = zone.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 44
    assert "Votre heure actuelle : 15:00" in phone.locator("body").inner_text()

    zone.select_option("America/New_York")
    phone.get_by_label("De", exact=True).fill("22:00")
    phone.get_by_label("À", exact=True).fill("07:30")
    phone.get_by_role("button", name="Enregistrer mes choix").click()

    phone.get_by_role("status").wait_for()
    assert "Enregistré" in phone.get_by_role("status").inner_text()
    assert phone.get_by_label("Fuseau horaire").input_value() == "America/New_York"
    assert "Votre heure actuelle : 09:00" in phone.locator("body").inner_text()
    with db.session() as session:
        pref = session.get(Preference, "c1")
        assert pref is not None and pref.timezone == "America/New_York"
        assert (pref.quiet_hours_start, pref.quiet_hours_end) == (time(22, 0), time(7, 30))
    assert new_rows(db) == []  # a time zone is a preference, not consent
