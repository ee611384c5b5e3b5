"""Fault injection, set per run: error rate, bursts of 429, latency, timeouts, rate limits."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultPlan:
    error_rate: float = 0.0  # share of requests answered with `error_status`
    error_status: int = 503
    burst_429: int = 0  # the next N requests get 429
    latency_ms: float = 0.0  # added to every request
    timeout_rate: float = 0.0  # share of requests that stall for `timeout_ms` (client gives up)
    timeout_ms: float = 30_000.0
    rate_limit_per_second: float = 0.0  # 0 = unlimited; else a token bucket, excess gets 429
    # Twilio limits an account's *concurrent* API requests: beyond it, 429 / 20429.
    concurrency_limit: int = 0  # 0 = unlimited
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultPlan:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        plan = cls(**data)
        for name in ("error_rate", "timeout_rate"):
            if not 0 <= getattr(plan, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        return plan


@dataclass
class FaultInjector:
    plan: FaultPlan = field(default_factory=FaultPlan)
    _rng: random.Random = field(default_factory=random.Random)
    _tokens: float = 0.0
    _last_refill: float = field(default_factory=time.monotonic)
    injected: dict[str, int] = field(default_factory=dict)

    def configure(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._tokens = plan.rate_limit_per_second
        self._last_refill = time.monotonic()
        self.injected = {}

    def decide(self) -> tuple[str | None, float]:
        """(fault, delay seconds) for one request. Fault: None, "429", "rate_limit",
        "error" or "timeout"."""
        plan = self.plan
        delay = plan.latency_ms / 1000
        fault: str | None = None
        if plan.burst_429 > 0:
            plan.burst_429 -= 1
            fault = "429"
        elif plan.rate_limit_per_second > 0 and not self._take_token():
            fault = "rate_limit"
        elif plan.timeout_rate and self._rng.random() < plan.timeout_rate:
            fault, delay = "timeout", delay + plan.timeout_ms / 1000
        elif plan.error_rate and self._rng.random() < plan.error_rate:
            fault = "error"
        if fault:
            self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault, delay

    def seconds_until_token(self) -> float:
        rate = self.plan.rate_limit_per_second
        return 0.0 if rate <= 0 else max(0.0, (1 - self._tokens) / rate)

    def _take_token(self) -> bool:
        rate = self.plan.rate_limit_per_second
        now = time.monotonic()
        self._tokens = min(rate, self._tokens + (now - self._last_refill) * rate)
        self._last_refill = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
