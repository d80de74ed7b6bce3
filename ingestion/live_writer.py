"""Buffered writes of live samples into the workspace.

:class:`LiveWriter` keeps acquired samples in memory and appends them to DuckDB about once a
second through Arrow, one transaction per flush. If a flush fails (database locked, disk
full) the samples stay buffered and the next flush retries; the buffer is bounded: past
``max_pending_values`` the oldest samples are dropped and recorded as a gap, never silently.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import pyramid
from ingestion.workspace import Store, open_workspace

log = logging.getLogger(__name__)

DEFAULT_MAX_PENDING_VALUES: Final = 20_000_000  # ≈ 0.5 GB of buffered samples at most
_US: Final = 1_000_000


def now_us() -> int:
    """Wall-clock UTC now in microseconds since 1970 (acquisition timestamps)."""
    return time.time_ns() // 1000


def us_to_datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / _US, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Gap:
    """Time during which the feed delivered nothing; stored in ``gaps``, never filled."""

    start_us: int
    end_us: int
    reason: str


# -- sinks ----------------------------------------------------------------------------------


class MeasurementSink(Protocol):
    def write(
        self, table: pa.Table, gaps: Sequence[Gap], *, equipment_id: str, source_id: int
    ) -> None:
        """Append ``table`` (measurements layout) and ``gaps`` in one transaction, or raise."""
        ...


def _write_batch(
    con: Any, table: pa.Table, gaps: Sequence[Gap], equipment_id: str, source_id: int
) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        if table.num_rows:
            con.register("_live_batch", table)
            try:
                con.execute(
                    "INSERT INTO measurements_long "
                    "SELECT equipment_id, sensor_id, ts, value, source_id FROM _live_batch"
                )
            finally:
                con.unregister("_live_batch")
            ts = table.column("ts")
            first, last = pc.min(ts).as_py(), pc.max(ts).as_py()
            # the view pyramid grows with the recording: the buckets this flush touched
            pyramid.extend(con, source_id, pc.min(ts.cast(pa.int64())).as_py())
            # The counts move with the rows, in the same transaction: a recorder killed
            # between two flushes leaves a source whose counts match what it stored.
            acquisitions = pc.count_distinct(ts).as_py()
            con.execute(
                "UPDATE sources SET value_count = value_count + ?, row_count = row_count + ?, "
                "first_ts = least(coalesce(first_ts, ?), ?), last_ts = greatest(coalesce(last_ts, ?), ?) "
                "WHERE id = ?",
                [table.num_rows, acquisitions, first, first, last, last, source_id],
            )
        for gap in gaps:
            con.execute(
                "INSERT INTO gaps VALUES (?, ?, ?, ?, ?)",
                [
                    equipment_id,
                    source_id,
                    us_to_datetime(gap.start_us),
                    us_to_datetime(gap.end_us),
                    gap.reason,
                ],
            )
        con.execute("COMMIT")
    except BaseException:
        # After a failed COMMIT (disk full) DuckDB has already ended the transaction; the
        # original error is the one worth reporting, not "no transaction is active".
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise


class StoreSink:
    """Writes through an open workspace (its own cursor, so the flusher may be another thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._con = store.cursor()

    def write(
        self, table: pa.Table, gaps: Sequence[Gap], *, equipment_id: str, source_id: int
    ) -> None:
        _write_batch(self._con, table, gaps, equipment_id, source_id)


class PathSink:
    """Opens the workspace file for each flush and closes it again, so that other programs
    can open it between flushes (DuckDB allows one writing process at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(
        self, table: pa.Table, gaps: Sequence[Gap], *, equipment_id: str, source_id: int
    ) -> None:
        store = open_workspace(self.path)
        try:
            _write_batch(store.con, table, gaps, equipment_id, source_id)
        finally:
            store.close()


# -- the writer -----------------------------------------------------------------------------


@dataclass
class WriterStats:
    flushes: int = 0
    failed_flushes: int = 0
    values_written: int = 0
    values_dropped: int = 0
    gaps_written: int = 0
    max_pending_values: int = 0
    flush_ms: list[float] = field(default_factory=list)
    last_error: str | None = None


@dataclass
class _Series:
    """Rows of one read batch (fixed sensor tuple) acquired since the last flush."""

    sensors: tuple[str, ...]
    ts: list[int] = field(default_factory=list)
    values: list[Sequence[float]] = field(default_factory=list)


class LiveWriter:
    """Buffers samples and writes them in flushes; thread-safe for one producer and one flusher.

    Args:
        sink: where flushes go.
        max_pending_values: memory bound; past it the oldest samples are dropped (and recorded
            as a gap) while the database stays unavailable.
        warn: called with a sentence when flushing starts failing, recovers, or drops data.
    """

    def __init__(
        self,
        sink: MeasurementSink,
        *,
        equipment_id: str,
        source_id: int,
        max_pending_values: int = DEFAULT_MAX_PENDING_VALUES,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.sink = sink
        self.equipment_id = equipment_id
        self.source_id = source_id
        self.max_pending_values = max_pending_values
        self.warn = warn or log.warning
        self.stats = WriterStats()
        self._lock = threading.Lock()
        self._series: dict[tuple[str, ...], _Series] = {}
        self._retry: list[pa.Table] = []  # built tables whose flush failed, oldest first
        self._retry_values = 0
        self._gaps: list[Gap] = []
        self._pending_new = 0
        self._failing = False

    def add(self, sensors: tuple[str, ...], ts_us: int, values: Sequence[float]) -> None:
        """One acquisition of ``sensors`` at ``ts_us``."""
        with self._lock:
            series = self._series.get(sensors)
            if series is None:
                series = self._series[sensors] = _Series(sensors)
            series.ts.append(ts_us)
            series.values.append(values)
            self._pending_new += len(sensors)

    def add_many(self, sensors: tuple[str, ...], ts_us: np.ndarray, values: np.ndarray) -> None:
        """Many acquisitions at once: ``values`` [n, len(sensors)]."""
        with self._lock:
            series = self._series.get(sensors)
            if series is None:
                series = self._series[sensors] = _Series(sensors)
            series.ts.extend(int(t) for t in ts_us)
            series.values.extend(values.tolist())
            self._pending_new += values.size

    def add_gap(self, gap: Gap) -> None:
        with self._lock:
            self._gaps.append(gap)

    @property
    def pending_values(self) -> int:
        with self._lock:
            return self._pending_new + self._retry_values

    def _take(self) -> tuple[pa.Table | None, list[Gap]]:
        with self._lock:
            series, self._series = self._series, {}
            gaps, self._gaps = self._gaps, []
            self._pending_new = 0
        tables = [self._to_arrow(s) for s in series.values() if s.ts]
        return (pa.concat_tables(tables) if tables else None), gaps

    def _to_arrow(self, series: _Series) -> pa.Table:
        ts = np.asarray(series.ts, dtype=np.int64)
        values = np.asarray(series.values, dtype=np.float64).reshape(len(ts), len(series.sensors))
        n, k = values.shape
        flat = values.ravel()
        sensor_idx = np.tile(np.arange(k, dtype=np.int32), n)
        sensor = pa.DictionaryArray.from_arrays(
            pa.array(sensor_idx), pa.array(list(series.sensors), pa.string())
        ).cast(pa.string())
        return pa.table(
            {
                "equipment_id": pa.array([self.equipment_id] * (n * k), pa.string()),
                "sensor_id": sensor,
                "ts": pa.array(np.repeat(ts, k).astype("datetime64[us]"), pa.timestamp("us")),
                "value": pa.array(flat, mask=~np.isfinite(flat)),
                "source_id": pa.array(np.full(n * k, self.source_id, dtype=np.int32)),
            }
        )

    def flush(self) -> bool:
        """Write everything buffered in one transaction; False (data kept) if that failed."""
        table, gaps = self._take()
        with self._lock:
            if table is not None:
                self._retry.append(table)
                self._retry_values += table.num_rows
            self._gaps[:0] = gaps
            batch = pa.concat_tables(self._retry) if self._retry else None
            gaps = list(self._gaps)
        if batch is None and not gaps:
            return True
        batch = batch if batch is not None else self._empty()
        started = time.perf_counter()
        try:
            self.sink.write(batch, gaps, equipment_id=self.equipment_id, source_id=self.source_id)
        except Exception as exc:  # any failure: keep everything, retry next time
            self.stats.failed_flushes += 1
            self.stats.last_error = str(exc).splitlines()[0]
            if not self._failing:
                self.warn(
                    f"cannot write live data to the workspace ({self.stats.last_error}); "
                    "keeping it in memory and retrying every flush."
                )
            self._failing = True
            self._bound_memory()
            return False
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self._retry, self._retry_values = [], 0
            del self._gaps[: len(gaps)]
        self.stats.flushes += 1
        self.stats.flush_ms.append(elapsed)
        self.stats.values_written += batch.num_rows
        self.stats.gaps_written += len(gaps)
        if self._failing:
            self.warn(
                f"writing to the workspace works again; {batch.num_rows} buffered values stored."
            )
            self._failing = False
        return True

    def _empty(self) -> pa.Table:
        return pa.table(
            {
                "equipment_id": pa.array([], pa.string()),
                "sensor_id": pa.array([], pa.string()),
                "ts": pa.array([], pa.timestamp("us")),
                "value": pa.array([], pa.float64()),
                "source_id": pa.array([], pa.int32()),
            }
        )

    def _bound_memory(self) -> None:
        with self._lock:
            self.stats.max_pending_values = max(
                self.stats.max_pending_values, self._retry_values + self._pending_new
            )
            dropped: list[pa.Table] = []
            while self._retry and self._retry_values + self._pending_new > self.max_pending_values:
                oldest = self._retry.pop(0)
                self._retry_values -= oldest.num_rows
                dropped.append(oldest)
        if not dropped:
            return
        ts = pa.concat_tables(dropped).column("ts")
        start = pc.min(ts).value
        end = pc.max(ts).value
        n = sum(t.num_rows for t in dropped)
        self.stats.values_dropped += n
        reason = "not stored: the workspace stayed unwritable and the live buffer was full"
        self.add_gap(Gap(int(start), int(end), reason))
        self.warn(
            f"dropped {n} buffered values ({us_to_datetime(int(start))} to "
            f"{us_to_datetime(int(end))}) because the workspace stayed unwritable; "
            "recorded as a gap."
        )
