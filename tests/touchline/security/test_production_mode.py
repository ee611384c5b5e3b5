"""Production refuses sandbox secrets: the API, the workers, the flows and `touchline serve`
do not start in production mode while any secret keeps its sandbox value, and say which."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from touchline.api import create_app
from touchline.cli import app as cli
from touchline.config import SECRET_SETTINGS, Settings, production_problems, reset_settings_cache
from touchline.errors import ProductionSecretsError

SECRET_ENV = [f"TOUCHLINE_{s.name.upper()}" for s in SECRET_SETTINGS]
REAL_SECRETS = {
    "api_token": "op-7d1f0c2b9a",
    "events_token": "ev-0a93b7e41c",
    "link_secret": "ls-5c1e7f9d2b",
    "twilio_auth_token": "tw-8e2d4c6a0f",
    "x_consumer_secret": "xc-1b3d5f7a9c",
    "x_access_token_secret": "xa-2c4e6a8b0d",
    "sendgrid_api_key": "SG.real-looking-key",
    # Any base64 DER key other than the sandbox's: this one is never used to verify here.
    "sendgrid_webhook_public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEproduction",
    "erasure_key": "ek-3f5a7c9e1b",
}


def production(tmp_path: Path, **values: str) -> Settings:
    return Settings(mode="production", home=tmp_path / "home",
                    database_url=f"sqlite:///{tmp_path / 'p.db'}", **values)  # fmt: skip


def test_production_with_the_defaults_names_every_secret(tmp_path: Path) -> None:
    problems = production_problems(production(tmp_path))
    assert [p.split(":")[0] for p in problems] == SECRET_ENV
    assert len(SECRET_ENV) >= 8 and "TOUCHLINE_SENDGRID_WEBHOOK_PUBLIC_KEY" in SECRET_ENV


def test_the_api_refuses_to_start_naming_each_setting(tmp_path: Path) -> None:
    with pytest.raises(ProductionSecretsError) as refused:
        create_app(production(tmp_path))
    for name in SECRET_ENV:
        assert name in str(refused.value)
    assert refused.value.problems == production_problems(production(tmp_path))


@pytest.mark.parametrize("missing", sorted(REAL_SECRETS))
def test_one_secret_left_at_its_default_is_enough_to_refuse(tmp_path: Path, missing: str) -> None:
    values = {k: v for k, v in REAL_SECRETS.items() if k != missing}
    with pytest.raises(ProductionSecretsError) as refused:
        create_app(production(tmp_path, **values))
    assert [p.split(":")[0] for p in refused.value.problems] == [f"TOUCHLINE_{missing.upper()}"]


def test_with_every_secret_set_the_api_starts(tmp_path: Path) -> None:
    app = create_app(production(tmp_path, **REAL_SECRETS))
    assert app.state.touchline.settings.mode == "production"


def test_the_sandbox_emulators_key_is_refused_even_when_set(tmp_path: Path) -> None:
    """The emulator writes its key file beside its private key: configured explicitly, it is
    still the sandbox's."""
    sandbox_dir = tmp_path / "home" / "sandbox"
    sandbox_dir.mkdir(parents=True)
    (sandbox_dir / "sendgrid_event_webhook_public_key").write_text("MFkwSANDBOXKEY\n")
    settings = production(tmp_path, **{**REAL_SECRETS, "sendgrid_webhook_public_key": "MFkwSANDBOXKEY"})  # fmt: skip
    assert [p.split(":")[0] for p in production_problems(settings)] == [
        "TOUCHLINE_SENDGRID_WEBHOOK_PUBLIC_KEY"
    ]


def test_the_events_token_may_not_be_the_operator_token(tmp_path: Path) -> None:
    settings = production(tmp_path, **{**REAL_SECRETS, "events_token": REAL_SECRETS["api_token"]})
    assert [p.split(":")[0] for p in production_problems(settings)] == ["TOUCHLINE_EVENTS_TOKEN"]


def test_sandbox_mode_is_unaffected(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 's.db'}")
    assert settings.mode == "sandbox"
    assert create_app(settings).state.touchline.settings.api_token.get_secret_value() == "dev-token"


@pytest.fixture
def production_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHLINE_MODE", "production")
    monkeypatch.setenv("TOUCHLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.mark.parametrize(
    "command", [["worker"], ["serve"], ["api", "serve"], ["advance"]], ids=" ".join
)
def test_the_commands_refuse_and_exit_1(production_env: None, command: list[str]) -> None:
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1, result.output
    assert "refuses to start in production mode" in result.output
    for name in SECRET_ENV:
        assert name in result.output


def test_the_flows_refuse_to_build_their_engine(production_env: None) -> None:
    from flows import _runtime

    _runtime.reset()
    try:
        with pytest.raises(ProductionSecretsError, match="the flows"):
            _runtime.engine()
    finally:
        _runtime.reset()
