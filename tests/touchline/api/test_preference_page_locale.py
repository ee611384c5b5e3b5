"""The customer's pages in the customer's language and time zone, on a real API server, on
SQLite and PostgreSQL: French as stated in their profile (``fr-FR`` → ``fr``, as their
emails are chosen), else as their browser asks; quiet hours and the time now shown in their
own zone, which the page lets them change (an IANA name, validated: a bad one is a 422
and changes nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.api.pages.messages import MESSAGES, language_of
from touchline.clock import ManualClock
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.links import signed_link
from touchline.record import Consent, Customer, Identity, Preference


@pytest.fixture
def app_settings(
    db: Database, api_server: ThreadedApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    for key, value in {
        "TOUCHLINE_HOME": str(tmp_path / "home"),
        "TOUCHLINE_DATABASE_URL": db.url,
        "TOUCHLINE_PUBLIC_URL": api_server.url,
        "TOUCHLINE_LINK_SECRET": "locale-test-secret",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield Settings()
    reset_settings_cache()


@pytest.fixture
def client(
    app_settings: Settings, db: Database, api_server: ThreadedApp, clock: ManualClock
) -> Iterator[httpx.Client]:
    api_server.start(create_app(app_settings, db, clock))
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        yield http


def customer(
    db: Database, cid: str, *, locale: str | None, timezone: str | None, sms: str | None = None
) -> None:
    """A customer with an email and a phone; ``sms``: their SMS marketing status."""
    with db.session() as session:
        session.add(Customer(id=cid, attributes={}, created_at=START, updated_at=START))
        session.flush()
        session.add_all([
            Identity(customer_id=cid, kind="email", value=f"{cid}@example.fr", source="form",
                     evidence={"e": 1}, created_at=START),
            Identity(customer_id=cid, kind="phone", value="+33612345678", source="form",
                     evidence={"e": 1}, created_at=START),
            Consent(customer_id=cid, channel="email", purpose="marketing", status="granted",
                    source="signup_form", evidence={"e": 1}, recorded_at=START),
        ])  # fmt: skip
        if sms:
            session.add(Consent(customer_id=cid, channel="sms", purpose="marketing", status=sms,
                                source="signup_form", evidence={"e": 1}, recorded_at=START))  # fmt: skip
        if locale or timezone:
            session.add(Preference(customer_id=cid, channel_order=[], locale=locale,
                                   timezone=timezone, updated_at=START))  # fmt: skip


def path(settings: Settings, purpose: str, cid: str) -> str:
    link = signed_link(
        settings.public_url, settings.link_secret.get_secret_value(), purpose,
        customer_id=cid, expires_at=START + timedelta(days=30),
    )  # fmt: skip
    return httpx.URL(link).path


def as_shown(**changes: Any) -> dict[str, Any]:
    """The preference form as the page shows it for the customers above, then changed."""
    return {"form": "preferences", "channel": "email", "topic": ["newsletter", "promotions"],
            "first": "email", "quiet_start": "", "quiet_end": "", **changes}  # fmt: skip


def test_the_page_speaks_french_and_tells_the_time_in_the_customers_zone(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    customer(db, "fr1", locale="fr-FR", timezone="Europe/Paris")

    page = client.get(path(app_settings, "p", "fr1"), headers={"Accept-Language": "en"})

    assert page.status_code == 200
    text = page.text
    assert '<html lang="fr">' in text
    for words in ("Vos messages de Touchline Outfitters", "Heures calmes", "Fuseau horaire",
                  "Enregistrer mes choix", "Me désabonner de tout le marketing",
                  "Les SMS n&#39;arrivent jamais entre 21:00 et 08:00 (Europe/Paris)"):  # fmt: skip
        assert words in text, words
    # 14:00 UTC on 23 November is 15:00 in Paris.
    assert "Votre heure actuelle : 15:00" in text
    assert '<option value="Europe/Paris" selected>Europe/Paris (UTC+01:00)</option>' in text
    assert "Save my choices" not in text


@pytest.mark.parametrize(
    ("stated", "accept", "language"),
    [
        (None, "fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        (None, "de-DE, fr;q=0.5", "fr"),
        (None, "de-DE", "en"),
        (None, None, "en"),
        ("en", "fr", "en"),  # what they stated beats their browser
        ("fr_CA", "en", "fr"),
    ],
)
def test_the_language_is_the_stated_one_then_the_browsers(
    stated: str | None, accept: str | None, language: str
) -> None:
    assert language_of(stated, accept) == language


def test_every_french_phrase_exists_for_every_english_one() -> None:
    english = set(MESSAGES["en"])
    assert english <= set(MESSAGES["fr"])
    assert all(MESSAGES["fr"][key] != MESSAGES["en"][key] for key in english - {
        "channel.whatsapp"})  # fmt: skip


def test_a_customer_sets_their_time_zone_on_the_page(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    customer(db, "c1", locale=None, timezone="Asia/Kathmandu")
    page_path = path(app_settings, "p", "c1")
    shown = client.get(page_path).text
    # Their own zone is offered even though it is not a common one; the time is theirs.
    assert '<option value="Asia/Kathmandu" selected>Asia/Kathmandu (UTC+05:45)</option>' in shown
    assert "Your time now: 19:45" in shown

    saved = client.post(
        page_path,
        data=as_shown(timezone="America/New_York", quiet_start="21:30", quiet_end="08:00"),
    )

    assert saved.status_code == 303
    with db.session() as session:
        pref = session.get(Preference, "c1")
        assert pref is not None and pref.timezone == "America/New_York"
        assert (pref.quiet_hours_start.isoformat(), pref.quiet_hours_end.isoformat()) == (
            "21:30:00", "08:00:00",
        )  # fmt: skip
        # Stated preferences are not consent: the ledger is untouched.
        assert (
            session.scalars(select(Consent).where(Consent.source == "preference_page")).all() == []
        )
    again = client.get(saved.headers["location"]).text
    assert '<option value="America/New_York" selected>' in again
    assert "in your time zone (America/New_York)" in again and "Your time now: 09:00" in again
    assert 'value="21:30"' in again


@pytest.mark.parametrize(
    ("zone", "language", "words"),
    [
        ("Mars/Olympus_Mons", "en", "'Mars/Olympus_Mons' is not a time zone"),
        ("../../etc/passwd", "fr", "Ce fuseau horaire est inconnu"),
        ("Europe/" + "x" * 300, "en", "is not a time zone"),
    ],
)
def test_a_bad_time_zone_is_refused_in_the_customers_words(
    client: httpx.Client, db: Database, app_settings: Settings, zone: str, language: str,
    words: str,
) -> None:  # fmt: skip
    customer(db, "c1", locale=language, timezone="Europe/Paris")

    response = client.post(path(app_settings, "p", "c1"), data=as_shown(timezone=zone))

    assert response.status_code == 422
    assert words in response.text.replace("&#39;", "'")
    with db.session() as session:
        assert session.get(Preference, "c1").timezone == "Europe/Paris"


def test_a_refused_form_is_explained_in_french(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    customer(db, "fr1", locale="fr", timezone="Europe/Paris")

    response = client.post(path(app_settings, "p", "fr1"), data=as_shown(quiet_start="22:00"))

    assert response.status_code == 422
    assert "Rien n&#39;a été modifié" in response.text
    assert "Indiquez une heure de début et une heure de fin" in response.text
    assert 'value="22:00"' in response.text  # what they typed is kept


def test_the_saved_notice_is_french(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    customer(db, "fr1", locale="fr", timezone="Europe/Paris")

    saved = client.post(path(app_settings, "p", "fr1"), data={"form": "unsubscribe_all"})

    assert (
        "C&#39;est fait : vous ne recevrez plus de marketing"
        in client.get(saved.headers["location"]).text
    )


def test_the_sms_confirmation_page_speaks_french(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    customer(db, "fr1", locale="fr-FR", timezone="Europe/Paris", sms="pending")
    confirm = path(app_settings, "c", "fr1")

    page = client.get(confirm).text
    assert "Recevoir nos offres par SMS ?" in page and "Oui, envoyez-moi des SMS" in page
    assert "•••• 5678" in page and '<html lang="fr">' in page

    done = client.post(confirm)
    assert done.status_code == 200 and "Merci, vous êtes inscrit·e" in done.text
    assert "Vous êtes déjà inscrit·e" in client.get(confirm).text


def test_an_invalid_link_answers_in_the_browsers_language(client: httpx.Client) -> None:
    french = client.get("/p/not-a-token", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    english = client.get("/p/not-a-token")

    assert french.status_code == english.status_code == 404
    assert "Ce lien n&#39;est plus valide" in french.text and "Rien n&#39;a été" in french.text
    assert "This link is not valid any more" in english.text
