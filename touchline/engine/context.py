"""What the engine works with, built once per worker process."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from channels import Channel, build_channels
from preference_center import DecisionPolicy
from touchline.config import Settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine.ratelimit import RateLimiter
from touchline.journeys.store import DefinitionCache


@dataclass
class Engine:
    db: Database
    settings: Settings
    catalog: TemplateCatalog
    channels: Mapping[str, Channel]
    policy: DecisionPolicy
    definitions: DefinitionCache = field(default_factory=DefinitionCache)
    # Lives as long as the worker process: the providers' pace carries over from batch to batch.
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # Names the lease holder in the record: which machine and process owns a batch.
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )

    @classmethod
    def from_settings(cls, settings: Settings, db: Database | None = None) -> Engine:
        return cls(
            db=db or Database(settings.resolved_database_url),
            settings=settings,
            catalog=TemplateCatalog(settings.templates_dir),
            channels=build_channels(settings),
            policy=DecisionPolicy.from_settings(settings),
            limiter=RateLimiter.from_settings(settings),
        )

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
