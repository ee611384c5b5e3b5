"""A provider credential: a fixed string, or a callable answering the current value (a
secret an operator can rotate while the workers run; see touchline/secrets.py). Channels
build their SDK clients from ``current(credential)`` and build a new one when it changes."""

from __future__ import annotations

from collections.abc import Callable

Credential = str | Callable[[], str]


def current(credential: Credential) -> str:
    return credential() if callable(credential) else credential
