"""Prefect automations the stack deploys with its deployments (``make serve``).

A flow run whose worker dies (SIGKILL, the machine lost) stays Running for ever: nobody is
left to report its end. Its process sends a heartbeat event every
``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (the stack sets 30); this automation marks a
run Crashed when a heartbeat is not followed, within ``within`` seconds, by another
heartbeat or a final state. The work the run held comes back by itself when its lease ends
(``TOUCHLINE_LEASE_SECONDS``); the Crashed state is what an operator sees, and what lets the
deployment's concurrency slot and the safety-net run go on.

This is the automation Prefect documents for detecting zombie flow runs, created over the
REST API (the supervisor does not import Prefect) and replaced at each start, so a changed
definition takes effect.
"""

from __future__ import annotations

from typing import Any

CRASHED_RUNS = "touchline: mark flow runs Crashed when their heartbeat stops"
HEARTBEAT_SECONDS = 30
# Three heartbeats' time: one late heartbeat (a busy machine) must not crash a live run.
MISSING_AFTER_SECONDS = 90

FINAL_EVENTS = [
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
]


def crashed_runs_automation(within: int = MISSING_AFTER_SECONDS) -> dict[str, Any]:
    return {
        "name": CRASHED_RUNS,
        "description": (
            f"A flow run that sent a heartbeat and then nothing for {within} s — no heartbeat, "
            "no final state — lost its process (a worker killed, a machine gone): mark it "
            "Crashed. Deployed by `make serve` (touchline/serve/automations.py)."
        ),
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Proactive",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "after": ["prefect.flow-run.heartbeat"],
            "expect": ["prefect.flow-run.heartbeat", *FINAL_EVENTS],
            "for_each": ["prefect.resource.id"],
            "threshold": 1,
            "within": within,
        },
        "actions": [
            {
                "type": "change-flow-run-state",
                "state": "CRASHED",
                "name": "Crashed",
                "message": (
                    f"No heartbeat for {within} s: its process is gone. The enrollments it "
                    "held are advanced by other runs once their lease ends."
                ),
            }
        ],
    }


def automations() -> list[dict[str, Any]]:
    """Every automation the stack deploys."""
    return [crashed_runs_automation()]
