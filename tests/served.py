"""The served stack for the slow, whole-system tests: `touchline serve`'s supervisor starting
a real Prefect server, the deployments, process workers, the API and the emulators, each a
process of its own on free ports, under a test's temporary directory.

Used by tests/touchline/serve/conftest.py (the ``stack`` fixture) and
tests/flows/test_deployed.py (the same stack on SQLite and on PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from touchline.serve import RunningStack, StackPlan, start_stack, stop_stack
from touchline.serve.processes import free_port

T = TypeVar("T")
TOKEN = "served-stack-token"


def stack_plan(home: Path, *, database_url: str = "", **overrides: Any) -> StackPlan:
    """A plan for a stack under ``home``: the record on SQLite there unless ``database_url``
    says otherwise, every part on a free port, the API's token ``TOKEN``, and the parts
    stopped if the test process dies. ``extra_env`` adds to the token, it does not replace
    it."""
    extra_env = {"TOUCHLINE_API_TOKEN": TOKEN, **overrides.pop("extra_env", {})}
    settings: dict[str, Any] = {"timeout": 180, "die_with_parent": True, **overrides}
    return StackPlan(
        state_dir=home / "serve", home=home,
        database_url=database_url or f"sqlite:///{home / 'touchline.db'}",
        prefect_port=free_port(), api_port=free_port(), sendgrid_port=free_port(),
        twilio_port=free_port(), x_port=free_port(), extra_env=extra_env, **settings,
    )  # fmt: skip


@contextmanager
def served(plan: StackPlan) -> Iterator[RunningStack]:
    """The stack started (every part healthy), stopped afterwards whatever happened."""
    began = time.monotonic()
    running = start_stack(plan)
    print(f"served stack up in {time.monotonic() - began:.0f} s: {plan.prefect_url}")
    try:
        yield running
    finally:
        stop_stack(plan.state_dir, grace=5)


def wait(what: str, probe: Callable[[], T | None], timeout: float = 90.0, every: float = 0.5) -> T:
    """``probe()`` until it answers something true; its answer. Fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def post_events(stack: RunningStack, events: list[dict[str, Any]]) -> dict[str, Any]:
    """``POST /events`` to the served API (one event, or a list as ``{"events": [...]}``)."""
    body = events[0] if len(events) == 1 else {"events": events}
    response = httpx.post(f"{stack.plan.api_url}/events", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert response.status_code == 202, response.text
    return response.json()
