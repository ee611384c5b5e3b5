"""Concurrent dispatch with retries, against the emulators under injected faults."""

import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from channels import (
    Channel,
    EmailMessage,
    ProviderConfigurationError,
    SmsMessage,
    TransientChannelError,
    build_channels,
)
from channels.sendgrid_email import SendGridEmail
from sandbox import SandboxClient, SandboxServer
from touchline.config import Settings
from touchline.engine.dispatch import Outgoing, RateLimitDeferred, RetryPolicy, dispatch
from touchline.engine.ratelimit import RateLimiter

QUICK = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.05)


def emails(n: int) -> list[Outgoing]:
    return [
        Outgoing(
            f"t{i}",
            "email",
            EmailMessage(touch_id=f"t{i}", to=f"c{i}@example.com", subject="s", html="h", text="t"),
        )
        for i in range(n)
    ]


def test_transient_failures_are_retried_until_sent(
    settings: Settings, sandbox_client: SandboxClient
) -> None:
    sandbox_client.faults("sendgrid", burst_429=5)
    waits: list[float] = []
    results = dispatch(
        build_channels(settings), emails(10), concurrency=4, retry=QUICK, sleep=waits.append
    )
    assert all(r.receipt is not None for r in results)
    assert sum(r.attempts for r in results) == 15
    # SendGrid's 429 says when its window resets (≥ 1 s): the five rejected waited that
    # long, and so did every message behind them — the whole provider was held back.
    assert len(waits) >= 5 and all(0.9 <= w <= 3.1 for w in waits)
    assert sandbox_client.stats()["accepted"]["sendgrid"] == 10
    assert not sandbox_client.stats()["duplicate_touches"]


def test_retries_wait_what_x_ratelimit_reset_asked_even_beyond_our_own_backoff_cap(
    settings: Settings, sandbox_client: SandboxClient
) -> None:
    sandbox_client.faults("sendgrid", burst_429=1)  # X-RateLimit-Reset ≥ 1 s away
    waits: list[float] = []
    [result] = dispatch(
        build_channels(settings),
        emails(1),
        concurrency=1,
        retry=RetryPolicy(4, 0.001, 0.5),
        sleep=waits.append,
    )
    assert result.receipt is not None and result.attempts == 2
    assert len(waits) == 1 and 0.9 <= waits[0] <= 3.1  # asked ~1–3 s; our cap is 0.5 s


def test_exhausted_retries_return_the_transient_error(
    settings: Settings, sandbox_client: SandboxClient
) -> None:
    sandbox_client.faults("sendgrid", error_rate=1.0)
    [result] = dispatch(
        build_channels(settings), emails(1), concurrency=1, retry=QUICK, sleep=lambda _: None
    )
    assert result.receipt is None and result.attempts == 4 and result.error.status == 503


def test_permanent_failures_are_not_retried(settings: Settings) -> None:
    outgoing = [Outgoing("t1", "sms", SmsMessage(touch_id="t1", to="+15005550001", body="x"))]
    [result] = dispatch(
        build_channels(settings), outgoing, concurrency=1, retry=QUICK, sleep=lambda _: None
    )
    assert result.attempts == 1 and result.error.code == "21211"


def test_a_configuration_error_stops_the_rest_of_the_batch(settings: Settings) -> None:
    broken = settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.wrong")})
    results = dispatch(
        build_channels(broken), emails(20), concurrency=1, retry=QUICK, sleep=lambda _: None
    )
    assert isinstance(results[0].error, ProviderConfigurationError)
    assert all(r.not_attempted for r in results[1:])


class RetryAfterServer:
    """SendGrid's mail/send as it answers under load when a proxy in front adds Retry-After:
    ``rejections`` requests get 429 with ``Retry-After`` (seconds, or an HTTP date), then
    202 with an X-Message-Id. The real SDK speaks to it over HTTP."""

    def __init__(self, rejections: int, retry_after: str) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                if server.requests <= rejections:
                    body = b'{"errors": [{"field": null, "message": "too many requests"}]}'
                    self.send_response(429)
                    self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(202)
                    self.send_header("X-Message-Id", f"m{server.requests}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def channels(self) -> dict[str, Channel]:
        email = SendGridEmail(api_key="SG.k", host=self.url, from_email="a@touchline.example")
        return {"email": email}

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retries_wait_what_retry_after_asked(form: str) -> None:
    asked = 2.0
    value = (
        "2"
        if form == "seconds"
        else formatdate(time.time() + asked + 1, usegmt=True)  # whole seconds: up to 3 s
    )
    server = RetryAfterServer(rejections=2, retry_after=value)
    waits: list[float] = []
    try:
        [result] = dispatch(
            server.channels(),
            emails(1),
            concurrency=1,
            retry=RetryPolicy(4, 0.001, 0.1),
            sleep=waits.append,
        )
    finally:
        server.close()
    assert result.receipt is not None and result.attempts == 3
    assert len(waits) == 2 and all(1.9 <= w <= 3.1 for w in waits), waits


def test_a_wait_longer_than_a_run_allows_leaves_the_message_to_a_later_run() -> None:
    server = RetryAfterServer(rejections=1, retry_after="600")
    waits: list[float] = []
    limiter = RateLimiter(max_wait=30, sleep=waits.append)
    try:
        [result] = dispatch(
            server.channels(), emails(1), concurrency=1, retry=QUICK, limiter=limiter
        )
    finally:
        server.close()
    assert result.receipt is None and result.attempts == 1 and waits == []
    assert isinstance(result.error, TransientChannelError) and result.error.status == 429
    assert server.requests == 1


def test_a_timeout_is_not_retried_blindly_because_the_request_may_have_gone(
    settings: Settings, sandbox_client: SandboxClient, emulators: SandboxServer
) -> None:
    # The emulator takes the request, stalls past the client's timeout, then accepts it —
    # as a real provider can. A blind retry would send the message twice.
    sandbox_client.faults("sendgrid", timeout_rate=1.0, timeout_ms=400)
    slow = settings.model_copy(update={"provider_timeout": 0.1})
    [result] = dispatch(
        build_channels(slow), emails(1), concurrency=1, retry=QUICK, sleep=lambda _: None
    )
    assert result.receipt is None and result.attempts == 1
    assert isinstance(result.error, TransientChannelError) and result.error.status is None
    deadline = time.monotonic() + 5
    while not emulators.sandbox.accepted_by_touch and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dict(emulators.sandbox.accepted_by_touch) == {("sendgrid", "t0"): 1}


def sms(n: int) -> list[Outgoing]:
    return [
        Outgoing(f"s{i}", "sms", SmsMessage(touch_id=f"s{i}", to=f"+1415555{i:04d}", body="Hi"))
        for i in range(n)
    ]


def test_the_providers_concurrency_cap_keeps_twilio_from_answering_20429(
    settings: Settings, sandbox_client: SandboxClient
) -> None:
    sandbox_client.faults("twilio", concurrency_limit=4, latency_ms=50)
    results = dispatch(
        build_channels(settings),
        sms(40),
        concurrency=32,
        retry=QUICK,
        limiter=RateLimiter(concurrency={"twilio": 4}),
    )
    assert all(r.receipt is not None for r in results)
    assert "concurrency" not in sandbox_client.stats()["faults_injected"]["twilio"]

    # Without the cap, 32 threads meet Twilio's limit; 20429 is retried with back-pressure
    # and every message still goes, once.
    sandbox_client.reset()
    sandbox_client.faults("twilio", concurrency_limit=4, latency_ms=50)
    results = dispatch(
        build_channels(settings),
        sms(40),
        concurrency=32,
        retry=RetryPolicy(20, 0.01, 0.2),
    )
    stats = sandbox_client.stats()
    assert stats["faults_injected"]["twilio"]["concurrency"] > 0
    assert all(r.receipt is not None for r in results)
    assert stats["accepted"]["twilio"] == 40 and not stats["duplicate_touches"]


def test_messages_beyond_the_rate_a_run_can_wait_for_are_left_unattempted(
    settings: Settings, sandbox_client: SandboxClient
) -> None:
    # 5 SMS a second, a burst of 5, and at most 1 s of waiting: about ten go now.
    limiter = RateLimiter({"sms": 5}, max_wait=1.0)
    began = time.monotonic()
    results = dispatch(
        build_channels(settings), sms(20), concurrency=32, retry=QUICK, limiter=limiter
    )
    assert time.monotonic() - began < 2.5
    sent = [r for r in results if r.receipt is not None]
    deferred = [r for r in results if isinstance(r.error, RateLimitDeferred)]
    assert 9 <= len(sent) <= 11 and len(sent) + len(deferred) == 20
    assert all(r.not_attempted for r in deferred)
    assert sandbox_client.stats()["accepted"]["twilio"] == len(sent)


def test_a_configuration_error_stops_only_its_own_provider(settings: Settings) -> None:
    broken = settings.model_copy(update={"sendgrid_api_key": SecretStr("SG.wrong")})
    results = dispatch(
        build_channels(broken),
        [*emails(10), *sms(10)],
        concurrency=1,
        retry=QUICK,
        sleep=lambda _: None,
    )
    email_results, sms_results = results[:10], results[10:]
    assert isinstance(email_results[0].error, ProviderConfigurationError)
    assert all(r.not_attempted for r in email_results[1:])
    assert all(r.receipt is not None for r in sms_results)
