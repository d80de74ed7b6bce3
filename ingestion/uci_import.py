"""Import a folder in the UCI / ZeMA cycle layout (read by :mod:`ingestion.uci`) into the
workspace: measurements at their sample times, the cycle table and condition labels.

The data sets carry no clock time: cycle k starts at ``UCI_EPOCH + (k - 1) * 60 s`` (UTC).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingestion.catalog import (
    ImportSummary,
    SourceImport,
    ensure_equipment,
    equipment_exists,
    equipment_profile,
    importing_source,
    insert_labels,
)
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.uci import (
    CYCLE_DURATION_S,
    DEFAULT_UCI_PROFILE,
    UCI_EPOCH,
    UCI_TARGETS,
    UciDataset,
    UciFormatError,
    folder_digest,
    read_uci_folder,
)
from ingestion.uci_archive import uci_folder
from ingestion.workspace import Store


def cycle_start_times(
    cycle_numbers: np.ndarray, duration_s: float = CYCLE_DURATION_S
) -> np.ndarray:
    """datetime64[us] start of each cycle under the documented :data:`UCI_EPOCH` convention."""
    offsets = ((cycle_numbers.astype(np.int64) - 1) * round(duration_s * 1e6)).astype(
        "timedelta64[us]"
    )
    starts: np.ndarray = UCI_EPOCH + offsets
    return starts


def _sample_times(starts: np.ndarray, samples: int, rate_hz: float) -> np.ndarray:
    offsets = np.round(np.arange(samples) * (1e6 / rate_hz)).astype("timedelta64[us]")
    times: np.ndarray = (starts[:, None] + offsets[None, :]).ravel()
    return times


def _label_runs(
    cycle_numbers: np.ndarray, grades: np.ndarray, levels: np.ndarray
) -> list[tuple[int, int]]:
    """(first, last) row index of runs of consecutive cycles with the same grade and level."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(grades) + 1):
        if (
            i == len(grades)
            or grades[i] != grades[i - 1]
            or levels[i] != levels[i - 1]
            or cycle_numbers[i] != cycle_numbers[i - 1] + 1
        ):
            runs.append((start, i - 1))
            start = i
    return runs


def _range_warnings(profile: EquipmentProfile, data: UciDataset) -> list[str]:
    warnings = []
    for sensor_id, matrix in data.sensors.items():
        sensor = profile.sensor(sensor_id)
        with np.errstate(invalid="ignore"):
            outside = (matrix < sensor.min) | (matrix > sensor.max)
        n = int(np.count_nonzero(outside))
        if n:
            row, col = np.argwhere(outside)[0]
            warnings.append(
                f"{sensor_id}: {n} value(s) outside the physical range {sensor.min:g}..{sensor.max:g} "
                f"{sensor.unit} of the profile, first {matrix[row, col]:g} in cycle "
                f"{data.cycle_numbers[row]} sample {col + 1} (kept; check the sensor or the profile)"
            )
    return warnings


def ingest_uci(
    store: Store,
    folder: Path,
    *,
    equipment_id: str,
    profile: EquipmentProfile | None = None,
    force: bool = False,
    progress: Progress = NO_PROGRESS,
) -> ImportSummary:
    """Import a UCI-layout folder (or a .zip / .tar.xz of one) as measurements, cycles and
    condition labels in one transaction.

    The profile defaults to the equipment's (if it exists) or ``zema-test-rig``; every sensor of
    the profile needs its file. Re-importing an unchanged folder is a no-op unless ``force``,
    which replaces the earlier import. On any error nothing is written.
    """
    started = time.perf_counter()
    folder = Path(folder)
    con = store.con
    if equipment_exists(con, equipment_id):
        current = equipment_profile(con, equipment_id)
        if profile is not None and profile.id != current.id:
            # the same refusal ensure_equipment gives, before reading a single file
            ensure_equipment(con, equipment_id, profile)
        profile = profile or current
    if profile is None:
        from ingestion.profiles import load_profile

        profile = load_profile(DEFAULT_UCI_PROFILE)
    with uci_folder(folder) as files:  # a folder, or an archive of one unpacked for the read
        data = read_uci_folder(files, sensors=profile.sensor_ids)
        digest = folder_digest(files, data.sensors)
    with importing_source(
        store,
        equipment_id=equipment_id,
        kind="uci",
        uri=str(folder.resolve()),
        options={
            "epoch": str(UCI_EPOCH),
            "cycle_duration_s": data.cycle_duration_s,
            "rates_hz": data.rates_hz,
        },
        digest=digest,
        profile=profile,
        force=force,
    ) as source:
        if source.skipped is not None:
            return source.summary(elapsed_s=time.perf_counter() - started)
        warnings = [*source.notes, *data.warnings, *_range_warnings(source.profile, data)]
        _check_cycle_conflicts(source.con, equipment_id, data.cycle_numbers)
        starts = cycle_start_times(data.cycle_numbers, data.cycle_duration_s)
        ends = starts + np.timedelta64(round(data.cycle_duration_s * 1e6), "us")
        _insert_measurements(source, data, starts, progress)
        _insert_cycles(source, data, starts, ends)
        n_labels, label_warnings = _insert_labels(source, data, starts, ends)
        source.complete(rows=data.n_cycles, warnings=[*warnings, *label_warnings])
    return source.summary(
        sensors=list(data.sensors),
        cycles=data.n_cycles,
        labels=n_labels,
        elapsed_s=time.perf_counter() - started,
    )


def _insert_measurements(
    source: SourceImport, data: UciDataset, starts: np.ndarray, progress: Progress
) -> None:
    """Every sensor's samples at their time stamps, one Arrow batch per sensor."""
    progress.start(f"importing {data.path.name}", data.value_count, "values")
    done = 0
    for sensor_id, matrix in data.sensors.items():
        check_cancelled(progress)
        ts = _sample_times(starts, matrix.shape[1], data.rates_hz[sensor_id])
        flat = matrix.ravel()
        batch = pa.table(
            {
                "ts": pa.array(ts, type=pa.timestamp("us")),
                "value": pa.array(flat, mask=~np.isfinite(flat)),
            }
        )
        _append_measurements(source.con, batch, source.equipment_id, sensor_id, source.source_id)
        done += flat.size
        progress.update(done)
    progress.finish()


def _insert_cycles(
    source: SourceImport, data: UciDataset, starts: np.ndarray, ends: np.ndarray
) -> None:
    cycles = pa.table(
        {
            "cycle_no": pa.array(data.cycle_numbers.astype(np.int32)),
            "start_ts": pa.array(starts, type=pa.timestamp("us")),
            "end_ts": pa.array(ends, type=pa.timestamp("us")),
            "stable": pa.array(data.stable)
            if data.stable is not None
            else pa.nulls(data.n_cycles, pa.bool_()),
        }
    )
    source.con.register("_uci_cycles", cycles)
    try:
        source.con.execute(
            "INSERT INTO cycles (equipment_id, cycle_no, start_ts, end_ts, stable, source_id) "
            "SELECT ?, cycle_no, start_ts, end_ts, stable, ? FROM _uci_cycles",
            [source.equipment_id, source.source_id],
        )
    finally:
        source.con.unregister("_uci_cycles")


def _append_measurements(
    con: duckdb.DuckDBPyConnection,
    batch: pa.Table,
    equipment_id: str,
    sensor_id: str,
    source_id: int,
) -> None:
    con.register("_uci_batch", batch)
    try:
        con.execute(
            "INSERT INTO measurements_long (equipment_id, sensor_id, ts, value, source_id) "
            "SELECT ?, ?, ts, value, ? FROM _uci_batch",
            [equipment_id, sensor_id, source_id],
        )
    finally:
        con.unregister("_uci_batch")


def _check_cycle_conflicts(
    con: duckdb.DuckDBPyConnection, equipment_id: str, cycle_numbers: np.ndarray
) -> None:
    # fetchall: a result left unfinished would keep the Arrow batches from being registered
    (row,) = con.execute(
        "SELECT count(*), min(cycle_no), max(cycle_no), min(source_id) FROM cycles "
        "WHERE equipment_id = ? AND cycle_no IN (SELECT unnest(?))",
        [equipment_id, cycle_numbers.tolist()],
    ).fetchall()
    if row[0]:
        raise UciFormatError(
            f"equipment {equipment_id!r} already has {row[0]} of these cycles (numbers "
            f"{row[1]}..{row[2]}, from source #{row[3]}). Import into another --equipment, or "
            "use --force with the same folder to replace that import."
        )


def _insert_labels(
    source: SourceImport, data: UciDataset, starts: np.ndarray, ends: np.ndarray
) -> tuple[int, list[str]]:
    """One label range per run of cycles at the same level, per UCI target; (ranges, warnings)."""
    con, profile = source.con, source.profile
    if data.raw_labels is None:
        return 0, []
    warnings: list[str] = []
    grades = data.grades()
    comp: list[str] = []
    first_ts: list[np.datetime64] = []
    last_ts: list[np.datetime64] = []
    grade_col: list[int] = []
    fault: list[str | None] = []
    raw: list[str] = []
    for target in UCI_TARGETS:
        if target.component_id not in profile.component_ids:
            warnings.append(
                f"profile {profile.id!r} has no component {target.component_id!r}: "
                f"{target.name} labels not imported"
            )
            continue
        levels = data.raw_labels[:, target.column]
        g = grades[target.component_id]
        for a, b in _label_runs(data.cycle_numbers, g, levels):
            comp.append(target.component_id)
            first_ts.append(starts[a])
            last_ts.append(ends[b])
            grade_col.append(int(g[a]))
            fault.append(target.fault_type if g[a] > 0 else None)
            raw.append(f"{levels[a]:g}")
    table = pa.table(
        {
            "component_id": pa.array(comp, pa.string()),
            "start_ts": pa.array(np.array(first_ts, dtype="datetime64[us]"), pa.timestamp("us")),
            "end_ts": pa.array(np.array(last_ts, dtype="datetime64[us]"), pa.timestamp("us")),
            "grade": pa.array(grade_col, pa.int16()),
            "fault_type": pa.array(fault, pa.string()),
            "raw_value": pa.array(raw, pa.string()),
        }
    )
    con.register("_uci_labels", table)
    try:
        insert_labels(
            con,
            "_uci_labels",
            equipment_id=source.equipment_id,
            origin="dataset",
            source_id=source.source_id,
        )
    finally:
        con.unregister("_uci_labels")
    return table.num_rows, warnings
