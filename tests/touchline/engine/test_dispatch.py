"""Concurrent dispatch with retries, against the emulators under injected faults."""

from pydantic import SecretStr

from channels import EmailMessage, ProviderConfigurationError, SmsMessage, build_channels
from sandbox import SandboxClient
from touchline.config import Settings
from touchline.engine.dispatch import Outgoing, RetryPolicy, dispatch

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
    assert sum(r.attempts for r in results) == 15 and len(waits) == 5
    assert sandbox_client.stats()["accepted"]["sendgrid"] == 10
    assert not sandbox_client.stats()["duplicate_touches"]


def test_retries_wait_at_least_what_the_provider_asked_within_the_cap(
    settings: Settings, sandbox_client: SandboxClient
) -> None:
    sandbox_client.faults("sendgrid", burst_429=1)  # X-RateLimit-Reset ≥ 1 s away
    waits: list[float] = []
    dispatch(
        build_channels(settings),
        emails(1),
        concurrency=1,
        retry=RetryPolicy(4, 0.001, 0.5),
        sleep=waits.append,
    )
    assert waits == [0.5]  # asked ~1 s, capped at backoff_max


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
