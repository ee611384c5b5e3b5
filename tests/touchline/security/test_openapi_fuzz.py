"""Schemathesis over the API's own OpenAPI, on PostgreSQL: whatever it generates — valid
input, invalid input, NUL characters, odd paths — the API answers below 500, and only with
status codes its OpenAPI documents. Bounded (12 examples an operation and mode, a few hundred
in all, deterministic). The examples are drawn by Hypothesis from schemathesis' strategies
(its pytest plugin's lazy loader does not run on pytest 9), all in one test so that the
database is seeded once."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.schemas import BaseSchema

from tests.conftest import START, _empty
from touchline.api import create_app
from touchline.clock import ManualClock
from touchline.config import PROJECT_ROOT, Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.intake.ingest import ingest
from touchline.journeys import journey_files, load_journeys
from touchline.journeys.store import publish

OPERATOR = {"Authorization": "Bearer dev-token"}
EXAMPLES = 12  # per operation and mode: 22 operations x 2 modes x 12 = 528 at most


@pytest.fixture
def pg(request: pytest.FixtureRequest, _databases: dict[str, Database]) -> Iterator[Database]:
    """The PostgreSQL record of tests/conftest.py, seeded with one customer to find."""
    if "postgresql" not in _databases:
        database = Database(request.getfixturevalue("postgres_url"))
        database.upgrade()
        _databases["postgresql"] = database
    database = _databases["postgresql"]
    with database.session() as session:
        for loaded in load_journeys(
            journey_files(PROJECT_ROOT / "journeys"), TemplateCatalog(PROJECT_ROOT / "templates")
        ):
            publish(session, loaded, START)  # fmt: skip
    signup = {"id": "seed-1", "type": "customer.signed_up", "customer_id": "c1",
              "occurred_at": START.isoformat(), "profile": {"email": "c1@example.com"},
              "consents": [{"channel": "email", "status": "granted"}]}  # fmt: skip
    ingest(database, [(None, signup)], now=START, source="test")
    yield database
    _empty(database)


def operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, read from the app's OpenAPI without a database."""
    spec = create_app(Settings(database_url="sqlite://")).openapi()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]


@pytest.fixture
def api_schema(pg: Database, tmp_path: Path) -> BaseSchema:
    app_settings = Settings(home=tmp_path / "home", database_url=pg.url)
    app = create_app(app_settings, pg, ManualClock(START))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.postgres
def test_no_input_gets_a_5xx(api_schema: BaseSchema) -> None:
    """Every operation, valid and invalid input; all findings reported together."""
    findings: list[str] = []
    examples = 0
    for method, path in operations():
        operation = api_schema.find_operation_by_path(method, path)
        assert operation is not None, (method, path)
        documented = set(operation.definition.raw.get("responses", {}))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            def answers_within_its_openapi(case: Case) -> None:
                nonlocal examples
                examples += 1
                # The operator's token, so that generated input reaches the routes behind it.
                case.headers = {**(case.headers or {}), **OPERATOR}
                response = case.call()
                assert response.status_code < 500, (case.formatted_path, response.text[:300])
                assert str(response.status_code) in documented, (  # noqa: B023
                    f"answered {response.status_code}, not in its OpenAPI: {response.text[:300]}"
                )

            try:
                answers_within_its_openapi()
            except Unsatisfiable:
                continue  # nothing in this operation can be made invalid (no parameters)
            except AssertionError as exc:
                findings.append(f"{method} {path} ({mode}): {exc}")
    assert not findings, "\n".join(findings)
    print(f"{examples} examples")
    assert examples >= 250  # a few hundred examples did run
