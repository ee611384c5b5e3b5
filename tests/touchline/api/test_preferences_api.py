"""The preference center over HTTP: the operator API under /customers/…, and the customer's
own pages (/p/…, /c/…) driven as a browser would post them, on SQLite and PostgreSQL.

Every refusal is checked twice: the status and words a client sees, and a snapshot of the
record before and after (nothing written).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.links import sign, signed_link
from touchline.record import Consent, Customer, CustomerMerge, Event, Identity, Preference

TOKEN = "operator-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_settings(
    db: Database, api_server: ThreadedApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    # In the environment too: the service's schemas read the topics from there.
    for key, value in {
        "TOUCHLINE_HOME": str(tmp_path / "home"),
        "TOUCHLINE_DATABASE_URL": db.url,
        "TOUCHLINE_PUBLIC_URL": api_server.url,
        "TOUCHLINE_API_TOKEN": TOKEN,
        "TOUCHLINE_LINK_SECRET": "test-link-secret",
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


@pytest.fixture
def customers(db: Database) -> None:
    """c1: email and phone, email marketing granted, Paris time; c2: an email only."""
    with db.session() as session:
        for cid in ("c1", "c2"):
            session.add(Customer(id=cid, attributes={}, created_at=START, updated_at=START))
        session.flush()
        session.add_all(
            [
                Identity(customer_id="c1", kind="email", value="ada@example.com",
                         source="signup_form", evidence={"event_id": "e1"}, created_at=START),
                Identity(customer_id="c1", kind="phone", value="+14155550101",
                         source="signup_form", evidence={"event_id": "e1"}, created_at=START),
                Identity(customer_id="c2", kind="email", value="bob@example.com",
                         source="signup_form", evidence={"event_id": "e2"}, created_at=START),
                Consent(customer_id="c1", channel="email", purpose="marketing",
                        status="granted", source="signup_form", evidence={"event_id": "e1"},
                        recorded_at=START),
                Preference(customer_id="c1", channel_order=["email", "sms"],
                           timezone="Europe/Paris", updated_at=START),
            ]
        )  # fmt: skip


def snapshot(db: Database) -> dict[str, list[str]]:
    """Every row that a preference change could touch, to compare before and after."""
    tables = (Customer, Identity, Consent, Preference, CustomerMerge, Event)
    with db.session() as session:
        return {
            table.__name__: sorted(
                repr(sorted(row.model_dump().items())) for row in session.scalars(select(table))
            )
            for table in tables
        }


def ledger(db: Database, customer_id: str) -> list[Consent]:
    with db.session() as session:
        return list(
            session.scalars(
                select(Consent)
                .where(Consent.customer_id == customer_id)
                .order_by(Consent.recorded_at, Consent.id)
            )
        )


def page_link(settings: Settings, purpose: str, customer_id: str, expires_in: timedelta) -> str:
    return signed_link(
        settings.public_url, settings.link_secret.get_secret_value(), purpose,
        customer_id=customer_id, expires_at=START + expires_in,
    )  # fmt: skip


def path_of(link: str) -> str:
    return httpx.URL(link).path


# ---------------------------------------------------------------------------------------
# The operator API


@pytest.mark.usefixtures("customers")
def test_get_preferences_shows_stated_consent_topics_and_identities(client: httpx.Client) -> None:
    body = client.get("/customers/c1/preferences", headers=AUTH).json()

    assert body["customer_id"] == "c1" and body["merged_into"] is None
    assert body["stated"]["timezone"] == "Europe/Paris"
    assert body["stated"]["channel_order"] == ["email", "sms"]
    consents = {(c["channel"], c["purpose"]): c for c in body["consents"]}
    assert consents[("email", "marketing")]["status"] == "granted"
    assert consents[("email", "marketing")]["allowed"] is True
    assert consents[("sms", "marketing")] | {"reason": ""} == {
        "channel": "sms", "purpose": "marketing", "status": None, "allowed": False,
        "reason": "", "source": None, "recorded_at": None,
    }  # fmt: skip
    topics = {t["name"]: t for t in body["topics"]}
    assert topics["newsletter"]["subscribed"] and not topics["newsletter"]["required"]
    assert topics["account"]["required"]
    assert {(i["kind"], i["value"]) for i in body["identities"]} == {
        ("email", "ada@example.com"),
        ("phone", "+14155550101"),
    }


@pytest.mark.usefixtures("customers")
def test_patch_preferences_changes_only_the_fields_given(
    client: httpx.Client, db: Database
) -> None:
    response = client.patch(
        "/customers/c1/preferences",
        headers=AUTH,
        json={"quiet_hours": {"start": "22:00", "end": "07:30"}, "locale": "fr"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["stated"]["quiet_hours"] == {"start": "22:00:00", "end": "07:30:00"}
    with db.session() as session:
        pref = session.get(Preference, "c1")
        assert pref is not None
        assert (pref.quiet_hours_start, pref.quiet_hours_end) == (time(22), time(7, 30))
        assert pref.locale == "fr" and pref.timezone == "Europe/Paris"  # untouched

    cleared = client.patch("/customers/c1/preferences", headers=AUTH, json={"quiet_hours": None})
    assert cleared.json()["stated"]["quiet_hours"] is None


@pytest.mark.usefixtures("customers")
def test_consents_are_appended_with_evidence_and_sms_waits_for_confirmation(
    client: httpx.Client, db: Database
) -> None:
    response = client.post(
        "/customers/c1/consents",
        headers=AUTH,
        json={
            "changes": [
                {"channel": "sms", "status": "granted"},
                {"channel": "all", "topic": "promotions", "status": "revoked"},
            ],
            "source": "admin",
            "evidence": {"ticket": "SUP-1"},
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["awaiting_confirmation"] == ["sms"]
    assert [(r["channel"], r["topic"], r["status"]) for r in body["rows"]] == [
        ("sms", None, "pending"),
        ("all", "promotions", "revoked"),
    ]
    # The customer is asked to confirm, the way intake asks: an event for the opt-in journey.
    with db.session() as session:
        asked = session.scalars(
            select(Event).where(Event.type == "consent.sms_confirmation_requested")
        ).all()
        assert [e.customer_id for e in asked] == ["c1"]

    history = client.get("/customers/c1/consents", headers=AUTH).json()
    assert [(h["channel"], h["status"], h["source"]) for h in history] == [
        ("email", "granted", "signup_form"),
        ("sms", "pending", "admin"),
        ("all", "revoked", "admin"),
    ]
    assert history[1]["evidence"] == {"ticket": "SUP-1"}
    topics = client.get("/customers/c1/preferences", headers=AUTH).json()["topics"]
    assert {t["name"]: t["subscribed"] for t in topics}["promotions"] is False


@pytest.mark.usefixtures("customers")
def test_identities_are_linked_normalised_listed_and_unlinked(
    client: httpx.Client, db: Database
) -> None:
    linked = client.post(
        "/customers/c1/identities",
        headers=AUTH,
        json={"kind": "email", "value": "Ada.Work@EXAMPLE.com", "evidence": {"login": "sso"},
              "verified": True},
    )  # fmt: skip

    assert linked.status_code == 201, linked.text
    assert linked.json()["value"] == "Ada.Work@example.com"
    listed = client.get("/customers/c1/identities", headers=AUTH).json()
    assert ("email", "Ada.Work@example.com", True) in {
        (i["kind"], i["value"], i["verified"]) for i in listed
    }

    removed = client.delete("/customers/c1/identities/email/Ada.Work@example.com", headers=AUTH)
    assert removed.status_code == 204
    phone = client.delete("/customers/c1/identities/phone/+14155550101", headers=AUTH)
    assert phone.status_code == 204
    with db.session() as session:
        left = session.scalars(select(Identity.value).where(Identity.customer_id == "c1")).all()
        assert left == ["ada@example.com"]


@pytest.mark.usefixtures("customers")
def test_an_address_of_another_customer_is_a_conflict_and_changes_nothing(
    client: httpx.Client, db: Database
) -> None:
    before = snapshot(db)

    response = client.post(
        "/customers/c1/identities",
        headers=AUTH,
        json={"kind": "email", "value": "bob@EXAMPLE.com", "evidence": {"form": "x"}},
    )

    assert response.status_code == 409
    assert response.json()["owner"] == "c2"
    assert "merge" in response.json()["detail"]
    assert snapshot(db) == before


@pytest.mark.usefixtures("customers")
def test_merge_moves_the_source_into_the_customer_and_returns_the_audit(
    client: httpx.Client, db: Database
) -> None:
    response = client.post(
        "/customers/c1/merge",
        headers=AUTH,
        json={"source_customer_id": "c2", "reason": "same person (support call)",
              "evidence": {"ticket": "SUP-2"}, "actor": "ada@ops"},
    )  # fmt: skip

    assert response.status_code == 200, response.text
    audit = response.json()
    assert (audit["source_customer_id"], audit["target_customer_id"], audit["actor"]) == (
        "c2", "c1", "ada@ops",
    )  # fmt: skip
    assert audit["moved"]["identity"] == 1
    assert client.get("/customers/c2/preferences", headers=AUTH).json()["merged_into"] == "c1"

    again = client.post(
        "/customers/c1/merge", headers=AUTH, json={"source_customer_id": "c2", "reason": "x"}
    )
    assert again.status_code == 409
    assert "already merged" in again.json()["detail"]


BAD_REQUESTS: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    # (name, method, path, json, status, words the answer must contain)
    ("invalid email", "POST", "/customers/c1/identities",
     {"kind": "email", "value": "ada@", "evidence": {"form": "x"}}, 422, "after the @-sign"),
    ("invalid phone", "POST", "/customers/c1/identities",
     {"kind": "phone", "value": "+1 555", "evidence": {"form": "x"}}, 422, "phone number"),
    ("unknown identity kind", "POST", "/customers/c1/identities",
     {"kind": "fax", "value": "123", "evidence": {"form": "x"}}, 422, "unknown identity kind"),
    ("identity without evidence", "POST", "/customers/c1/identities",
     {"kind": "email", "value": "new@example.com"}, 422, "evidence"),
    ("unknown channel", "POST", "/customers/c1/consents",
     {"changes": [{"channel": "pigeon", "status": "granted"}], "evidence": {"f": 1}}, 422,
     "changes.0.channel"),
    ("unknown topic", "POST", "/customers/c1/consents",
     {"changes": [{"channel": "email", "topic": "gossip", "status": "revoked"}],
      "evidence": {"f": 1}}, 422, "unknown topic 'gossip'"),
    ("required topic left", "POST", "/customers/c1/consents",
     {"changes": [{"channel": "all", "topic": "account", "status": "revoked"}],
      "evidence": {"f": 1}}, 422, "cannot be left"),
    ("one bad change refuses all", "POST", "/customers/c1/consents",
     {"changes": [{"channel": "sms", "status": "granted"},
                  {"channel": "email", "purpose": "transactional", "status": "pending"}],
      "evidence": {"f": 1}}, 422, "need no confirmation"),
    ("unknown source", "POST", "/customers/c1/consents",
     {"changes": [{"channel": "email", "status": "revoked"}], "source": "rumour",
      "evidence": {"f": 1}}, 422, "unknown source"),
    ("consent without evidence", "POST", "/customers/c1/consents",
     {"changes": [{"channel": "email", "status": "revoked"}], "evidence": {}}, 422, "evidence"),
    ("bad time zone", "PATCH", "/customers/c1/preferences",
     {"timezone": "Mars/Olympus"}, 422, "IANA"),
    ("unknown field", "PATCH", "/customers/c1/preferences", {"favourite_colour": "red"}, 422,
     "favourite_colour"),
    ("unknown customer", "PATCH", "/customers/nobody/preferences", {"locale": "fr"}, 404,
     "no customer 'nobody'"),
    ("merge into itself", "POST", "/customers/c1/merge",
     {"source_customer_id": "c1", "reason": "typo"}, 422, "into itself"),
    ("merge of an unknown customer", "POST", "/customers/c1/merge",
     {"source_customer_id": "ghost", "reason": "typo"}, 404, "ghost"),
    ("unlink an address they do not have", "DELETE",
     "/customers/c1/identities/email/bob@example.com", {}, 422, "has no email"),
]  # fmt: skip


@pytest.mark.usefixtures("customers")
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_input_is_refused_clearly_and_changes_nothing(
    client: httpx.Client,
    db: Database,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
    words: str,
) -> None:
    before = snapshot(db)

    response = client.request(method, path, headers=AUTH, json=body or None)

    assert response.status_code == status, response.text
    assert words in response.text
    if status == 422:
        assert response.json()["problems"], "422 answers name the field and the problem"
    assert snapshot(db) == before


@pytest.mark.usefixtures("customers")
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "not bearer"],
)
def test_the_operator_api_needs_the_bearer_token(
    client: httpx.Client, db: Database, headers: dict[str, str]
) -> None:
    before = snapshot(db)

    read = client.get("/customers/c1/preferences", headers=headers)
    write = client.post(
        "/customers/c1/consents",
        headers=headers,
        json={"changes": [{"channel": "email", "status": "revoked"}], "evidence": {"f": 1}},
    )

    assert (read.status_code, write.status_code) == (401, 401)
    assert read.headers["www-authenticate"] == "Bearer"
    assert "TOUCHLINE_API_TOKEN" in read.json()["detail"]
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------
# The customer's pages, posted the way a browser posts a plain form


def form(**fields: str | list[str]) -> dict[str, Any]:
    return {"form": "preferences", **fields}


@pytest.mark.usefixtures("customers")
def test_the_page_writes_only_what_changed(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    path = path_of(page_link(app_settings, "p", "c1", timedelta(days=30)))
    page = client.get(path)
    assert page.status_code == 200 and "a•••@example.com" in page.text
    assert "<script" not in page.text.lower()

    # Everything as shown, but newsletter unticked: one ledger row, no preference change.
    saved = client.post(
        path,
        data=form(channel="email", topic=["promotions"], first="email", quiet_start="",
                  quiet_end=""),
        headers={"User-Agent": "pytest-browser"},
    )  # fmt: skip

    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=saved")
    rows = ledger(db, "c1")[1:]
    assert [(r.channel, r.topic, r.status, r.source) for r in rows] == [
        ("all", "newsletter", "revoked", "preference_page")
    ]
    assert rows[0].evidence["user_agent"] == "pytest-browser"
    assert rows[0].evidence["link_issued_for"] == "c1"
    with db.session() as session:
        pref = session.get(Preference, "c1")
        assert pref is not None and pref.updated_at == START  # not written
    assert "Saved." in client.get(saved.headers["location"]).text


@pytest.mark.usefixtures("customers")
def test_sms_ticked_on_the_page_waits_for_the_confirmation_link(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    path = path_of(page_link(app_settings, "p", "c1", timedelta(days=30)))
    client.post(path, data=form(channel=["email", "sms"], topic=["newsletter", "promotions"],
                                first="sms"))  # fmt: skip
    assert ledger(db, "c1")[-1].status == "pending"
    with db.session() as session:  # the double opt-in journey is asked to text the link
        asked = session.scalars(select(Event.type).where(Event.customer_id == "c1")).all()
        assert asked == ["consent.sms_confirmation_requested"]
    assert "Waiting for you" in client.get(path).text

    confirm = path_of(page_link(app_settings, "c", "c1", timedelta(days=30)))
    assert "Yes, text me" in client.get(confirm).text
    done = client.post(confirm, headers={"User-Agent": "phone"})
    assert done.status_code == 200 and "subscribed" in done.text
    last = ledger(db, "c1")[-1]
    assert (last.channel, last.status, last.source) == ("sms", "granted", "confirmation_link")
    assert last.evidence["user_agent"] == "phone"

    rows = len(ledger(db, "c1"))
    assert "already subscribed" in client.post(confirm).text
    assert len(ledger(db, "c1")) == rows  # confirming twice writes nothing
    with db.session() as session:
        pref = session.get(Preference, "c1")
        assert pref is not None and pref.channel_order == ["sms", "email"]


BAD_FORMS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown topic", form(channel="email", topic=["gossip"]), "unknown topic"),
    ("unknown channel", form(channel=["email", "pigeon"]), "unknown channel"),
    ("half quiet hours", form(channel="email", quiet_start="22:00"), "both a start and an end"),
    ("not a time", form(channel="email", quiet_start="25:00", quiet_end="07:00"), "not a time"),
    ("no address for the channel", form(channel="sms"), "no mobile number"),
    ("not our form", {"channel": "email"}, "could not be read"),
]


@pytest.mark.usefixtures("customers")
@pytest.mark.parametrize(
    ("data", "words"), [c[1:] for c in BAD_FORMS], ids=[c[0] for c in BAD_FORMS]
)
def test_a_bad_form_shows_the_problem_and_changes_nothing(
    client: httpx.Client, db: Database, app_settings: Settings, data: dict[str, Any], words: str
) -> None:
    with db.session() as session:  # c2 has no phone: ticking SMS is refused
        session.add(Preference(customer_id="c2", channel_order=[], updated_at=START))
    before = snapshot(db)
    path = path_of(page_link(app_settings, "p", "c2", timedelta(days=30)))

    response = client.post(path, data=data)

    assert response.status_code == 422
    assert "Nothing was changed" in response.text and words in response.text
    assert snapshot(db) == before


@pytest.mark.usefixtures("customers")
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "link",
    ["forged", "expired", "other page", "unknown customer", "garbage"],
)
def test_a_forged_or_expired_link_gets_a_page_and_changes_nothing(
    client: httpx.Client, db: Database, app_settings: Settings, method: str, link: str
) -> None:
    secret = app_settings.link_secret.get_secret_value()
    exp = int((START + timedelta(days=1)).timestamp())
    token = {
        "forged": sign({"k": "p", "c": "c1", "exp": exp}, "not-our-secret"),
        "expired": sign({"k": "p", "c": "c1", "exp": int(START.timestamp()) - 1}, secret),
        "other page": sign({"k": "c", "c": "c1", "exp": exp}, secret),
        "unknown customer": sign({"k": "p", "c": "c9", "exp": exp}, secret),
        "garbage": "not-a-token",
    }[link]
    before = snapshot(db)

    response = client.request(method, f"/p/{token}", data={"form": "unsubscribe_all"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "not valid" in response.text and "Nothing was changed" in response.text
    assert snapshot(db) == before


@pytest.mark.usefixtures("customers")
def test_a_link_to_a_merged_profile_reaches_the_person(
    client: httpx.Client, db: Database, app_settings: Settings
) -> None:
    client.post("/customers/c1/merge", headers=AUTH,
                json={"source_customer_id": "c2", "reason": "same person"})  # fmt: skip
    path = path_of(page_link(app_settings, "p", "c2", timedelta(days=30)))

    assert client.post(path, data={"form": "unsubscribe_all"}).status_code == 303

    rows = ledger(db, "c1")[-4:]  # marketing off on every channel
    assert {(r.channel, r.status, r.source) for r in rows} == {
        (channel, "revoked", "preference_page") for channel in ("email", "sms", "whatsapp", "x")
    }
    assert rows[0].evidence["link_issued_for"] == "c2"
