"""The view pyramid: min / max / mean of every sensor per time bucket, at several bucket sizes,
so that a plot of a week reads a screen's width of points instead of a billion samples.

Level ``L`` has buckets of ``BASE_S * FACTOR**L`` seconds (1 s, 4 s, 16 s ... 4096 s); a
bucket's key is the floor of its start in epoch seconds over that size. Rows hold the count of
finite samples and their min, max and sum (``sum / n`` is the mean; sums merge across sources
and across buckets), per source so that deleting a source deletes its rows.

:func:`build` fills the pyramid of a freshly imported source inside the import's transaction
(level 0 from the samples in time slices, so the aggregation's memory stays bounded whatever
the log's length; each coarser level from the level below). :func:`extend` recomputes the
buckets a live recording's latest flush touched. :func:`read` picks the level for a time range
and a point budget and returns the buckets, merged over sources; a range short enough to show
every sample returns ``None`` so that the caller reads the samples themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt

from ingestion import wide
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.schema import PYRAMID_FACTOR as FACTOR
from ingestion.schema import PYRAMID_LEVELS as LEVELS

BASE_S: Final = 1  # level 0: buckets of 1 s; 7 levels reach 4096 s (a week: 148 buckets)
SLICE_S: Final = 4 * 3600  # level 0 is aggregated this many seconds of samples at a time


def bucket_s(level: int) -> int:
    """Seconds per bucket at ``level``."""
    return int(BASE_S * FACTOR**level)


@dataclass(frozen=True)
class Buckets:
    """One sensor's buckets over a range: start (epoch s), count, min, max, mean."""

    level: int
    seconds: int
    start_s: npt.NDArray[np.float64]
    n: npt.NDArray[np.int64]
    vmin: npt.NDArray[np.float64]
    vmax: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]


def _insert_level0_sql(select: str, source: str, bounds: str) -> str:
    return (
        "INSERT INTO pyramid (equipment_id, sensor_id, source_id, level, bucket, n, vmin, vmax, "
        f"vsum) {select} FROM {source} WHERE value IS NOT NULL{bounds} "
        "GROUP BY ALL ORDER BY 2, 5"
    )


def build(con: duckdb.DuckDBPyConnection, source_id: int, progress: Progress = NO_PROGRESS) -> int:
    """Fill the pyramid of ``source_id`` (its rows replaced); returns the level-0 rows.

    Runs in the caller's transaction. A wide source is aggregated from its wide table (one pass
    gives every column), a long one from ``measurements_long``.
    """
    con.execute("DELETE FROM pyramid WHERE source_id = ?", [source_id])
    span = _source_span(con, source_id)
    if span is None:
        return 0
    lo_s, hi_s = span
    slices = range(lo_s - lo_s % SLICE_S, hi_s + 1, SLICE_S)
    progress.start("building the view pyramid", len(slices), "slices")
    table = wide.find(con, source_id)
    for done, start in enumerate(slices, start=1):
        check_cancelled(progress)
        bounds = (
            f" AND ts >= make_timestamp({start * 1_000_000})"
            f" AND ts < make_timestamp({(start + SLICE_S) * 1_000_000})"
        )
        if table is None:
            _level0_long(con, source_id, bounds)
        else:
            _level0_wide(con, table, bounds)
        progress.update(done)
    for level in range(1, LEVELS):
        _coarser(con, source_id, level, None)
    progress.finish()
    row = con.execute(
        "SELECT count(*) FROM pyramid WHERE source_id = ? AND level = 0", [source_id]
    ).fetchone()
    return int(row[0]) if row else 0


BUILT_KEY: Final = "pyramid_built"
"""``meta`` key set once every source of a workspace has its pyramid (v5 on)."""


def build_missing(con: duckdb.DuckDBPyConnection, progress: Progress = NO_PROGRESS) -> int:
    """Build the pyramid of every source with measurements but none (a workspace from before
    v5), one transaction per source, then mark the workspace done; returns the sources built.
    Stopped midway (a crash, a cancel), the next call goes on where it stopped."""
    if con.execute("SELECT 1 FROM meta WHERE key = ?", [BUILT_KEY]).fetchone():
        return 0
    sources = [
        int(r[0])
        for r in con.execute(
            "SELECT id FROM sources WHERE value_count > 0 AND id NOT IN "
            "(SELECT DISTINCT source_id FROM pyramid) ORDER BY id"
        ).fetchall()
    ]
    for source_id in sources:
        con.execute("BEGIN TRANSACTION")
        try:
            build(con, source_id, progress)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, 'true')", [BUILT_KEY])
    return len(sources)


def _source_span(con: duckdb.DuckDBPyConnection, source_id: int) -> tuple[int, int] | None:
    """(first, last) second of a source's samples."""
    table = wide.find(con, source_id)
    if table is None:
        sql, params = (
            "SELECT min(ts), max(ts) FROM measurements_long WHERE source_id = ?",
            [source_id],
        )
    else:
        sql, params = f"SELECT min(ts), max(ts) FROM {table.table}", []
    row = con.execute(
        f"SELECT epoch_us(a) // 1000000, epoch_us(b) // 1000000 FROM ({sql}) t(a, b)", params
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def _level0_long(con: duckdb.DuckDBPyConnection, source_id: int, bounds: str) -> None:
    con.execute(
        _insert_level0_sql(
            "SELECT equipment_id, sensor_id, source_id, 0, epoch_us(ts) // 1000000, "
            "count(value), min(value), max(value), sum(value)",
            "measurements_long",
            f" AND source_id = {int(source_id)}{bounds}",
        )
    )


def _level0_wide(con: duckdb.DuckDBPyConnection, table: wide.WideTable, bounds: str) -> None:
    """One pass over the slice of the wide table for all its columns, then one insert each."""
    aggregates = []
    for column in table.columns:
        value = f"CASE WHEN isfinite({column}) THEN {column} END"
        aggregates.append(
            f"count({value}) AS n_{column}, min({value}) AS lo_{column}, "
            f"max({value}) AS hi_{column}, sum({value}) AS s_{column}"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _pyramid_slice AS SELECT epoch_us(ts) // 1000000 AS b, "
        f"{', '.join(aggregates)} FROM {table.table} WHERE true{bounds} GROUP BY b"
    )
    try:
        for column, sensor in table.columns.items():
            con.execute(
                "INSERT INTO pyramid (equipment_id, sensor_id, source_id, level, bucket, n, vmin, "
                f"vmax, vsum) SELECT ?, ?, ?, 0, b, n_{column}, lo_{column}, hi_{column}, "
                f"s_{column} FROM _pyramid_slice WHERE n_{column} > 0 ORDER BY b",
                [table.equipment_id, sensor, table.source_id],
            )
    finally:
        con.execute("DROP TABLE IF EXISTS _pyramid_slice")


def _coarser(
    con: duckdb.DuckDBPyConnection, source_id: int, level: int, from_bucket: int | None
) -> None:
    """Level ``level`` of a source from level ``level - 1`` (only buckets >= ``from_bucket``)."""
    since = "" if from_bucket is None else f" AND bucket >= {int(from_bucket) * FACTOR}"
    if from_bucket is not None:
        con.execute(
            "DELETE FROM pyramid WHERE source_id = ? AND level = ? AND bucket >= ?",
            [source_id, level, from_bucket],
        )
    con.execute(
        "INSERT INTO pyramid (equipment_id, sensor_id, source_id, level, bucket, n, vmin, vmax, "
        f"vsum) SELECT equipment_id, sensor_id, source_id, {int(level)}, bucket // {FACTOR}, "
        "sum(n), min(vmin), max(vmax), sum(vsum) FROM pyramid "
        f"WHERE source_id = ? AND level = {int(level) - 1}{since} GROUP BY ALL ORDER BY 2, 5",
        [source_id],
    )


def extend(con: duckdb.DuckDBPyConnection, source_id: int, since_us: int) -> None:
    """Recompute a long-table source's buckets from the one holding ``since_us`` on (a live
    recording's flush): level 0 from the samples since that second, then every coarser
    level's touched buckets from those level-0 rows, in one delete and two inserts."""
    first = since_us // 1_000_000
    starts = [first // bucket_s(level) for level in range(LEVELS)]
    touched = " OR ".join(f"(level = {lv} AND bucket >= {b})" for lv, b in enumerate(starts))
    con.execute(f"DELETE FROM pyramid WHERE source_id = ? AND ({touched})", [source_id])
    _level0_long(con, source_id, f" AND ts >= make_timestamp({first * 1_000_000})")
    # each coarser bucket from the level-0 rows it covers (at most 4096 s of them per sensor)
    since = starts[-1] * bucket_s(LEVELS - 1)
    parts = [
        f"SELECT equipment_id, sensor_id, source_id, {level}, bucket // {bucket_s(level)}, "
        f"sum(n), min(vmin), max(vmax), sum(vsum) FROM level0 "
        f"WHERE bucket >= {starts[level] * bucket_s(level)} GROUP BY ALL"
        for level in range(1, LEVELS)
    ]
    con.execute(
        "INSERT INTO pyramid (equipment_id, sensor_id, source_id, level, bucket, n, vmin, vmax, "
        "vsum) WITH level0 AS (SELECT * FROM pyramid WHERE source_id = ? AND level = 0 "
        f"AND bucket >= {since}) " + " UNION ALL ".join(parts) + " ORDER BY 4, 2, 5",
        [source_id],
    )


def choose_level(span_s: float, max_points: int) -> int:
    """The finest level with at most ``max_points`` buckets over ``span_s`` seconds (the
    coarsest when none has that few)."""
    for level in range(LEVELS):
        if span_s / bucket_s(level) <= max_points:
            return level
    return LEVELS - 1


def read(
    con: duckdb.DuckDBPyConnection,
    equipment_id: str,
    sensor_ids: Sequence[str],
    start_s: float,
    end_s: float,
    *,
    max_points: int,
) -> dict[str, Buckets | None]:
    """Each sensor's buckets over [start_s, end_s) at the finest level with at most
    ``max_points`` of them, merged over its sources, in one query; None for a sensor whose
    range holds no more than ``max_points`` samples (read those instead: the stored counts
    say so, whatever the sensor's nominal rate) or no pyramid rows."""
    level = choose_level(max(end_s - start_s, 1e-6), max_points)
    size = bucket_s(level)
    result = con.execute(
        "SELECT sensor_id, bucket, sum(n) AS n, min(vmin) AS lo, max(vmax) AS hi, "
        "sum(vsum) AS s FROM pyramid WHERE equipment_id = ? AND list_contains(?, sensor_id) "
        "AND level = ? AND bucket >= ? AND bucket < ? GROUP BY ALL ORDER BY 1, 2",
        [
            equipment_id,
            list(sensor_ids),
            level,
            int(start_s // size),
            int(-(-end_s // size)),
        ],
    ).fetchnumpy()
    sensors = np.asarray(result["sensor_id"], dtype=object)
    out: dict[str, Buckets | None] = dict.fromkeys(sensor_ids)
    edges = np.flatnonzero(sensors[1:] != sensors[:-1]) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, sensors.size], strict=True):
        if hi <= lo:
            continue
        n = np.asarray(result["n"][lo:hi], dtype=np.int64)
        if int(n.sum()) <= max_points:
            continue
        out[str(sensors[lo])] = Buckets(
            level=level,
            seconds=size,
            start_s=np.asarray(result["bucket"][lo:hi], dtype=np.float64) * size,
            n=n,
            vmin=np.asarray(result["lo"][lo:hi], dtype=np.float64),
            vmax=np.asarray(result["hi"][lo:hi], dtype=np.float64),
            mean=np.asarray(result["s"][lo:hi], dtype=np.float64) / np.maximum(n, 1),
        )
    return out


def has_pyramid(con: duckdb.DuckDBPyConnection, equipment_id: str) -> bool:
    row = con.execute(
        "SELECT count(*) > 0 FROM (SELECT 1 FROM pyramid WHERE equipment_id = ? LIMIT 1)",
        [equipment_id],
    ).fetchone()
    return bool(row and row[0])
