"""Read measurements back as fixed-rate windows: the one API the trainer, the engine and the GUI use.

Samples are read straight from where they are stored (:func:`ingestion.wide.sample_branches`:
the long table and, for wide CSV imports, only the asked columns of each wide table) rather
than through the unpivoting ``measurements`` view. Resampling happens in DuckDB: every sample falls into a bucket of ``1 / rate_hz`` seconds
(``floor((ts - window_start) * rate_hz)``), buckets are averaged, and numpy scatters the
grouped rows into dense ``[windows, samples]`` arrays. Buckets without data are NaN; a sensor
with no data at all is all NaN. Time ranges are half-open, ``[start, end)``, in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa

from ingestion.errors import HydroDiagError
from ingestion.wide import sample_branches, wide_tables
from ingestion.workspace import Store

TimeLike = datetime | np.datetime64 | str

_US_PER_S: Final = 1_000_000


class QueryError(HydroDiagError):
    """A window request that cannot be answered as asked (bad rate, empty range, ...)."""


@dataclass(frozen=True, eq=False)
class Windows:
    """A batch of equally long windows, every sensor resampled to ``rate_hz``.

    ``values[sensor][b, t]`` is the mean of the sensor's samples in
    ``[starts[b] + t / rate_hz, starts[b] + (t + 1) / rate_hz)``, float32, NaN where none.
    """

    starts: np.ndarray  # datetime64[us] [B]
    ends: np.ndarray  # datetime64[us] [B], exclusive
    cycle_numbers: np.ndarray | None  # int64 [B] for cycle windows, else None
    values: dict[str, np.ndarray]  # sensor id -> float32 [B, T]
    rate_hz: float

    @property
    def count(self) -> int:
        return len(self.starts)

    @property
    def length(self) -> int:
        """T, samples per window."""
        return next(iter(self.values.values())).shape[1] if self.values else 0

    def __len__(self) -> int:
        return self.count


def _to_us(value: TimeLike) -> int:
    """Microseconds since 1970 UTC; naive datetimes and strings are taken as UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    try:
        return int(np.datetime64(value, "us").astype(np.int64))  # type: ignore[call-overload]
    except ValueError as exc:
        raise QueryError(f"cannot read {value!r} as a time ({exc}); use ISO 8601.") from None


def _check_rate(rate_hz: float) -> None:
    if not rate_hz > 0 or not np.isfinite(rate_hz):
        raise QueryError(f"rate_hz must be a positive number of samples per second, not {rate_hz}")


def _sensor_list(sensor_ids: Sequence[str]) -> list[str]:
    if isinstance(sensor_ids, str):
        sensor_ids = [sensor_ids]
    ids = list(dict.fromkeys(sensor_ids))
    if not ids:
        raise QueryError("no sensors asked for; give at least one sensor id.")
    return ids


def _column(result: dict[str, np.ndarray], name: str, dtype: type) -> np.ndarray:
    """A fetchnumpy column as a plain array; NULLs (masked) become NaN."""
    column = result[name]
    if isinstance(column, np.ma.MaskedArray):
        return np.ma.filled(column.astype(np.float64), np.nan).astype(dtype, copy=False)
    return np.asarray(column, dtype=dtype)


def _scatter(
    result: dict[str, np.ndarray], sensor_ids: list[str], n_windows: int, length: int
) -> dict[str, np.ndarray]:
    """Grouped rows (window index, sensor index, bucket, mean) -> dense float32 arrays."""
    out = np.full((len(sensor_ids), n_windows, length), np.nan, dtype=np.float32)
    w = _column(result, "w", np.int64)
    if w.size:
        out[_column(result, "s", np.int64), w, _column(result, "b", np.int64)] = _column(
            result, "v", np.float32
        )
    return {sid: out[i] for i, sid in enumerate(sensor_ids)}


def cycle_windows(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    *,
    rate_hz: float = 1.0,
    cycles: tuple[int, int] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> Windows:
    """One window per cycle of the equipment (ordered by cycle number).

    Args:
        cycles: inclusive (first, last) cycle numbers to keep.
        start, end: keep cycles that start in ``[start, end)``.

    The window length T is ``round(longest cycle duration * rate_hz)``; shorter cycles are
    NaN-padded at the end.
    """
    _check_rate(rate_hz)
    ids = _sensor_list(sensor_ids)
    con = store.cursor()
    where = ["equipment_id = ?"]
    params: list[object] = [equipment_id]
    if cycles is not None:
        where.append("cycle_no BETWEEN ? AND ?")
        params += [int(cycles[0]), int(cycles[1])]
    if start is not None:
        where.append("start_ts >= make_timestamp(?)")
        params.append(_to_us(start))
    if end is not None:
        where.append("start_ts < make_timestamp(?)")
        params.append(_to_us(end))
    cyc = con.execute(
        "SELECT cycle_no, epoch_us(start_ts) AS s, epoch_us(end_ts) AS e FROM cycles WHERE "
        + " AND ".join(where)
        + " ORDER BY start_ts",
        params,
    ).fetchnumpy()
    numbers = np.asarray(cyc["cycle_no"], dtype=np.int64)
    starts_us = np.asarray(cyc["s"], dtype=np.int64)
    ends_us = np.asarray(cyc["e"], dtype=np.int64)
    if numbers.size == 0:
        return Windows(
            starts=np.array([], dtype="datetime64[us]"),
            ends=np.array([], dtype="datetime64[us]"),
            cycle_numbers=numbers,
            values={sid: np.empty((0, 0), dtype=np.float32) for sid in ids},
            rate_hz=rate_hz,
        )
    length = round(float((ends_us - starts_us).max()) * rate_hz / _US_PER_S)
    samples, params = sample_branches(
        con, equipment_id, ids, int(starts_us.min()), int(ends_us.max())
    )
    count = con.execute(f"SELECT count(*) FROM ({samples})", params).fetchall()
    rows = int(count[0][0]) if count else 0
    cells = len(ids) * numbers.size * length
    if rows <= _RAW_FACTOR * cells:
        values = _cycle_values_raw(
            con, samples, params, ids, starts_us, ends_us, rate_hz, length, rows
        )
    else:
        values = _cycle_values_grouped(
            con, samples, params, ids, starts_us, ends_us, rate_hz, length
        )
    return Windows(
        starts=starts_us.astype("datetime64[us]"),
        ends=ends_us.astype("datetime64[us]"),
        cycle_numbers=numbers,
        values=values,
        rate_hz=rate_hz,
    )


_RAW_FACTOR: Final = 4
"""Fetch raw samples and average in numpy when there are at most this many per output cell;
denser data (e.g. 100 Hz read at 1 Hz) is averaged by DuckDB first."""


def _cycle_values_raw(
    con: duckdb.DuckDBPyConnection,
    samples: str,
    params: list[object],
    ids: list[str],
    starts_us: np.ndarray,
    ends_us: np.ndarray,
    rate_hz: float,
    length: int,
    rows: int,
) -> dict[str, np.ndarray]:
    """Samples as they are, bucketed with searchsorted + bincount (a DuckDB GROUP BY over
    millions of tiny groups is several times slower than this)."""
    n_windows = starts_us.size
    if rows == 0:
        return {sid: np.full((n_windows, length), np.nan, dtype=np.float32) for sid in ids}
    raw = con.execute(
        f"SELECT s, epoch_us(ts) AS t, value AS v FROM ({samples}) WHERE value IS NOT NULL",
        params,
    ).fetchnumpy()
    s = _column(raw, "s", np.int64)
    t = _column(raw, "t", np.int64)
    v = _column(raw, "v", np.float64)
    order = np.argsort(starts_us, kind="stable")
    sorted_starts = starts_us[order]
    pos = np.searchsorted(sorted_starts, t, side="right") - 1
    inside = pos >= 0
    w = order[np.clip(pos, 0, None)]
    inside &= t < ends_us[w]
    bucket = np.floor((t - starts_us[w]) * (rate_hz / _US_PER_S)).astype(np.int64)
    inside &= (bucket >= 0) & (bucket < length) & np.isfinite(v)
    key = (s[inside] * n_windows + w[inside]) * length + bucket[inside]
    size = len(ids) * n_windows * length
    sums = np.bincount(key, weights=v[inside], minlength=size)
    counts = np.bincount(key, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums / counts).astype(np.float32)
    out = means.reshape(len(ids), n_windows, length)
    return {sid: out[i] for i, sid in enumerate(ids)}


def _cycle_values_grouped(
    con: duckdb.DuckDBPyConnection,
    samples: str,
    params: list[object],
    ids: list[str],
    starts_us: np.ndarray,
    ends_us: np.ndarray,
    rate_hz: float,
    length: int,
) -> dict[str, np.ndarray]:
    windows = pa.table(
        {
            "w": pa.array(np.arange(starts_us.size, dtype=np.int32)),
            "ws": pa.array(starts_us.astype("datetime64[us]"), pa.timestamp("us")),
            "we": pa.array(ends_us.astype("datetime64[us]"), pa.timestamp("us")),
        }
    )
    con.register("_q_windows", windows)
    try:
        # ASOF join: each sample finds the latest window start at or before it, then the
        # half-open end filter drops samples that fall in a gap between cycles.
        table = con.execute(
            f"""
            SELECT w.w, m.s,
                   CAST(floor(epoch_us(m.ts - w.ws) * ? / 1e6) AS INTEGER) AS b,
                   avg(m.value) AS v
            FROM ({samples}) m
            ASOF JOIN _q_windows w ON m.ts >= w.ws
            WHERE m.ts < w.we
            GROUP BY ALL
            HAVING b < ?
            """,
            [rate_hz, *params, length],
        ).fetchnumpy()
    finally:
        con.unregister("_q_windows")
    return _scatter(table, ids, starts_us.size, length)


def sliding_windows(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    *,
    start: TimeLike,
    end: TimeLike,
    length_s: float = 60.0,
    stride_s: float = 60.0,
    rate_hz: float = 1.0,
) -> Windows:
    """Windows of ``length_s`` every ``stride_s`` from ``start``, all lying inside ``[start, end)``.

    For continuous logs without a cycle table. ``length_s * rate_hz`` and ``stride_s * rate_hz``
    must be whole numbers of samples.
    """
    _check_rate(rate_hz)
    ids = _sensor_list(sensor_ids)
    length = length_s * rate_hz
    stride = stride_s * rate_hz
    for name, n in (("length_s", length), ("stride_s", stride)):
        if n < 1 or abs(n - round(n)) > 1e-9:
            raise QueryError(
                f"{name} × rate_hz must be a whole number of samples ≥ 1 "
                f"(got {n:g}); pick {name} as a multiple of 1/rate_hz."
            )
    length_n, stride_n = round(length), round(stride)
    start_us, end_us = _to_us(start), _to_us(end)
    total = int(np.floor((end_us - start_us) * rate_hz / _US_PER_S + 1e-9))
    n_windows = 0 if total < length_n else (total - length_n) // stride_n + 1
    bucket_us = _US_PER_S / rate_hz
    starts_us = start_us + np.round(np.arange(n_windows) * stride_n * bucket_us).astype(np.int64)
    ends_us = starts_us + round(length_n * bucket_us)
    if n_windows == 0:
        return Windows(
            starts=starts_us.astype("datetime64[us]"),
            ends=ends_us.astype("datetime64[us]"),
            cycle_numbers=None,
            values={sid: np.empty((0, length_n), dtype=np.float32) for sid in ids},
            rate_hz=rate_hz,
        )
    grid_end_us = start_us + round(total * bucket_us)
    con = store.cursor()
    samples, params = sample_branches(con, equipment_id, ids, start_us, grid_end_us)
    table = con.execute(
        f"""
        SELECT m.s,
               CAST(floor((epoch_us(m.ts) - ?) * ? / 1e6) AS BIGINT) AS b,
               avg(m.value) AS v
        FROM ({samples}) m
        GROUP BY ALL
        """,
        [start_us, rate_hz, *params],
    ).fetchnumpy()
    grid = np.full((len(ids), total), np.nan, dtype=np.float32)
    b = _column(table, "b", np.int64)
    keep = b < total
    grid[_column(table, "s", np.int64)[keep], b[keep]] = _column(table, "v", np.float32)[keep]
    index = np.arange(n_windows)[:, None] * stride_n + np.arange(length_n)[None, :]
    return Windows(
        starts=starts_us.astype("datetime64[us]"),
        ends=ends_us.astype("datetime64[us]"),
        cycle_numbers=None,
        values={sid: grid[i][index] for i, sid in enumerate(ids)},
        rate_hz=rate_hz,
    )


def cycle_labels(store: Store, equipment_id: str, windows: Windows) -> dict[str, np.ndarray]:
    """Condition grade per window for every labelled component of the equipment.

    A window takes the grade of the label range that contains its midpoint (the latest label
    when ranges overlap, e.g. an inspection over a data-set label); -1 where none does.
    """
    con = store.cursor()
    comps = [
        r[0]
        for r in con.execute(
            # the equipment-wide labels of a log's label column ('*') grade no component
            "SELECT DISTINCT component_id FROM labels WHERE equipment_id = ? "
            "AND component_id <> '*' ORDER BY 1",
            [equipment_id],
        ).fetchall()
    ]
    out = {c: np.full(windows.count, -1, dtype=np.int64) for c in comps}
    if not comps or windows.count == 0:
        return out
    starts = windows.starts.astype("datetime64[us]").astype(np.int64)
    ends = windows.ends.astype("datetime64[us]").astype(np.int64)
    mids = starts + (ends - starts) // 2
    table = pa.table(
        {
            "w": pa.array(np.arange(windows.count, dtype=np.int32)),
            "mid": pa.array(mids.astype("datetime64[us]"), pa.timestamp("us")),
        }
    )
    con.register("_q_mids", table)
    try:
        rows = con.execute(
            """
            SELECT w, component_id, arg_max(grade, id) AS grade
            FROM _q_mids JOIN labels l
              ON l.equipment_id = ? AND mid >= l.start_ts AND mid < l.end_ts
            GROUP BY ALL
            """,
            [equipment_id],
        ).fetchnumpy()
    finally:
        con.unregister("_q_mids")
    w = np.asarray(rows["w"], dtype=np.int64)
    comp = np.asarray(rows["component_id"], dtype=object)
    grade = np.asarray(rows["grade"], dtype=np.int64)
    for c in comps:
        sel = comp == c
        out[c][w[sel]] = grade[sel]
    return out


def sensor_series(
    store: Store,
    equipment_id: str,
    sensor_id: str,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All samples of one sensor in time order: (int64 ns since 1970 UTC, float64 values, NaN=gap)."""
    con = store.cursor()
    samples, params = sample_branches(
        con,
        equipment_id,
        [sensor_id],
        None if start is None else _to_us(start),
        None if end is None else _to_us(end),
    )
    # No ORDER BY: each source's rows are stored in time order, so the result usually is
    # already sorted (checking is cheap; DuckDB's sort of millions of rows is not).
    result = con.execute(
        f"SELECT epoch_us(ts) * 1000 AS t, value AS v FROM ({samples})", params
    ).fetchnumpy()
    t, v = _column(result, "t", np.int64), _column(result, "v", np.float64)
    if t.size > 1 and not bool(np.all(t[1:] >= t[:-1])):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    return t, v


def sensors_series(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    start: TimeLike,
    end: TimeLike,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The samples of several sensors in [start, end) in one query, each in time order, as
    :func:`sensor_series` gives them. For short ranges (a zoomed-in plot): the rows are sorted."""
    con = store.cursor()
    samples, params = sample_branches(con, equipment_id, sensor_ids, _to_us(start), _to_us(end))
    result = con.execute(
        f"SELECT s, epoch_us(ts) * 1000 AS t, value AS v FROM ({samples}) ORDER BY s, t", params
    ).fetchnumpy()
    which = _column(result, "s", np.int64)
    t, v = _column(result, "t", np.int64), _column(result, "v", np.float64)
    bounds = np.searchsorted(which, np.arange(len(sensor_ids) + 1))
    return {
        sensor: (t[bounds[i] : bounds[i + 1]], v[bounds[i] : bounds[i + 1]])
        for i, sensor in enumerate(sensor_ids)
    }


def labelled_time_range(
    store: Store, equipment_id: str
) -> tuple[np.datetime64, np.datetime64] | None:
    """Start of the earliest and end of the latest condition label (None without labels)."""
    row = (
        store.cursor()
        .execute(
            "SELECT min(start_ts), max(end_ts) FROM labels WHERE equipment_id = ?",
            [equipment_id],
        )
        .fetchone()
    )
    if row is None or row[0] is None:
        return None
    return np.datetime64(row[0], "us"), np.datetime64(row[1], "us")


def equipment_time_range(
    store: Store, equipment_id: str
) -> tuple[np.datetime64, np.datetime64] | None:
    """First and last measurement time of an equipment (None when it has no data)."""
    con = store.cursor()
    parts = ["SELECT min(ts) AS a, max(ts) AS b FROM measurements_long WHERE equipment_id = ?"]
    for table in wide_tables(con, equipment_id):
        # min/max of ts straight from each wide table (rows with at least one value), rather
        # than through the view's one branch per column
        any_value = " OR ".join(f"{c} IS NOT NULL" for c in table.columns)
        parts.append(f"SELECT min(ts), max(ts) FROM {table.table} WHERE {any_value}")
    row = con.execute(
        f"SELECT min(a), max(b) FROM ({' UNION ALL '.join(parts)})", [equipment_id]
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return np.datetime64(row[0], "us"), np.datetime64(row[1], "us")
