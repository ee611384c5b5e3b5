"""Provider credentials from Prefect Secret blocks, as well as from the environment.

An operator who manages keys in the Prefect UI (Blocks → Secret) names the block in a
setting — ``TOUCHLINE_SENDGRID_API_KEY_BLOCK=sendgrid-api-key`` — and the channels read the
key from that block instead of ``TOUCHLINE_SENDGRID_API_KEY``. The value is cached for
``TOUCHLINE_SECRET_CACHE_SECONDS`` (60 s by default), so a key rotated in the UI is used by
every running worker within that time, without a restart; the channels build a new SDK
client when the value they are given changes.

When the Prefect server cannot be reached the last value read stays in use; a block that
was never read (missing, or no server) stops sends through that provider with a
ProviderConfigurationError naming the block, like a wrong key would.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from channels.credentials import Credential
from channels.errors import ProviderConfigurationError
from touchline.config import Settings

log = logging.getLogger(__name__)

# Setting holding the secret -> the provider it authenticates (for error messages).
SECRET_SETTINGS = {
    "sendgrid_api_key": "sendgrid",
    "twilio_auth_token": "twilio",
    "x_consumer_secret": "x",
    "x_access_token_secret": "x",
}


def read_secret_block(name: str) -> str:
    """The value of the Prefect Secret block ``name`` (Prefect's API in PREFECT_API_URL)."""
    from prefect.blocks.system import Secret

    return str(Secret.load(name, _sync=True).get())  # type: ignore[call-arg]


class BlockSecret:
    """A callable answering a Secret block's value, read at most every ``ttl`` seconds."""

    def __init__(
        self,
        block: str,
        provider: str,
        setting: str,
        ttl: float,
        read: Callable[[str], str] = read_secret_block,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.block, self.provider, self.setting, self.ttl = block, provider, setting, ttl
        self._read, self._clock = read, clock
        self._value: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._value is None or self._clock() - self._read_at >= self.ttl:
                self._refresh()
            assert self._value is not None
            return self._value

    def _refresh(self) -> None:
        try:
            value = self._read(self.block)
        except Exception as exc:  # any failure to read: keep the last value, or stop sends
            if self._value is not None:
                log.warning("Secret block '%s' unreadable (%s); using the last value read",
                            self.block, exc)  # fmt: skip
                self._read_at = self._clock()
                return
            raise ProviderConfigurationError(
                f"the Prefect Secret block '{self.block}' (TOUCHLINE_{self.setting.upper()}"
                f"_BLOCK) could not be read: {type(exc).__name__}: {exc}. Create it in the "
                "Prefect UI (Blocks → Secret) or unset the setting to use "
                f"TOUCHLINE_{self.setting.upper()}",
                provider=self.provider,
            ) from exc
        if self._value is not None and value != self._value:
            log.info("Secret block '%s' changed: %s uses the new value", self.block, self.provider)
        self._value, self._read_at = value, self._clock()


def credential(settings: Settings, setting: str) -> Credential:
    """The credential a channel gets for ``setting``: the Secret block named in
    ``<setting>_block`` when there is one, else the environment's value."""
    block = getattr(settings, f"{setting}_block")
    if block:
        return BlockSecret(block, SECRET_SETTINGS[setting], setting, settings.secret_cache_seconds)
    return getattr(settings, setting).get_secret_value()
