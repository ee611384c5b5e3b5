"""The journey engine: enrollment, claiming due work, and advancing it in batches."""

from touchline.engine.advance import advance_batch, advance_next_batch
from touchline.engine.context import Engine
from touchline.engine.report import BatchReport

__all__ = ["BatchReport", "Engine", "advance_batch", "advance_next_batch"]
