"""Provider keys from Prefect Secret blocks: read through Prefect's API, cached, rotated
without a restart; the environment still works; a missing block stops that provider with a
message naming it. Sends go through the SendGrid emulator, which checks the key."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from channels import build_channels
from channels.base import EmailMessage
from channels.errors import ProviderConfigurationError
from sandbox import SandboxServer
from touchline.config import Settings

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect")]


def _email(n: int) -> EmailMessage:
    return EmailMessage(touch_id=f"secret-touch-{n}", to=f"rotated{n}@example.com",
                        subject="Hi", html="<p>Hi</p>", text="Hi")  # fmt: skip


def _settings(emulators: SandboxServer, tmp_path, **values: object) -> Settings:
    return Settings(home=tmp_path, sendgrid_host=emulators.sendgrid_url, **values)


def test_a_key_rotated_in_a_secret_block_is_used_without_a_restart(
    emulators: SandboxServer, tmp_path
) -> None:
    from prefect.blocks.system import Secret

    Secret(value="SG.wrong-key").save("touchline-test-sendgrid-key", overwrite=True)
    settings = _settings(
        emulators, tmp_path, sendgrid_api_key=SecretStr("SG.not-used"),
        sendgrid_api_key_block="touchline-test-sendgrid-key", secret_cache_seconds=0,
    )  # fmt: skip
    email = build_channels(settings)["email"]
    with pytest.raises(ProviderConfigurationError):
        email.send(_email(1))  # the emulator refuses a key that is not the account's

    Secret(value=emulators.sandbox.config.sendgrid_api_key).save(
        "touchline-test-sendgrid-key", overwrite=True
    )
    receipt = email.send(_email(2))  # same channel object, same process: the new key
    assert receipt.provider_message_id
    assert [m["to"] for m in emulators.sandbox.emails] == ["rotated2@example.com"]


def test_a_missing_block_stops_the_provider_with_its_name(
    emulators: SandboxServer, tmp_path
) -> None:
    settings = _settings(emulators, tmp_path, sendgrid_api_key_block="no-such-block")
    with pytest.raises(ProviderConfigurationError, match="no-such-block"):
        build_channels(settings)["email"].send(_email(3))


def test_without_a_block_the_environment_key_is_used(emulators: SandboxServer, tmp_path) -> None:
    settings = _settings(emulators, tmp_path)
    assert build_channels(settings)["email"].send(_email(4)).provider_message_id
