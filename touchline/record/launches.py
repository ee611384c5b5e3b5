"""Campaign launches: a journey sent to a segment file, enrolled batch by batch.

The row is the launch's progress log. Its id comes from the journey and the launch's name,
so running the same launch again (after an interruption, say) finds it and carries on —
and the enrollment ids, derived from the same name, make sure nobody enters twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from touchline.record.types import UTCDateTime

RUNNING = "running"
FINISHED = "finished"


class Launch(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=36)
    journey_key: str = Field(index=True, max_length=64)
    # The version the launch started with; a resumed launch keeps enrolling into it.
    journey_version: int
    name: str = Field(max_length=200)
    segment_path: str = Field(max_length=500)
    # The segment file's content when the launch last ran: a changed file is reported.
    segment_sha256: str = Field(max_length=64)
    status: str = Field(default=RUNNING, max_length=16)
    rows_read: int = 0
    enrolled: int = 0
    already_enrolled: int = 0
    filtered_out: int = 0
    unknown_customers: int = 0
    rejected_rows: int = 0
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    runs: int = 1
