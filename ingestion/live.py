"""Live feeds into the workspace: Modbus polling, a growing CSV file, buffered writes, gaps.

Pieces, each usable on its own:

* :class:`LiveWriter` buffers acquired samples in memory and appends them to DuckDB about once a
  second through Arrow, one transaction per flush. If a flush fails (database locked, disk
  full) the samples stay buffered and the next flush retries; the buffer is bounded — past
  ``max_pending_values`` the oldest samples are dropped and recorded as a gap, never silently.
* :class:`ModbusPoller` reads a register map's poll groups on schedule (contiguous ranges in
  batches, timestamp at acquisition), reconnects with exponential backoff and records the
  outage in ``gaps``. Nothing is ever invented to fill an outage.
* :class:`CsvFollower` follows a file a logger appends to: partial last lines wait for their
  end, truncation and rotation restart at the new file's beginning.
* :func:`run_live_session` ties a feed, the writer, rolling diagnosis and a duration together.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.errors import HydroDiagError
from ingestion.modbus.client import ModbusReadError, ReadOnlyModbusClient
from ingestion.modbus.registermap import ReadBatch, RegisterMap, decode_batch, plan_batches
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
            con.execute(
                "UPDATE sources SET value_count = value_count + ?, "
                "first_ts = least(coalesce(first_ts, ?), ?), last_ts = greatest(coalesce(last_ts, ?), ?) "
                "WHERE id = ?",
                [table.num_rows, first, first, last, last, source_id],
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


# -- Modbus polling -------------------------------------------------------------------------


@dataclass
class GroupStats:
    period_s: float
    polls: int = 0
    missed_ticks: int = 0  # scheduled polls skipped because the poller fell behind or was down
    jitter_ms: list[float] = field(default_factory=list)


@dataclass
class PollerStats:
    groups: dict[str, GroupStats]
    reads: int = 0
    failed_reads: int = 0
    exception_responses: int = 0
    reconnects: int = 0
    gaps: list[Gap] = field(default_factory=list)
    samples: dict[str, int] = field(default_factory=dict)  # sensor → acquisitions


class ModbusPoller:
    """Polls ``register_map`` through ``client`` into ``writer`` until ``stop`` is set."""

    def __init__(
        self,
        client: ReadOnlyModbusClient,
        register_map: RegisterMap,
        writer: LiveWriter,
        *,
        max_gap: int = 0,
        backoff_s: tuple[float, float] = (0.1, 2.0),
        catch_up_s: float = 0.5,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        # A poll that is late by less than this is still made (back to back, with its own
        # acquisition timestamp): a busy CPU or a slow flush costs regularity, not samples.
        # Later than that, the ticks are skipped and counted as missed; no endless bursts.
        self.catch_up_s = catch_up_s
        self.register_map = register_map
        self.writer = writer
        self.plan = plan_batches(register_map, max_gap=max_gap)
        self.backoff_s = backoff_s
        self.warn = warn or log.warning
        self.stop = threading.Event()
        self.stats = PollerStats(
            groups={g: GroupStats(register_map.group(g).period_s) for g in self.plan}
        )
        self._keys = {
            id(b): tuple(e.sensor for e in b.entries) for bs in self.plan.values() for b in bs
        }
        self._last_ok_us: int | None = None
        self._outage_since: int | None = None
        self._outage_reason = ""
        self._warned_batches: set[tuple[str, int]] = set()

    def run(self, duration_s: float | None = None) -> PollerStats:
        """Poll until ``stop`` is set or ``duration_s`` has passed; returns the statistics."""
        t_end = None if duration_s is None else time.monotonic() + duration_s
        start = time.monotonic()
        due = {g: start for g in self.plan}
        backoff = self.backoff_s[0]
        self.client.connect()
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if t_end is not None and now >= t_end:
                    break
                if self._outage_since is not None and not self.client.connected:
                    if not self.client.connect():
                        self.stop.wait(min(backoff, max((t_end or now + backoff) - now, 0)))
                        backoff = min(backoff * 2, self.backoff_s[1])
                        self._skip_missed(due)
                        continue
                    self.stats.reconnects += 1
                group = min(due, key=due.__getitem__)
                wait = due[group] - time.monotonic()
                if wait > 0:
                    if self.stop.wait(min(wait, (t_end - time.monotonic()) if t_end else wait)):
                        break
                    if time.monotonic() < due[group]:
                        continue
                gstats = self.stats.groups[group]
                gstats.jitter_ms.append((time.monotonic() - due[group]) * 1000)
                ok = self._poll_group(group)
                gstats.polls += 1
                period = gstats.period_s
                due[group] += period
                late = time.monotonic() - due[group]
                if late > max(period, self.catch_up_s):  # too far behind: skip, do not burst
                    skipped = int(late // period)
                    gstats.missed_ticks += skipped
                    due[group] += skipped * period
                if ok:
                    backoff = self.backoff_s[0]
        finally:
            if self._outage_since is not None:
                end = now_us()
                self._record_gap(
                    self._outage_since,
                    end,
                    self._outage_reason + " (still down when the feed stopped)",
                )
            self.client.close()
        return self.stats

    def _skip_missed(self, due: dict[str, float]) -> None:
        now = time.monotonic()
        for group, t in due.items():
            period = self.stats.groups[group].period_s
            if now - t > period:
                skipped = int((now - t) // period)
                self.stats.groups[group].missed_ticks += skipped
                due[group] = t + skipped * period

    def _poll_group(self, group: str) -> bool:
        ok = True
        for batch in self.plan[group]:
            t0 = now_us()
            try:
                registers = self.client.read_registers(batch.table, batch.address, batch.count)
            except ModbusReadError as exc:
                self.stats.failed_reads += 1
                ok = False
                if exc.connection:
                    self._begin_outage(str(exc))
                    return False
                self.stats.exception_responses += 1
                self._warn_batch(batch, str(exc))
                continue
            t1 = now_us()
            ts = (t0 + t1) // 2  # the acquisition instant: middle of request and response
            self.stats.reads += 1
            values = decode_batch(batch, registers, self.register_map)
            key = self._keys[id(batch)]
            self.writer.add(key, ts, values)
            for sensor in key:
                self.stats.samples[sensor] = self.stats.samples.get(sensor, 0) + 1
            if self._outage_since is not None:
                self._record_gap(self._outage_since, ts, self._outage_reason)
                self._outage_since = None
                self.warn(f"{self.client}: reconnected; the outage is recorded as a gap.")
            self._last_ok_us = ts
        return ok

    def _begin_outage(self, message: str) -> None:
        if self._outage_since is not None:
            return
        self._outage_since = self._last_ok_us if self._last_ok_us is not None else now_us()
        self._outage_reason = f"connection lost: {message}"
        self.warn(f"{message}; reconnecting with backoff.")

    def _record_gap(self, start_us: int, end_us: int, reason: str) -> None:
        gap = Gap(start_us, end_us, reason)
        self.stats.gaps.append(gap)
        self.writer.add_gap(gap)

    def _warn_batch(self, batch: ReadBatch, message: str) -> None:
        key = (batch.table.value, batch.address)
        if key not in self._warned_batches:
            self._warned_batches.add(key)
            self.warn(f"{message}; sensors {', '.join(e.sensor for e in batch.entries)} skipped.")


# -- growing CSV ----------------------------------------------------------------------------


class CsvFollower:
    """Reads rows a logger appends to ``path`` (wide: a timestamp column + sensor columns).

    Only complete lines are parsed; a partial last line waits for its newline. When the file
    shrinks (truncated) or its inode changes (rotated), reading restarts at its beginning;
    with rotation, the rest of the old file is read first.
    """

    def __init__(
        self,
        path: Path,
        sensors: Sequence[str],
        *,
        timestamp_column: str | None = None,
        from_start: bool = True,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.known = {s.lower(): s for s in sensors}
        self.timestamp_column = timestamp_column
        self.warn = warn or log.warning
        self._fh: io.BufferedReader | None = None
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._header: list[str] | None = None
        self._delimiter = ","
        self._columns: list[tuple[int, str]] = []
        self._ts_index = 0
        self._line_no = 0
        self.rotations = 0
        self.truncations = 0
        self.bad_lines = 0
        self._from_start = from_start

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls on purpose
        except FileNotFoundError:
            return False
        self._fh = fh
        self._inode = os.fstat(fh.fileno()).st_ino
        self._offset = 0
        self._partial = b""
        self._header = None
        self._line_no = 0
        if not self._from_start:
            self._fh.seek(0, os.SEEK_END)
            self._offset = self._fh.tell()
            self._from_start = True
        return True

    def poll(self) -> Iterator[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
        """New complete rows as (sensors, ts_us [n], values [n, k]) groups."""
        if self._fh is None and not self._open():
            return
        assert self._fh is not None
        lines = self._read_new_lines()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            stat = None
        if stat is not None and stat.st_ino != self._inode:
            # rotated: the old handle's rest was read above; continue in the new file
            self.rotations += 1
            self.close()
            if self._partial:
                lines.append(self._partial)
            yield from self._parse(lines)
            if self._open():
                yield from self._parse(self._read_new_lines())
            return
        if stat is not None and stat.st_size < self._offset:
            self.truncations += 1
            self.warn(f"{self.path}: the file was truncated; reading it again from the start.")
            self.close()
            yield from self._parse(lines)
            if self._open():
                yield from self._parse(self._read_new_lines())
            return
        yield from self._parse(lines)

    def _read_new_lines(self) -> list[bytes]:
        assert self._fh is not None
        self._fh.seek(self._offset)
        data = self._fh.read()
        self._offset += len(data)
        if not data:
            return []
        data = self._partial + data
        parts = data.split(b"\n")
        self._partial = parts.pop()  # after the last newline: incomplete (or empty)
        return [p.rstrip(b"\r") for p in parts if p.strip()]

    def _parse(
        self, lines: list[bytes]
    ) -> Iterator[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
        if not lines:
            return
        text = [line.decode("utf-8-sig", errors="replace") for line in lines]
        if self._header is None:
            self._set_header(text.pop(0))
            self._line_no += 1
        if not text or not self._columns:
            self._line_no += len(text)
            return
        ts_list: list[int] = []
        rows: list[list[float]] = []
        for row in csv.reader(text, delimiter=self._delimiter):
            self._line_no += 1
            try:
                ts_list.append(_parse_timestamp_us(row[self._ts_index]))
            except (ValueError, IndexError):
                self.bad_lines += 1
                if self.bad_lines <= 3:
                    self.warn(
                        f"{self.path}:{self._line_no}: cannot read the timestamp; line skipped."
                    )
                continue
            rows.append(
                [_parse_float(row[i]) if i < len(row) else float("nan") for i, _ in self._columns]
            )
        if ts_list:
            yield (
                tuple(s for _, s in self._columns),
                np.asarray(ts_list, dtype=np.int64),
                np.asarray(rows, dtype=np.float64).reshape(len(ts_list), len(self._columns)),
            )

    def _set_header(self, line: str) -> None:
        self._delimiter = max((";", "\t", ","), key=line.count)
        names = next(csv.reader([line], delimiter=self._delimiter))
        self._header = names
        lowered = [n.strip().lower() for n in names]
        if self.timestamp_column is not None:
            if self.timestamp_column.lower() not in lowered:
                raise HydroDiagError(
                    f"{self.path}:1: no column {self.timestamp_column!r} in the header "
                    f"({', '.join(names)})."
                )
            self._ts_index = lowered.index(self.timestamp_column.lower())
        else:
            candidates = [
                i
                for i, n in enumerate(lowered)
                if n in {"timestamp", "time", "ts", "datetime", "date_time"}
            ]
            self._ts_index = candidates[0] if candidates else 0
        self._columns = [
            (i, self.known[n])
            for i, n in enumerate(lowered)
            if n in self.known and i != self._ts_index
        ]
        unknown = [
            names[i] for i, n in enumerate(lowered) if n not in self.known and i != self._ts_index
        ]
        if not self._columns:
            self.warn(
                f"{self.path}:1: no column matches a sensor of the profile; nothing to store."
            )
        elif unknown:
            self.warn(f"{self.path}:1: columns not in the profile, ignored: {', '.join(unknown)}")


def _parse_float(text: str) -> float:
    text = text.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return float("nan")


def _parse_timestamp_us(text: str) -> int:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return int((parsed - datetime(1970, 1, 1)).total_seconds() * _US)
    # epoch seconds or milliseconds
    return int(number * (1000 if number > 1e11 else _US))


# -- sessions -------------------------------------------------------------------------------


DiagnoseHook = Callable[[Store], str]  # returns a one-line summary of the diagnosis


@dataclass
class LiveSummary:
    source_id: int
    seconds: float
    values_written: int
    values_dropped: int
    gaps: int
    flushes: int
    failed_flushes: int
    flush_ms_p50: float | None
    flush_ms_p99: float | None
    diagnoses: list[str]
    poller: PollerStats | None = None

    @classmethod
    def from_run(
        cls,
        source_id: int,
        seconds: float,
        writer: LiveWriter,
        diagnoses: list[str],
        poller: PollerStats | None,
    ) -> LiveSummary:
        flush = writer.stats.flush_ms
        return cls(
            source_id=source_id,
            seconds=seconds,
            values_written=writer.stats.values_written,
            values_dropped=writer.stats.values_dropped,
            gaps=writer.stats.gaps_written,
            flushes=writer.stats.flushes,
            failed_flushes=writer.stats.failed_flushes,
            flush_ms_p50=float(np.percentile(flush, 50)) if flush else None,
            flush_ms_p99=float(np.percentile(flush, 99)) if flush else None,
            diagnoses=diagnoses,
            poller=poller,
        )

    def describe(self) -> str:
        lines = [
            f"live feed stopped after {self.seconds:.0f} s: {self.values_written} values stored "
            f"in {self.flushes} flushes (source {self.source_id})",
        ]
        if self.flush_ms_p50 is not None:
            lines.append(
                f"  flush latency p50 {self.flush_ms_p50:.1f} ms, p99 {self.flush_ms_p99:.1f} ms"
            )
        if self.poller is not None:
            p = self.poller
            lines.append(
                f"  reads {p.reads}, failed {p.failed_reads} (Modbus exceptions "
                f"{p.exception_responses}), reconnects {p.reconnects}, gaps {len(p.gaps)}"
            )
            for name, g in p.groups.items():
                jit = np.percentile(g.jitter_ms, [50, 99]) if g.jitter_ms else [0.0, 0.0]
                lines.append(
                    f"  group {name}: {g.polls} polls at {1 / g.period_s:g} Hz, missed ticks "
                    f"{g.missed_ticks}, jitter p50 {jit[0]:.2f} ms p99 {jit[1]:.2f} ms"
                )
        if self.failed_flushes:
            lines.append(f"  {self.failed_flushes} flushes failed and were retried")
        if self.values_dropped:
            lines.append(f"  {self.values_dropped} values dropped (buffer full), recorded as a gap")
        lines += [f"  diagnosis: {d}" for d in self.diagnoses]
        return "\n".join(lines)


def run_live_session(
    writer: LiveWriter,
    feed: Callable[[threading.Event], None],
    *,
    duration_s: float | None,
    flush_interval_s: float = 1.0,
    diagnose_every_s: float | None = None,
    diagnose: Callable[[], str] | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[float, list[str]]:
    """Run ``feed(stop)`` in a thread, flush every ``flush_interval_s`` in this one, diagnose
    every ``diagnose_every_s``; stop after ``duration_s`` (or when ``stop`` is set or Ctrl-C).
    Returns (seconds run, diagnosis summaries)."""
    stop = stop or threading.Event()
    error: list[BaseException] = []

    def _feed() -> None:
        try:
            feed(stop)
        except BaseException as exc:  # surfaced to the caller after the final flush
            error.append(exc)
            stop.set()

    thread = threading.Thread(target=_feed, name="live-feed", daemon=True)
    started = time.monotonic()
    next_diag = started + diagnose_every_s if diagnose_every_s else None
    diagnoses: list[str] = []
    thread.start()
    try:
        while thread.is_alive():
            thread.join(timeout=flush_interval_s)
            writer.flush()
            now = time.monotonic()
            if progress is not None:
                progress(
                    f"{now - started:6.0f} s  stored {writer.stats.values_written} values, "
                    f"buffered {writer.pending_values}"
                )
            if next_diag is not None and diagnose is not None and now >= next_diag:
                next_diag = now + (diagnose_every_s or 0)
                try:
                    diagnoses.append(diagnose())
                except HydroDiagError as exc:
                    diagnoses.append(f"not diagnosed: {exc}")
                    writer.warn(f"rolling diagnosis failed: {exc}")
                if progress is not None:
                    progress(f"diagnosis: {diagnoses[-1]}")
            if duration_s is not None and now - started >= duration_s:
                stop.set()
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        thread.join(timeout=10.0)
        for _ in range(5):  # last flush; retried briefly if the database is still busy
            if writer.flush():
                break
            time.sleep(0.5)
    if error and not isinstance(error[0], KeyboardInterrupt):
        raise error[0]
    return time.monotonic() - started, diagnoses
