"""All of Touchline's configuration, read from the environment in this one place.

Every setting has a ``TOUCHLINE_`` environment variable (``TOUCHLINE_DATABASE_URL`` …) and a
default that works on a fresh machine with no services: a SQLite file under ``.touchline/``
and provider base URLs pointing at the local sandbox emulators.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOUCHLINE_", env_file=".env", extra="ignore")

    # --- mode ----------------------------------------------------------------------------
    # "sandbox": the defaults below (tokens, secrets, the emulators' keys) are fine.
    # "production": the API, workers, flows and `touchline serve` refuse to start while any
    # secret in SECRET_SETTINGS is still its sandbox default (check_production).
    mode: Literal["sandbox", "production"] = "sandbox"

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
    prefect_database_url: str = Field(
        default="",
        description="Prefect server's own database under `touchline serve` (passed as "
        "PREFECT_API_DATABASE_CONNECTION_URL). Empty means SQLite under `home`/serve. "
        "PostgreSQL: postgresql+asyncpg://user@host:5432/prefect (the database must exist)",
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
    progress_refresh_seconds: float = Field(
        default=60.0,
        ge=1,
        description="How often a running advance run rewrites its touches table and summary "
        "artifacts while it has work (its progress artifact follows every batch).",
    )
    launch_batch_size: int = Field(
        default=2000,
        ge=1,
        le=50_000,
        description="Segment rows enrolled per transaction by `touchline launch`.",
    )

    # --- dispatch ------------------------------------------------------------------------
    dispatch_concurrency: int = Field(
        default=32,
        ge=1,
        le=256,
        description="Requests in flight per provider from one worker process (a thread "
        "each). At 50 ms a request, 32 allow ~640 messages/s per provider; "
        "`provider_concurrency` caps it where the provider counts concurrent requests.",
    )
    dispatch_max_attempts: int = Field(default=4, ge=1, le=20)
    dispatch_backoff_base: float = Field(default=0.2, ge=0)
    dispatch_backoff_max: float = Field(default=10.0, ge=0)
    dispatch_max_wait: float = Field(
        default=30.0,
        gt=0,
        description="Longest a message waits in a run for its provider (a rate-limit slot, a "
        "Retry-After); beyond it the message is left to a later run, so a batch finishes "
        "well inside its lease.",
    )
    # Messages per second per channel: the sender's documented throughput (0: none of
    # ours; the provider's 429s still slow us down).
    # - email 0: SendGrid publishes no limit for v3 mail/send (its 600 requests/min default
    #   excludes mail/send — Twilio changelog 2019-10-10); a 429 carries X-RateLimit-Reset.
    # - sms 100: a short code's ~100 segments/s (Twilio errors 30001/21611: a US long code
    #   sends 1/s, a short code 100+/s). Twilio accepts faster but queues (up to 10 hours),
    #   and a queued marketing SMS can arrive inside quiet hours: pace at the senders' MPS
    #   (1 per long code, 3 toll-free) — set it to what your numbers are provisioned for.
    # - whatsapp 10: a Twilio WhatsApp sender's default text throughput (Twilio's WhatsApp
    #   FAQ: 10 MPS, up to 50 on request; Meta's Cloud API allows 80 per number).
    # - x 0.22: X API v2 POST /2/dm_conversations/.../messages allows 200 requests per 15
    #   minutes per user (and 1,000 per 24 h, answered with 429 and x-rate-limit-reset).
    channel_rate_limits: dict[str, float] = {
        "email": 0.0,
        "sms": 100.0,
        "whatsapp": 10.0,
        "x": 200 / 900,
    }
    # Requests in flight per provider account. Twilio limits an account's concurrent REST
    # requests (error 20429 "too many concurrent requests"; 100 by default per its support
    # article on 429s). Missing: only `dispatch_concurrency` applies.
    provider_concurrency: dict[str, int] = {"twilio": 100}
    dispatch_workers: int = Field(
        default=1,
        ge=1,
        description="Worker processes sending through the same provider accounts at once (every "
        "`touchline worker`, times `processes` of an advance run): each process takes 1/N of "
        "every rate limit and concurrency cap above.",
    )
    provider_timeout: float = Field(default=10.0, gt=0)
    # Dry runs: "console" replaces every channel with one that writes each message as a JSON
    # line to `console_channel_path` ("-": stdout; empty: <home>/console.jsonl).
    channel_override: Literal["", "console"] = ""
    console_channel_path: str = ""

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

    # --- insight: RFM and dis-engagement tripwires (touchline/insight/) ------------------
    # Which events are purchases, and the payload field that holds the amount.
    purchase_event_types: list[str] = ["order.placed"]
    purchase_amount_field: str = "total"
    # Valuable: RFM monetary score (1-5) at least this, and frequency score at least this
    # (0: not required).
    tripwire_min_monetary_score: int = Field(default=4, ge=0, le=5)
    tripwire_min_frequency_score: int = Field(default=0, ge=0, le=5)
    # A valuable customer is flagged when the purchase model (MBG/NBD, docs/insight.md) gives
    # them P(still active) below this, or fewer expected orders within tripwire_horizon than
    # tripwire_expected_orders_below (unset: only P(active) counts).
    tripwire_p_alive_below: float = Field(default=0.5, gt=0, le=1)
    tripwire_expected_orders_below: float | None = Field(default=None, gt=0)
    tripwire_horizon: timedelta = timedelta(days=90)

    # How far in the future an `occurred_at` may lie (senders' clocks drift) before it is
    # refused: a future time would outrank every later change and open re-entry windows early.
    clock_skew_tolerance: timedelta = timedelta(minutes=5)

    # --- tracking plan and attribute catalogue (docs/tracking-plan.md, docs/templates.md) ---
    # strict: an event type the plan does not declare is refused at intake (422, with a
    # suggestion); permissive: it is stored with a warning and counted by `events stats`.
    tracking_plan: Literal["strict", "permissive"] = "strict"
    tracking_plan_file: Path = PROJECT_ROOT / "events.yaml"
    # The customer attributes (and segment columns) templates may read, for `journeys validate`.
    attributes_file: Path = PROJECT_ROOT / "attributes.yaml"

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
    # SendGrid unsubscribe groups (ASM group id -> our topic): a `group_unsubscribe` event
    # leaves that topic on email. An unlisted group revokes email marketing as a whole: we
    # cannot tell what the customer left, so we stop all of it rather than guess.
    # TOUCHLINE_SENDGRID_ASM_GROUPS='{"21001": "newsletter", "21002": "promotions"}'
    sendgrid_asm_groups: dict[int, str] = {}
    # How far a signed Event Webhook's timestamp may lie from our clock before the request is
    # refused (403): a captured request cannot be replayed later. SendGrid signs every POST
    # (retries too) when it sends it, so only delay in transit and clock drift need room.
    sendgrid_webhook_max_age: timedelta = timedelta(minutes=10)

    # --- Twilio --------------------------------------------------------------------------
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr("sandbox-auth-token")
    twilio_base_url: str = "http://127.0.0.1:8972"
    sms_from: str = "+15005550006"
    # The WhatsApp-enabled sender (E.164, without "whatsapp:"); the default is Twilio's
    # sandbox WhatsApp sender.
    whatsapp_from: str = "+14155238886"

    # --- X (direct messages out; DMs and mentions in, by Account Activity webhook) --------
    x_api_base_url: str = "http://127.0.0.1:8973"
    # OAuth 1.0a user context: DMs are sent as our account, which app-only auth cannot do.
    x_consumer_key: str = "sandbox-consumer-key"
    # Also the key X signs Account Activity webhooks with (the CRC answer and
    # x-twitter-webhooks-signature), as X's Account Activity API does.
    x_consumer_secret: SecretStr = SecretStr("sandbox-consumer-secret")
    x_access_token: str = "1000000000000000001-sandboxAccessToken"  # "<our user id>-…"
    x_access_token_secret: SecretStr = SecretStr("sandbox-access-token-secret")

    # --- our public URLs (webhooks, links in messages) -----------------------------------
    public_url: str = "http://127.0.0.1:8970"
    link_secret: SecretStr = SecretStr("change-me-in-production")
    # Bearer token for the operator API (/customers/…). Customers never need it: their
    # pages are reached by signed links.
    api_token: SecretStr = SecretStr("dev-token")
    # The key of the keyed hashes (HMAC-SHA256) that replace an erased customer's addresses
    # in the evidence kept after erasure (touchline.privacy): whoever holds it can check
    # "was this address the one that consented?", nobody can read the address back.
    erasure_key: SecretStr = SecretStr("change-me-erasure-key")
    # Bearer token that may only POST /events: for the integrators who send us events, so a
    # leaked event feed cannot read or change anyone's consent. The operator token may post
    # events too.
    events_token: SecretStr = SecretStr("dev-events-token")

    # --- limits on what the API accepts (touchline.api.guard) ------------------------------
    # Bodies are refused with 413 as soon as they pass these sizes, without being read whole.
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    events_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Everything else (operator API, customer pages' forms).
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # JSON nested deeper than this is refused (422) before it reaches a parser or PostgreSQL.
    json_max_depth: int = Field(default=32, ge=2, le=512)
    # A customer's attributes, serialised as JSON, may not exceed this (422 at intake).
    customer_attributes_max_bytes: int = Field(default=16 * 1024, ge=256)

    # --- company identity printed in every marketing message --------------------------------
    company_name: str = "Touchline Outfitters"
    company_postal_address: str = "12 Market Street, Springfield, IL 62701, USA"

    # --- proofs (touchline journeys proof) ----------------------------------------------
    # The team's own addresses: emails, +E.164 phones, whatsapp:+E.164, @handles. A proof to
    # anything else is refused. Comma-separated in the environment.
    proof_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("proof_addresses", mode="before")
    @classmethod
    def _proof_list(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # --- credentials from Prefect Secret blocks (touchline/secrets.py) -------------------
    # A block's name here replaces the environment's value: the key is read from the
    # Prefect server (cached `secret_cache_seconds`), so rotating it in the UI needs no
    # restart. Empty: the TOUCHLINE_* value above.
    sendgrid_api_key_block: str = ""
    twilio_auth_token_block: str = ""
    x_consumer_secret_block: str = ""
    x_access_token_secret_block: str = ""
    secret_cache_seconds: float = Field(default=60.0, ge=0)

    @field_validator(
        "marketing_cap_window",
        "history_window",
        "preference_link_ttl",
        "tripwire_horizon",
        "clock_skew_tolerance",
        "sendgrid_webhook_max_age",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        from touchline.clock import parse_duration

        return parse_duration(value) if isinstance(value, str) and value[-1:].isalpha() else value

    @field_validator(
        "default_channel_order",
        "quiet_hours_channels",
        "required_topics",
        "purchase_event_types",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("sendgrid_asm_groups")
    @classmethod
    def _known_topics(cls, value: dict[int, str], info: ValidationInfo) -> dict[int, str]:
        topics = info.data.get("topics") or {}
        unknown = sorted({t for t in value.values() if t not in topics})
        if unknown:
            raise ValueError(f"unknown topics {unknown}; topics are {', '.join(sorted(topics))}")
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


@dataclass(frozen=True)
class SecretSetting:
    """A setting that must not keep its sandbox value in production.

    ``insecure`` tells whether a value is unfit: by default, equal to the sandbox default or
    empty. Add a line to SECRET_SETTINGS for every new secret (an erasure key, say).
    """

    name: str
    why: str
    insecure: Callable[[Settings], bool] | None = None

    def problem(self, settings: Settings) -> str | None:
        if self.insecure is not None:
            bad = self.insecure(settings)
        else:
            value = _plain(getattr(settings, self.name))
            bad = not value or value == _plain(Settings.model_fields[self.name].default)
        return f"TOUCHLINE_{self.name.upper()}: {self.why}" if bad else None


def _plain(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")


def _sandbox_sendgrid_key(settings: Settings) -> bool:
    """No key set (the API would trust the emulator's key file, whose private key sits beside
    it), or the emulator's key itself."""
    configured = settings.sendgrid_webhook_public_key.strip()
    if not configured:
        return True
    key_file = settings.sandbox_dir / "sendgrid_event_webhook_public_key"
    return key_file.exists() and key_file.read_text().strip() == configured


# Every secret that production refuses to run with at its sandbox default.
SECRET_SETTINGS: list[SecretSetting] = [
    SecretSetting("api_token", "the operator API token is the sandbox's 'dev-token'"),
    SecretSetting(
        "events_token",
        "the events token is the sandbox default or the operator token (it would open the "
        "operator API to integrators)",
        lambda s: _plain(s.events_token) in ("", "dev-events-token", _plain(s.api_token)),
    ),
    SecretSetting("link_secret", "signed links (unsubscribe, preferences) would be forgeable"),
    SecretSetting("twilio_auth_token", "Twilio webhooks (STOP, START, status) would be forgeable"),
    SecretSetting("x_consumer_secret", "X webhooks (DMs that enroll customers) would be forgeable"),
    SecretSetting("x_access_token_secret", "the X access token secret is the sandbox default"),
    SecretSetting("sendgrid_api_key", "the SendGrid API key is the sandbox key"),
    SecretSetting(
        "sendgrid_webhook_public_key",
        "missing or the sandbox emulator's key: SendGrid events would be forgeable",
        _sandbox_sendgrid_key,
    ),
    SecretSetting(
        "erasure_key", "erased customers' kept evidence would be hashed with a public key"
    ),
]


def production_problems(settings: Settings) -> list[str]:
    """Each secret still at its sandbox default, named with why it matters (empty: fine)."""
    return [p for s in SECRET_SETTINGS if (p := s.problem(settings)) is not None]


def check_production(settings: Settings, component: str = "Touchline") -> None:
    """Refuse to start outside sandbox mode while a secret keeps its sandbox default.

    Called by the API's factory, the workers, the flows and `touchline serve`.
    """
    if settings.mode == "sandbox":
        return
    problems = production_problems(settings)
    if problems:
        from touchline.errors import ProductionSecretsError

        raise ProductionSecretsError(component, problems)


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
