"""The refresh: channel and timing effectiveness, learned from the interaction record.

What counts: every touch with a ``sent`` interaction inside ``settings.history_window``
(before ``now``). A touch is *engaged* when it has at least one opened, clicked or replied
interaction. Its *kind of message* is its topic if it has one, else its purpose; its *hour
of week* is the moment it was sent, in the customer's own time zone (0 = Monday 00:00–00:59;
``Preference.timezone``, else ``settings.default_timezone``).

What is learned (beta-binomial posterior means, ``(engaged + prior × S) / (sent + S)`` with
S = ``settings.prior_strength``):

- channel rates per (kind, channel): globally, smoothed toward ``settings.channel_prior``;
  per segment, smoothed toward the global rate; per customer, toward their segment's rate
  (the global one for customers in no segment — see ``preference_center.learned``);
- hour-of-week scores per channel: globally, smoothed toward the channel's overall rate
  (every hour of a channel with data gets a row, so a lookup never misses); per segment,
  toward the global score of that hour; per customer, toward their segment's (or the global)
  score of that hour.

Customer and segment rows exist only where there is data (sparse). Both tables are rewritten
wholesale in one transaction, after everything is computed, so readers see either the old
or the new figures and writers are held up only for the write itself.

Memory: the record is read in chunks, one row per sent touch (the engagement test is an
``EXISTS`` on the interaction's touch index), and each chunk is reduced to counts at once;
only the counts (customers × kinds × channels, customers × channels × hours with data) grow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, text

from preference_center.learned import (
    CUSTOMER,
    GLOBAL,
    GLOBAL_KEY,
    MIN_CHANNELS,
    MIN_MESSAGES,
    SCOPE_KEY_LENGTH,
    SEGMENT,
)
from preference_center.quiet_hours import is_valid_timezone
from touchline.config import Settings, get_settings
from touchline.db import Database
from touchline.record import ChannelEffectiveness, TimingEffectiveness
from touchline.record.touches import CLICKED, OPENED, REPLIED, SENT
from touchline.record.types import UTCDateTime

ENGAGED_KINDS = (OPENED, CLICKED, REPLIED)
DEFAULT_PRIOR = 0.2  # a channel missing from settings.channel_prior
HOURS_OF_WEEK = 168
READ_ROWS = 250_000  # sent touches per chunk read
WRITE_ROWS = 50_000  # rows per executemany / COPY batch
COMPACT_ROWS = 3_000_000  # partial counts kept before they are folded together
NO_SEGMENT = ""  # stands for "no segment" while grouping (pandas drops None keys)

COLUMNS = ["customer_id", "segment", "timezone", "kind", "channel", "sent_epoch", "engaged"]
CHANNEL_KEYS = ["customer_id", "segment", "kind", "channel"]
TIMING_KEYS = ["customer_id", "segment", "channel", "hour_of_week"]


@dataclass(frozen=True)
class GlobalRate:
    kind: str
    channel: str
    sent: int
    engaged: int
    rate: float


@dataclass(frozen=True)
class RefreshReport:
    since: datetime
    until: datetime
    messages: int  # sent touches read (one row each)
    engaged: int
    customers: int  # customers with at least one message in the window
    customers_ranked: int  # with enough data of their own to rank channels for some kind
    segments: int
    channel_rows: int
    timing_rows: int
    seconds: float
    global_rates: tuple[GlobalRate, ...] = ()

    @property
    def rows_written(self) -> int:
        return self.channel_rows + self.timing_rows


def refresh(db: Database, now: datetime, settings: Settings | None = None) -> RefreshReport:
    """Recompute both tables from the record; returns what was learned, in figures."""
    settings = settings or get_settings()
    began = time.perf_counter()
    since = now - settings.history_window
    channel_counts, timing_counts = count_sent_touches(db, since, now, settings)
    prior, strength = dict(settings.channel_prior), settings.prior_strength
    overall, segments, customers = channel_rates(channel_counts, prior, strength)
    timing = timing_scores(timing_counts, prior, strength)
    channel_rows = _channel_rows(overall, segments, customers)
    with db.engine.begin() as connection:
        connection.execute(ChannelEffectiveness.__table__.delete())  # type: ignore[attr-defined]
        connection.execute(TimingEffectiveness.__table__.delete())  # type: ignore[attr-defined]
        _write(connection, ChannelEffectiveness.__tablename__, channel_rows, now)
        _write(connection, TimingEffectiveness.__tablename__, timing, now)
    return RefreshReport(
        since=since,
        until=now,
        messages=int(channel_counts["sent"].sum()),
        engaged=int(channel_counts["engaged"].sum()),
        customers=int(channel_counts["customer_id"].nunique()),
        customers_ranked=customers_with_enough_data(channel_counts),
        segments=int(segments["segment"].nunique()),
        channel_rows=len(channel_rows),
        timing_rows=len(timing),
        seconds=time.perf_counter() - began,
        global_rates=tuple(
            GlobalRate(r.kind, r.channel, int(r.sent), int(r.engaged), float(r.rate))
            for r in overall.sort_values(["kind", "channel"]).itertuples()
        ),
    )


# --- reading ---------------------------------------------------------------------------


def _sent_touches_sql(dialect: str, attribute: str) -> str:
    if dialect == "postgresql":
        epoch = "CAST(EXTRACT(EPOCH FROM i.occurred_at) AS BIGINT)"
        segment = (
            "CASE WHEN jsonb_typeof(CAST(c.attributes AS jsonb) -> :attribute) = 'string' "
            "THEN CAST(c.attributes AS jsonb) ->> :attribute END"
        )
    else:
        epoch = "CAST(strftime('%s', i.occurred_at) AS INTEGER)"
        segment = (
            "CASE WHEN json_type(c.attributes, :path) = 'text' "
            "THEN json_extract(c.attributes, :path) END"
        )
    engaged = ", ".join(f"'{kind}'" for kind in ENGAGED_KINDS)
    return f"""
        SELECT t.customer_id, {segment} AS segment, p.timezone,
               COALESCE(t.topic, t.purpose) AS kind, t.channel, {epoch} AS sent_epoch,
               CASE WHEN EXISTS (
                   SELECT 1 FROM interaction e
                   WHERE e.touch_id = i.touch_id AND e.kind IN ({engaged})
               ) THEN 1 ELSE 0 END AS engaged
        FROM interaction i
        JOIN touch t ON t.id = i.touch_id
        JOIN customer c ON c.id = t.customer_id
        LEFT JOIN preference p ON p.customer_id = t.customer_id
        WHERE i.kind = '{SENT}' AND i.occurred_at >= :since AND i.occurred_at < :until
          AND t.channel IS NOT NULL
    """


def read_sent_touches(
    connection: Connection,
    since: datetime,
    until: datetime,
    segment_attribute: str,
    chunk_rows: int = READ_ROWS,
) -> Iterator[pd.DataFrame]:
    """One row per sent touch in [since, until): ``COLUMNS``, in chunks of ``chunk_rows``.

    Streams (a server-side cursor on PostgreSQL): memory holds one chunk, not the record.
    """
    dialect = connection.dialect.name
    quoted = segment_attribute.replace('"', '""')
    statement = text(_sent_touches_sql(dialect, segment_attribute)).bindparams(
        bindparam("since", type_=UTCDateTime), bindparam("until", type_=UTCDateTime)
    )
    params: dict[str, object] = {"since": since, "until": until}
    params.update(
        {"attribute": segment_attribute} if dialect == "postgresql" else {"path": f'$."{quoted}"'}
    )
    result = connection.execution_options(yield_per=chunk_rows).execute(statement, params)
    for rows in result.partitions(chunk_rows):
        # Column-wise from plain tuples: pandas probes each Row object otherwise.
        yield pd.DataFrame(dict(zip(COLUMNS, zip(*rows, strict=True), strict=True)))


def count_sent_touches(
    db: Database, since: datetime, until: datetime, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sent and engaged counts per (customer, segment, kind, channel) and per
    (customer, segment, channel, hour of week), reduced chunk by chunk."""
    channel_parts: list[pd.DataFrame] = []
    timing_parts: list[pd.DataFrame] = []
    zones: dict[str, str] = {}
    with db.engine.connect() as connection:
        for chunk in read_sent_touches(connection, since, until, settings.segment_attribute):
            chunk = _prepare(chunk, settings.default_timezone, zones)
            channel_parts.append(_count(chunk, CHANNEL_KEYS))
            timing_parts.append(_count(chunk, TIMING_KEYS))
            channel_parts = _compact(channel_parts, CHANNEL_KEYS)
            timing_parts = _compact(timing_parts, TIMING_KEYS)
    return _fold(channel_parts, CHANNEL_KEYS), _fold(timing_parts, TIMING_KEYS)


def _prepare(chunk: pd.DataFrame, default_zone: str, zones: dict[str, str]) -> pd.DataFrame:
    """Segment normalised, hour of week computed in each customer's own zone."""
    segment = chunk["segment"].where(chunk["segment"].notna(), NO_SEGMENT).astype(str)
    zone_names = chunk["timezone"].where(chunk["timezone"].notna(), default_zone)
    for name in zone_names.unique():
        if name not in zones:  # an unknown zone counts in the default one, as decisions do
            zones[name] = name if is_valid_timezone(name) else default_zone
    zone_names = zone_names.map(zones)
    sent_at = pd.to_datetime(chunk["sent_epoch"].to_numpy(), unit="s", utc=True)
    hour = np.empty(len(chunk), dtype=np.int16)
    # One vectorised conversion per zone present in the chunk (a handful, not one per row).
    for name, positions in zone_names.groupby(zone_names).indices.items():
        local = sent_at[positions].tz_convert(name)
        hour[positions] = local.day_of_week * 24 + local.hour
    return pd.DataFrame(
        {
            "customer_id": chunk["customer_id"],
            "segment": segment.str.slice(0, SCOPE_KEY_LENGTH),
            "kind": chunk["kind"],
            "channel": chunk["channel"],
            "hour_of_week": hour,
            "engaged": chunk["engaged"].astype(np.int64),
        }
    )


def _count(chunk: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return chunk.groupby(keys, sort=False, observed=True).agg(
        sent=("engaged", "size"), engaged=("engaged", "sum")
    )


def _compact(parts: list[pd.DataFrame], keys: list[str]) -> list[pd.DataFrame]:
    """Fold the partial counts together once they grow (customers recur across chunks)."""
    if len(parts) > 1 and sum(len(p) for p in parts) > COMPACT_ROWS:
        folded = pd.concat(parts).groupby(level=keys, sort=False).sum()
        return [folded]
    return parts


def _fold(parts: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    if not parts:
        empty = pd.DataFrame({k: pd.Series(dtype=object) for k in keys})
        return empty.assign(sent=pd.Series(dtype=np.int64), engaged=pd.Series(dtype=np.int64))
    return pd.concat(parts).groupby(level=keys, sort=False).sum().reset_index()


def customers_with_enough_data(counts: pd.DataFrame) -> int:
    """Customers whose own rates rank channels for at least one kind (the minimum-data rule
    over every channel; a decision applies it over the channels it can use)."""
    if counts.empty:
        return 0
    per_kind = counts.assign(used=counts["sent"] > 0).groupby(["customer_id", "kind"])
    volume = per_kind.agg(messages=("sent", "sum"), channels=("used", "sum"))
    enough = volume[(volume["messages"] >= MIN_MESSAGES) & (volume["channels"] >= MIN_CHANNELS)]
    return int(enough.index.get_level_values("customer_id").nunique())


# --- smoothing -------------------------------------------------------------------------


def smooth(engaged: pd.Series, sent: pd.Series, prior: pd.Series, strength: float) -> pd.Series:
    """Beta-binomial posterior mean: the prior counts as ``strength`` messages."""
    return (engaged + prior * strength) / (sent + strength)


def _channel_prior(channels: pd.Series, prior: Mapping[str, float]) -> pd.Series:
    return channels.map(dict(prior)).fillna(DEFAULT_PRIOR).astype(float)


def channel_rates(
    counts: pd.DataFrame, prior: Mapping[str, float], strength: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Global, segment and customer rates per kind and channel, each smoothed toward the
    scope that encloses it."""
    overall = counts.groupby(["kind", "channel"], as_index=False)[["sent", "engaged"]].sum()
    overall["rate"] = smooth(
        overall["engaged"], overall["sent"], _channel_prior(overall["channel"], prior), strength
    )
    overall_rate = overall[["kind", "channel", "rate"]].rename(columns={"rate": "overall_rate"})
    segments = (
        counts[counts["segment"] != NO_SEGMENT]
        .groupby(["segment", "kind", "channel"], as_index=False)[["sent", "engaged"]]
        .sum()
        .merge(overall_rate, on=["kind", "channel"])
    )
    segments["rate"] = smooth(
        segments["engaged"], segments["sent"], segments.pop("overall_rate"), strength
    )
    customers = counts.merge(
        segments[["segment", "kind", "channel", "rate"]].rename(columns={"rate": "segment_rate"}),
        on=["segment", "kind", "channel"],
        how="left",
    ).merge(overall_rate, on=["kind", "channel"])
    enclosing = customers.pop("segment_rate").fillna(customers.pop("overall_rate"))
    customers["rate"] = smooth(customers["engaged"], customers["sent"], enclosing, strength)
    return overall, segments, customers


def timing_scores(
    counts: pd.DataFrame, prior: Mapping[str, float], strength: float
) -> pd.DataFrame:
    """Hour-of-week scores of every scope, as rows of the timing table."""
    keys = ["channel", "hour_of_week"]
    per_channel = counts.groupby("channel")[["sent", "engaged"]].sum()
    channel_rate = smooth(
        per_channel["engaged"],
        per_channel["sent"],
        _channel_prior(per_channel.index.to_series(), prior),
        strength,
    )
    every_hour = pd.MultiIndex.from_product([per_channel.index, range(HOURS_OF_WEEK)], names=keys)
    overall = (
        counts.groupby(keys)[["sent", "engaged"]].sum().reindex(every_hour, fill_value=0)
    ).reset_index()
    overall["score"] = smooth(
        overall["engaged"], overall["sent"], overall["channel"].map(channel_rate), strength
    )
    overall_score = overall[[*keys, "score"]].rename(columns={"score": "overall_score"})
    segments = (
        counts[counts["segment"] != NO_SEGMENT]
        .groupby(["segment", *keys], as_index=False)[["sent", "engaged"]]
        .sum()
        .merge(overall_score, on=keys)
    )
    segments["score"] = smooth(
        segments["engaged"], segments["sent"], segments.pop("overall_score"), strength
    )
    customers = counts.merge(
        segments[["segment", *keys, "score"]].rename(columns={"score": "segment_score"}),
        on=["segment", *keys],
        how="left",
    ).merge(overall_score, on=keys)
    enclosing = customers.pop("segment_score").fillna(customers.pop("overall_score"))
    customers["score"] = smooth(customers["engaged"], customers["sent"], enclosing, strength)
    columns = ["scope", "scope_key", *keys, "sent", "engaged", "score"]
    return pd.concat(
        [
            overall.assign(scope=GLOBAL, scope_key=GLOBAL_KEY)[columns],
            segments.assign(scope=SEGMENT).rename(columns={"segment": "scope_key"})[columns],
            customers.assign(scope=CUSTOMER).rename(columns={"customer_id": "scope_key"})[columns],
        ],
        ignore_index=True,
    )


def _channel_rows(
    overall: pd.DataFrame, segments: pd.DataFrame, customers: pd.DataFrame
) -> pd.DataFrame:
    columns = ["scope", "scope_key", "kind", "channel", "sent", "engaged", "rate"]
    return pd.concat(
        [
            overall.assign(scope=GLOBAL, scope_key=GLOBAL_KEY)[columns],
            segments.assign(scope=SEGMENT).rename(columns={"segment": "scope_key"})[columns],
            customers.assign(scope=CUSTOMER).rename(columns={"customer_id": "scope_key"})[columns],
        ],
        ignore_index=True,
    )


# --- writing ---------------------------------------------------------------------------


def _write(connection: Connection, table: str, rows: pd.DataFrame, computed_at: datetime) -> None:
    """Bulk insert: executemany on SQLite, COPY on PostgreSQL — both far faster than ORM
    objects, and both inside the caller's transaction."""
    if rows.empty:
        return
    dialect = connection.dialect.name
    # The value UTCDateTime would bind (SQLite stores naive UTC text), computed once.
    stamp = UTCDateTime().dialect_impl(connection.dialect).bind_processor(connection.dialect)
    stamped = stamp(computed_at) if stamp else computed_at
    names = [*rows.columns, "computed_at"]
    for start in range(0, len(rows), WRITE_ROWS):
        part = rows.iloc[start : start + WRITE_ROWS]
        values = [part[c].tolist() for c in rows.columns]
        batch = list(zip(*values, [stamped] * len(part), strict=True))
        if dialect == "postgresql":
            raw = connection.connection.dbapi_connection
            with (
                raw.cursor() as cursor,
                cursor.copy(  # type: ignore[union-attr]
                    f"COPY {table} ({', '.join(names)}) FROM STDIN"
                ) as copy,
            ):
                for row in batch:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in names)
            connection.exec_driver_sql(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", batch
            )
