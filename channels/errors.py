"""Channel errors: the only failure types that leave ``channels/``.

ChannelError
├── TransientChannelError       rate limit, 5xx, timeout: retry later (maybe after retry_after)
│   └── LookupIncomplete        a lookup of in-doubt sends stopped part-way; carries what it found
├── PermanentChannelError       this message will never go (invalid number, unsubscribed)
└── ProviderConfigurationError  no message will go (bad credentials, wrong URL): stop and
                                tell the operator; the touches stay pending for a re-run
"""

from __future__ import annotations


class ChannelError(Exception):
    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.status = status
        self.retry_after = retry_after

    def describe(self) -> str:
        parts = [self.provider]
        if self.status:
            parts.append(str(self.status))
        if self.code:
            parts.append(f"code {self.code}")
        return f"{' '.join(parts)}: {self.message}"


class TransientChannelError(ChannelError):
    pass


class LookupIncomplete(TransientChannelError):
    """Looking up in-doubt sends was cut short (rate limit, outage): ``found`` holds the
    answers so far; the rest are still unknown — neither sent nor to be sent."""

    def __init__(self, cause: ChannelError, found: dict[str, object]):
        super().__init__(
            f"lookup incomplete: {cause.message}",
            provider=cause.provider,
            code=cause.code,
            status=cause.status,
            retry_after=cause.retry_after,
        )
        self.found = found


class PermanentChannelError(ChannelError):
    # Set when the provider tells us the recipient opted out (Twilio 21610): the consent
    # ledger must learn it too.
    recipient_opted_out: bool = False


class ProviderConfigurationError(ChannelError):
    pass
