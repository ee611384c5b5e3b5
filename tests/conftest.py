"""Shared fixtures.

- ``db``: the interaction record, once on SQLite and once on the PostgreSQL at
  127.0.0.1:5432 (a database created for this run and dropped after it). Without
  PostgreSQL the PostgreSQL cases are skipped with the reason — except under CI, where
  they fail, because CI machines have it.
- ``emulators``: the SendGrid and Twilio emulators, one server for the session, emptied
  before each test that uses them.
- ``api``: Touchline's API on a real port (the emulators post webhooks to it).
- ``prefect``: one Prefect test harness for the session, started only if a test needs it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

# Before anything imports prefect: no telemetry, local state only.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault(
    "PREFECT_HOME", str(Path(__file__).resolve().parent.parent / ".touchline" / "prefect-tests")
)
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)

from sqlalchemy import text

from sandbox import Sandbox, SandboxClient, SandboxConfig, SandboxServer, ThreadedApp
from touchline.clock import ManualClock
from touchline.config import PROJECT_ROOT, Settings, reset_settings_cache
from touchline.content import TemplateCatalog
from touchline.db import Database, metadata
from touchline.engine import Engine
from touchline.journeys import journey_files, load_journeys
from touchline.journeys.store import publish

PG_ADMIN_URL = os.environ.get(
    "TOUCHLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def _postgres_reachable() -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect is a reason to skip
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    reason = _postgres_reachable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI has PostgreSQL at 127.0.0.1:5432, but it does not answer: {reason}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({reason})")
    import psycopg

    name = f"touchline_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = PG_ADMIN_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('record') / 'touchline.db'}"


@pytest.fixture(scope="session")
def _databases() -> dict[str, Database]:
    return {}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, _databases: dict[str, Database]) -> Iterator[Database]:
    """The record on both backends, migrated once per session and emptied after each test."""
    backend = request.param
    if backend not in _databases:
        url = request.getfixturevalue("postgres_url" if backend == "postgresql" else "sqlite_url")
        database = Database(url)
        database.upgrade()
        _databases[backend] = database
    database = _databases[backend]
    yield database
    _empty(database)


@pytest.fixture
def sqlite_db(
    _databases: dict[str, Database], request: pytest.FixtureRequest
) -> Iterator[Database]:
    """SQLite only: for tests of behaviour that does not depend on the backend."""
    if "sqlite" not in _databases:
        database = Database(request.getfixturevalue("sqlite_url"))
        database.upgrade()
        _databases["sqlite"] = database
    yield _databases["sqlite"]
    _empty(_databases["sqlite"])


def _empty(database: Database) -> None:
    tables = [t.name for t in reversed(metadata().sorted_tables)]
    with database.engine.begin() as conn:
        if database.is_postgres:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(scope="session")
def _emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sandbox = Sandbox(SandboxConfig(state_dir=tmp_path_factory.mktemp("sandbox")))
    with SandboxServer(sandbox) as server:
        yield server


@pytest.fixture
def emulators(_emulator_server: SandboxServer) -> Iterator[SandboxServer]:
    _emulator_server.sandbox.reset()
    _emulator_server.sandbox.config.event_webhook_url = None
    _emulator_server.sandbox.config.x_webhook_url = None
    _emulator_server.sandbox.config.inbound_sms_url = None
    yield _emulator_server
    _emulator_server.sandbox.reset()


@pytest.fixture
def sandbox_client(emulators: SandboxServer) -> Iterator[SandboxClient]:
    client = SandboxClient(emulators.sendgrid_url)
    yield client
    client.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def api_server() -> Iterator[ThreadedApp]:
    with ThreadedApp() as server:
        yield server


@pytest.fixture
def settings(
    db: Database,
    emulators: SandboxServer,
    api_server: ThreadedApp,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """Settings pointing at this test's database, the emulators and the API — also in the
    environment, where flows read them."""
    values = {
        "TOUCHLINE_HOME": str(tmp_path / "home"),
        "TOUCHLINE_DATABASE_URL": db.url,
        "TOUCHLINE_SENDGRID_HOST": emulators.sendgrid_url,
        "TOUCHLINE_TWILIO_BASE_URL": emulators.twilio_url,
        "TOUCHLINE_X_API_BASE_URL": emulators.x_url,
        "TOUCHLINE_PUBLIC_URL": api_server.url,
        "TOUCHLINE_SENDGRID_WEBHOOK_PUBLIC_KEY": emulators.sandbox.signer.public_key_base64(),
        "TOUCHLINE_DISPATCH_BACKOFF_BASE": "0.01",
        "TOUCHLINE_DISPATCH_BACKOFF_MAX": "0.2",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    return Settings()


@pytest.fixture
def catalog() -> TemplateCatalog:
    return TemplateCatalog(PROJECT_ROOT / "templates")


@pytest.fixture
def engine(settings: Settings, db: Database) -> Iterator[Engine]:
    engine = Engine.from_settings(settings, db)
    yield engine
    engine.close()


@pytest.fixture
def published(db: Database, catalog: TemplateCatalog) -> None:
    with db.session() as session:
        for loaded in load_journeys(journey_files(PROJECT_ROOT / "journeys"), catalog):
            publish(session, loaded, START)


@pytest.fixture(scope="session")
def prefect() -> Iterator[None]:
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE,
        PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with (
        temporary_settings(
            {
                PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE: 100,
                PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE: 100,
            }
        ),
        prefect_test_harness(server_startup_timeout=120),
    ):
        yield
