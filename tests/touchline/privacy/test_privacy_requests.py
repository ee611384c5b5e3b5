"""Privacy requests as operators make them: ``DELETE /customers/{id}`` and
``GET /customers/{id}/export`` on a real API server (token required, unknown customer 404,
hostile actor 422), and ``touchline customers forget|export`` on the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sandbox import ThreadedApp
from tests.conftest import START
from touchline.api import create_app
from touchline.cli import app as cli
from touchline.clock import ManualClock
from touchline.config import Settings, reset_settings_cache
from touchline.db import Database
from touchline.record import Customer, Identity, PrivacyAudit

TOKEN = "privacy-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EMAIL = "zelda.privacy@example.org"


def a_customer(db: Database, customer_id: str = "c1") -> None:
    with db.session() as session:
        session.add(
            Customer(id=customer_id, attributes={"first_name": "Zelda"}, created_at=START,
                     updated_at=START)
        )  # fmt: skip
        session.flush()
        session.add(Identity(customer_id=customer_id, kind="email", value=EMAIL, source="test",
                             evidence={"e": 1}, created_at=START))  # fmt: skip


@pytest.fixture
def client(
    db: Database,
    api_server: ThreadedApp,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[httpx.Client]:
    for key, value in {
        "TOUCHLINE_HOME": str(tmp_path / "home"),
        "TOUCHLINE_DATABASE_URL": db.url,
        "TOUCHLINE_API_TOKEN": TOKEN,
        "TOUCHLINE_ERASURE_KEY": "privacy-test-erasure-key",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    api_server.start(create_app(Settings(), db, clock))
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        yield http
    reset_settings_cache()


def audits(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as session:
        return [
            (a.action, a.actor, a.via)
            for a in session.scalars(select(PrivacyAudit).order_by(PrivacyAudit.id))
        ]


def test_export_then_erase_over_http(client: httpx.Client, db: Database) -> None:
    a_customer(db)

    export = client.get("/customers/c1/export", params={"actor": "ticket-42"}, headers=AUTH)
    assert export.status_code == 200
    assert export.json()["tables"]["identity"][0]["value"] == EMAIL

    erased = client.delete("/customers/c1", params={"actor": "ticket-42"}, headers=AUTH)
    assert erased.status_code == 200
    body = erased.json()
    assert body["customer_id"] == "c1" and body["counts"]["identity"] == 1
    assert body["customer_key"].startswith("hmac-sha256:")

    after = client.get("/customers/c1/export", headers=AUTH).json()
    assert after["tables"]["identity"] == [] and after["tables"]["customer"][0]["attributes"] == {}
    assert EMAIL not in json.dumps(after) and "Zelda" not in json.dumps(after)
    assert audits(db) == [
        ("export", "ticket-42", "api"),
        ("erase", "ticket-42", "api"),
        ("export", "operator-api", "api"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "headers", "params", "status"),
    [
        ("DELETE", "/customers/c1", {}, {}, 401),
        ("GET", "/customers/c1/export", {"Authorization": "Bearer wrong"}, {}, 401),
        ("DELETE", "/customers/nobody", AUTH, {}, 404),
        ("GET", "/customers/nobody/export", AUTH, {}, 404),
        ("DELETE", "/customers/c1", AUTH, {"actor": ""}, 422),
        ("DELETE", "/customers/c1", AUTH, {"actor": "x" * 129}, 422),
        ("DELETE", "/customers/c1", AUTH, {"actor": "bad\nactor"}, 422),
        ("DELETE", "/customers/c%00", AUTH, {}, 422),
        ("GET", f"/customers/{'c' * 129}/export", AUTH, {}, 422),
    ],
)
def test_refusals_change_nothing(
    client: httpx.Client,
    db: Database,
    method: str,
    path: str,
    headers: dict[str, str],
    params: dict[str, str],
    status: int,
) -> None:
    a_customer(db)

    response = client.request(method, path, headers=headers, params=params)

    assert response.status_code == status, response.text
    assert audits(db) == []
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 1


def test_the_cli_exports_and_forgets(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    a_customer(sqlite_db)
    runner = CliRunner()
    out = tmp_path / "c1.json"

    exported = runner.invoke(cli, ["customers", "export", "c1", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text())["tables"]["identity"][0]["value"] == EMAIL

    refused = runner.invoke(cli, ["customers", "forget", "c1"], input="n\n")
    assert refused.exit_code == 1
    forgotten = runner.invoke(cli, ["customers", "forget", "c1", "--yes", "--actor", "dpo"])
    assert forgotten.exit_code == 0, forgotten.output
    assert "erased c1" in forgotten.output and "identity 1" in forgotten.output
    unknown = runner.invoke(cli, ["customers", "forget", "nobody", "--yes"])
    assert unknown.exit_code == 1 and "no customer 'nobody'" in unknown.output
    assert [a[0] for a in audits(sqlite_db)] == ["export", "erase"]
    reset_settings_cache()
