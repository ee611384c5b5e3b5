"""All of Touchline's configuration, read from the environment in this one place.

Every setting has a ``TOUCHLINE_`` environment variable (``TOUCHLINE_DATABASE_URL`` …) and a
default that works on a fresh machine with no services: a SQLite file under ``.touchline/``
and provider base URLs pointing at the local sandbox emulators.
"""

from __future__ import annotations

import os
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOUCHLINE_", env_file=".env", extra="ignore")

    # --- where things live -------------------------------------------------------------
    home: Path = Field(
        default=Path(".touchline"),
        description="Local state: the default SQLite database, Prefect's home, demo files.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty means a SQLite file in `home`. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    journeys_dir: Path = PROJECT_ROOT / "journeys"
    templates_dir: Path = PROJECT_ROOT / "templates"

    # --- engine ------------------------------------------------------------------------
    batch_size: int = Field(default=500, ge=1, le=10_000)
    lease_seconds: int = Field(
        default=300,
        ge=5,
        description="How long a worker owns a claimed batch; a crashed worker's batch "
        "becomes claimable again after this.",
    )
    max_steps_per_advance: int = Field(
        default=50, ge=1, description="Guard against a journey that loops without waiting."
    )
    dispatch_retry_later: int = Field(
        default=300,
        ge=1,
        description="Seconds before a touch whose provider stayed unavailable through every "
        "retry is tried again in a later run.",
    )
    dispatch_max_retry_runs: int = Field(default=6, ge=0)
    launch_batch_size: int = Field(
        default=2000,
        ge=1,
        le=50_000,
        description="Segment rows enrolled per transaction by `touchline launch`.",
    )

    # --- dispatch ------------------------------------------------------------------------
    dispatch_concurrency: int = Field(default=8, ge=1, le=256)
    dispatch_max_attempts: int = Field(default=4, ge=1, le=20)
    dispatch_backoff_base: float = Field(default=0.2, ge=0)
    dispatch_backoff_max: float = Field(default=10.0, ge=0)
    provider_timeout: float = Field(default=10.0, gt=0)

    # --- preference center ---------------------------------------------------------------
    default_timezone: str = "UTC"
    default_channel_order: list[str] = ["email", "sms"]
    # Company-wide quiet hours for intrusive channels (SMS), in the customer's own time zone.
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    quiet_hours_channels: list[str] = ["sms"]
    sms_max_segments: int = Field(default=4, ge=1, le=10)
    # At most this many marketing messages per customer per window, across every journey
    # and channel (0: no cap). Transactional messages are never capped.
    marketing_cap: int = Field(default=3, ge=0)
    marketing_cap_window: timedelta = timedelta(days=7)
    # Engagement rates channels start from for "best", before a customer's own data counts,
    # and how many messages' weight that prior has.
    channel_prior: dict[str, float] = {"email": 0.2, "sms": 0.3}
    prior_strength: float = Field(default=4.0, gt=0)
    # How far back engagement history counts for "best" channel and time.
    history_window: timedelta = timedelta(days=180)
    # Subscription groups a customer can join or leave on their preference page, with the
    # label they see. Topics in ``required_topics`` (account notices) cannot be left.
    topics: dict[str, str] = {
        "newsletter": "Newsletter",
        "promotions": "Offers and promotions",
        "account": "Account notices",
    }
    required_topics: list[str] = ["account"]
    # The customer attribute that names a customer's segment: effectiveness is learned per
    # segment too, and a customer with too little data of their own gets their segment's.
    segment_attribute: str = "segment"
    # SMS marketing consent stays pending until the customer confirms (replies YES or opens
    # the confirmation link), as US carriers (CTIA) expect.
    sms_double_opt_in: bool = True
    # Answer STOP, START and HELP by text ourselves. Turn off where Twilio's Advanced
    # Opt-Out already answers them, or the customer gets two replies.
    sms_keyword_replies: bool = True
    # How long a link to the preference page stays valid.
    preference_link_ttl: timedelta = timedelta(days=30)

    # --- SendGrid ------------------------------------------------------------------------
    sendgrid_api_key: SecretStr = SecretStr("SG.sandbox-key")
    sendgrid_host: str = "http://127.0.0.1:8971"
    sendgrid_webhook_public_key: str = Field(
        default="",
        description="Base64 DER public key of the Event Webhook (Mail Settings > Signed Event "
        "Webhook). Empty: taken from the sandbox emulator's key file.",
    )
    email_from: str = "hello@touchline.example"
    email_from_name: str = "Touchline"

    # --- Twilio --------------------------------------------------------------------------
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr("sandbox-auth-token")
    twilio_base_url: str = "http://127.0.0.1:8972"
    sms_from: str = "+15005550006"

    # --- our public URLs (webhooks, links in messages) -----------------------------------
    public_url: str = "http://127.0.0.1:8970"
    link_secret: SecretStr = SecretStr("change-me-in-production")
    # Bearer token for the operator API (/customers/…). Customers never need it: their
    # pages are reached by signed links.
    api_token: SecretStr = SecretStr("dev-token")

    # --- company identity printed in every marketing message --------------------------------
    company_name: str = "Touchline Outfitters"
    company_postal_address: str = "12 Market Street, Springfield, IL 62701, USA"

    @field_validator("marketing_cap_window", "history_window", "preference_link_ttl", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        from touchline.clock import parse_duration

        return parse_duration(value) if isinstance(value, str) and value[-1:].isalpha() else value

    @field_validator(
        "default_channel_order", "quiet_hours_channels", "required_topics", mode="before"
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def check_topic(self, name: str | None) -> str | None:
        """A topic name as given, or ValueError naming the known ones (for validators)."""
        if name is not None and name not in self.topics:
            raise ValueError(f"unknown topic '{name}'; topics are {', '.join(sorted(self.topics))}")
        return name

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'touchline.db').resolve()}"

    @property
    def sandbox_dir(self) -> Path:
        return self.home / "sandbox"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests change the environment between runs)."""
    get_settings.cache_clear()


def configure_prefect_defaults(settings: Settings | None = None) -> None:
    """Point Prefect at local state unless the operator configured it.

    Must run before ``prefect`` is imported. Without a server URL Prefect runs in
    ephemeral mode, keeping its database under ``.touchline/prefect`` so that a later
    ``prefect server start`` with the same PREFECT_HOME shows the runs. Analytics stay off:
    this machine, like many production networks, has no route to Prefect's telemetry.
    """
    settings = settings or get_settings()
    os.environ.setdefault("PREFECT_HOME", str((settings.home / "prefect").resolve()))
    # Prefect creates its home but not the parents (a fresh checkout has no .touchline/).
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Task-run records are batched by the server; with the default of 1 they can be lost
    # when an ephemeral server exits right after a run.
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "100")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE", "100")
