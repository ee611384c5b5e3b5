"""The served stack as `make serve` starts it, once per test module (tests/served.py).

A module changes the stack's environment by overriding ``stack_env``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.served import served, stack_plan
from touchline.serve import RunningStack
from touchline.serve.prefect_api import PrefectApi


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Settings added to every part's environment (besides the API token)."""
    return {}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, stack_env: dict[str, str]
) -> Iterator[RunningStack]:
    with served(stack_plan(tmp_path_factory.mktemp("served"), extra_env=stack_env)) as running:
        yield running


@pytest.fixture(scope="module")
def prefect(stack: RunningStack) -> Iterator[PrefectApi]:
    api = PrefectApi(stack.plan.prefect_api_url)
    yield api
    api.close()
