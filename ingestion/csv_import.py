"""Import data-logger and PLC CSV exports (wide or long) into the workspace's measurements.

:func:`ingest_csv` sniffs the file (:mod:`ingestion.csv_sniff`), then lets DuckDB's own CSV
reader load it once (:mod:`ingestion.csv_read`): a wide log straight into its own wide table
(see :mod:`ingestion.wide`; the ``measurements`` view shows it as long rows), a long log into a
temporary staging table whose sensor names are mapped before the rows go to the long table.
Checks (time stamps, NaN/inf, physical ranges, order) are a few vectorised queries, and all of
it is one transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import wide
from ingestion.catalog import (
    EQUIPMENT_LABEL,
    LOG_LABEL_ORIGIN,
    ImportSummary,
    SourceImport,
    equipment_exists,
    equipment_profile,
    importing_source,
    insert_labels,
)
from ingestion.csv_columns import column_lookup, match_sensor, split_header
from ingestion.csv_plan import ColumnPlan, CsvFormatError, CsvOptions, CsvPlan
from ingestion.csv_read import (
    column_types,
    diagnose_read_error,
    diagnose_time,
    line_of_row,
    localize_rows,
    read_csv_sql,
    time_error,
    time_expr,
)
from ingestion.csv_sniff import sniff_csv
from ingestion.csv_tail import whole_lines
from ingestion.digests import BackgroundHash
from ingestion.disk_space import disk_full_error, is_disk_full
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled, execute_with_progress
from ingestion.units import conversion
from ingestion.workspace import Store

_STAGE: Final = "_hydrodiag_csv_stage"
_ORDER_BATCH: Final = 1_000_000
_NAME_MAP: Final = "_hydrodiag_csv_names"


def ingest_csv(
    store: Store,
    path: Path,
    *,
    equipment_id: str,
    profile: EquipmentProfile | None = None,
    options: CsvOptions | None = None,
    force: bool = False,
    progress: Progress = NO_PROGRESS,
) -> ImportSummary:
    """Import a wide or long CSV log for ``equipment_id`` in one transaction.

    Raises :class:`CsvFormatError` (and friends) naming file, line and column; on any error
    the workspace is unchanged. Re-importing the same bytes is a no-op unless ``force``.
    """
    started = time.perf_counter()
    path = Path(path)
    options = options or CsvOptions()
    con = store.con
    if profile is None and equipment_exists(con, equipment_id):
        profile = equipment_profile(con, equipment_id)
    if profile is None:
        raise CsvFormatError(
            f"equipment {equipment_id!r} is new: say which machine it is with --profile "
            "(see `hydrodiag profile list`)."
        )
    # The file is hashed in a thread while it is read: only a file the size of an earlier
    # import can be a re-import, and only then does the import wait for its digest first.
    try:
        return _ingest(store, path, equipment_id, profile, options, force, progress, started)
    except duckdb.Error as exc:  # the transaction has rolled back
        if is_disk_full(exc):
            raise disk_full_error(store.path, path) from None
        raise


def _ingest(
    store: Store,
    path: Path,
    equipment_id: str,
    profile: EquipmentProfile,
    options: CsvOptions,
    force: bool,
    progress: Progress,
    started: float,
) -> ImportSummary:
    with BackgroundHash(path) as hasher:
        plan = sniff_csv(path, profile, options)
        with importing_source(
            store,
            equipment_id=equipment_id,
            kind="csv",
            uri=str(path.resolve()),
            options={**plan.options_json(), "bytes": path.stat().st_size},
            digest=hasher,
            profile=profile,
            force=force,
            progress=progress,
        ) as source:
            if source.skipped is not None:
                return source.summary(elapsed_s=time.perf_counter() - started)
            check_cancelled(progress)
            labels = 0
            if options.label_column and plan.layout != "wide":
                raise CsvFormatError(
                    f"{path}: --label-column works on wide logs (a column per sensor); "
                    "this one is long (a sensor-name column). Import its labels with "
                    "`hydrodiag ingest labels` instead."
                )
            with whole_lines(plan) as cut_notes:
                if plan.layout == "wide":
                    rows, sensors, warnings = _import_wide(source, plan, progress)
                    if options.label_column:
                        labels, label_warnings = _import_label_column(source, plan)
                        warnings += label_warnings
                else:
                    rows, sensors, warnings = _import_long(source, plan, options, progress)
            warnings = cut_notes + warnings
            progress.finish()
            source.complete(rows=rows, warnings=[*source.notes, *plan.notes, *warnings])
    return source.summary(sensors=sensors, elapsed_s=time.perf_counter() - started, labels=labels)


# Label texts read as "normal" (grade 0); anything else not empty is anomalous (grade 1) and
# keeps its text. Numbers: 0 is normal, any other number anomalous.
_NORMAL_LABELS: Final = frozenset(
    {"0", "false", "no", "normal", "ok", "none", "nominal", "healthy", "good", "n", "f"}
)


def _label_state(text: str) -> str | None:
    """None for an empty cell (unlabelled), "" for a normal label, else the anomalous text."""
    key = text.strip().casefold()
    if not key:
        return None
    try:
        return "" if float(key) == 0 else text.strip()
    except ValueError:
        return "" if key in _NORMAL_LABELS else text.strip()


def _import_label_column(source: SourceImport, plan: CsvPlan) -> tuple[int, list[str]]:
    """The ``--label-column`` as equipment-wide label ranges (``catalog.EQUIPMENT_LABEL``):
    each run of equal labels becomes one range [its first time stamp, the next run's first),
    grade 1 (anomalous, the text kept as ``raw_value``) or 0 (normal); empty cells are
    unlabelled. Returns (ranges, warnings)."""
    ref = str(plan.options.label_column)
    column = column_lookup(plan.path, plan.columns)(ref)
    table = source.con.sql(
        f"SELECT epoch_us({time_expr(plan)}) AS t, coalesce(trim({column.sql_name}), '') AS v "
        f"FROM {read_csv_sql(plan, column_types(plan))} ORDER BY t"
    ).to_arrow_table()
    ts = np.asarray(table.column("t").to_numpy(), dtype=np.int64)
    if not ts.size:
        return 0, []
    # a log has few distinct labels: classify each once, then work on their codes
    encoded = pc.dictionary_encode(table.column("v")).combine_chunks()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    words = [_label_state(str(w)) for w in encoded.dictionary.to_pylist()]
    step = int(np.median(np.diff(ts))) if ts.size > 1 else 1_000_000
    change = np.flatnonzero(np.diff(codes)) + 1
    firsts = np.concatenate(([0], change))
    lasts = np.concatenate((change, [ts.size]))
    starts: list[int] = []
    ends: list[int] = []
    grades: list[int] = []
    raws: list[str] = []
    for a, b in zip(firsts, lasts, strict=True):
        state = words[codes[a]]
        if state is None:
            continue
        if raws and b - a and a > 0 and words[codes[a - 1]] == state:  # same label, other text
            ends[-1] = int(ts[b]) if b < ts.size else int(ts[-1]) + max(step, 1)
            continue
        starts.append(int(ts[a]))
        ends.append(int(ts[b]) if b < ts.size else int(ts[-1]) + max(step, 1))
        grades.append(0 if state == "" else 1)
        raws.append(state or "normal")
    warnings = []
    blank = int(
        sum((lasts - firsts)[k] for k in range(len(firsts)) if words[codes[firsts[k]]] is None)
    )
    if blank:
        warnings.append(f"{column.label()}: {blank} empty label cell(s) left unlabelled")
    if not starts:
        return 0, [*warnings, f"{column.label()}: no labels in it"]
    table = pa.table(
        {
            "component_id": pa.array([EQUIPMENT_LABEL] * len(starts), pa.string()),
            "start_ts": pa.array(np.asarray(starts, dtype="datetime64[us]"), pa.timestamp("us")),
            "end_ts": pa.array(np.asarray(ends, dtype="datetime64[us]"), pa.timestamp("us")),
            "grade": pa.array(grades, pa.int16()),
            "fault_type": pa.array([None] * len(starts), pa.string()),
            "raw_value": pa.array(raws, pa.string()),
        }
    )
    source.con.register("_hydrodiag_log_labels", table)
    try:
        insert_labels(
            source.con,
            "_hydrodiag_log_labels",
            equipment_id=source.equipment_id,
            origin=LOG_LABEL_ORIGIN,
            source_id=source.source_id,
        )
    finally:
        source.con.unregister("_hydrodiag_log_labels")
    anomalous = sum(grades)
    warnings.append(
        f"{column.label()}: imported as labels, {anomalous} anomalous and "
        f"{len(grades) - anomalous} normal range(s)"
    )
    return len(starts), warnings


def _import_long(
    source: SourceImport, plan: CsvPlan, options: CsvOptions, progress: Progress
) -> tuple[int, list[str], list[str]]:
    """Long tables go through a staging table: names must be mapped before the insert."""
    con, profile = source.con, source.profile
    types = column_types(plan)
    keep = [c for c in plan.columns if c.role in {"sensor_name", "value_long", "unit_long"}]
    select = ", ".join([f"{time_expr(plan)} AS __ts"] + [c.sql_name for c in keep])
    progress.start(f"reading {plan.path.name}", _estimate_rows(plan), "rows")
    try:
        execute_with_progress(
            con,
            f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT {select} "
            f"FROM {read_csv_sql(plan, types)}",
            [],
            progress,
            _estimate_rows(plan),
        )
    except duckdb.Error as exc:
        if is_disk_full(exc):
            raise
        raise diagnose_read_error(plan, types, exc) from None
    try:
        rows, sensors, warnings = _check_stage(con, plan, profile, options)
        warnings = localize_rows(con, plan, _STAGE, "__ts") + warnings
        check_cancelled(progress)
        _insert_long(con, plan, source.equipment_id, source.source_id)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        con.execute(f"DROP TABLE IF EXISTS {_NAME_MAP}")
    progress.finish()
    return rows, sensors, warnings


def _estimate_rows(plan: CsvPlan) -> int:
    """Data rows in the file, estimated from its size and the sampled lines' mean length."""
    size = plan.path.stat().st_size
    return max(1, int(size / max(plan.mean_line_bytes, 1.0)))


def _wide_columns(plan: CsvPlan) -> dict[str, str]:
    """Column -> sensor of the wide table: ``v<k>`` by position, never the header text."""
    return {f"v{k}": str(c.sensor) for k, c in enumerate(plan.value_columns())}


def _wide_sql(plan: CsvPlan, table: str) -> tuple[str, str]:
    """(CREATE TABLE, INSERT ... SELECT FROM read_csv) of a wide import."""
    values = plan.value_columns()
    columns = ", ".join(f"v{k} DOUBLE" for k in range(len(values)))
    converted = ", ".join(
        (
            c.sql_name
            if (c.scale, c.offset) == (1.0, 0.0)
            else f"{c.sql_name} * {c.scale!r} + {c.offset!r}"
        )
        for c in values
    )
    source = read_csv_sql(plan, column_types(plan))
    # One pass, rows as they are in the file: an empty cell stays NULL (no sample), NaN/inf are
    # kept and read as gaps through the measurements view. A row whose time stamp does not
    # parse gives a NULL ts, which the NOT NULL constraint refuses.
    return (
        f"CREATE TABLE {table} (ts TIMESTAMP NOT NULL, {columns})",
        f"INSERT INTO {table} SELECT {time_expr(plan)}, {converted} FROM {source}",
    )


def _import_wide(
    source: SourceImport, plan: CsvPlan, progress: Progress
) -> tuple[int, list[str], list[str]]:
    """A wide log straight into its own wide table, in one pass of DuckDB's reader."""
    con, profile = source.con, source.profile
    estimate = _estimate_rows(plan)
    progress.start(f"importing {plan.path.name}", estimate, "rows")
    table = wide.table_name(source.source_id)
    create, insert = _wide_sql(plan, table)
    con.execute(create)
    try:
        execute_with_progress(con, insert, [], progress, estimate)
    except duckdb.ConstraintException:
        raise diagnose_time(plan) from None
    except duckdb.Error as exc:
        if is_disk_full(exc):
            raise
        raise diagnose_read_error(plan, column_types(plan), exc) from None
    progress.finish()
    zone_notes = localize_rows(con, plan, table, "ts")
    rows, sensors, warnings = _check_wide(con, plan, profile, table)
    wide.register(con, source.source_id, source.equipment_id, _wide_columns(plan))
    return rows, sensors, zone_notes + warnings


def _fmt_ts(value: Any) -> str:
    return f"{value} UTC" if value is not None else "?"


def _check_wide(
    con: duckdb.DuckDBPyConnection, plan: CsvPlan, profile: EquipmentProfile, table: str
) -> tuple[int, list[str], list[str]]:
    """NaN/inf, physical ranges and time order, checked on the rows just written.

    A first pass takes count, min and max of every column (cheap: no per-row expression);
    NaN sorts above every number in DuckDB, so only columns whose min or max is not a finite
    value inside the sensor's range get the second pass that counts and locates the offenders.
    """
    values = plan.value_columns()
    limits = [profile.sensor(str(c.sensor)) for c in values]
    first = con.execute(
        "SELECT count(*), "
        + ", ".join(f"count(v{k}), min(v{k}), max(v{k})" for k in range(len(values)))
        + f" FROM {table}"
    ).fetchone()
    assert first is not None
    total = int(first[0])
    counts = [int(first[1 + 3 * k]) for k in range(len(values))]
    if not any(counts):
        raise CsvFormatError(
            f"{plan.path}: every value cell is empty: nothing to import. Check the delimiter "
            "and the column mapping (--dry-run shows them)."
        )
    suspect = [
        k
        for k, s in enumerate(limits)
        if counts[k]
        and not (
            np.isfinite(first[2 + 3 * k])
            and np.isfinite(first[3 + 3 * k])
            and s.min <= first[2 + 3 * k]
            and first[3 + 3 * k] <= s.max
        )
    ]
    details: dict[int, tuple[Any, ...]] = {}
    if suspect:
        parts = []
        for k in suspect:
            v, s = f"v{k}", limits[k]
            outside = f"isfinite({v}) AND ({v} < {s.min!r} OR {v} > {s.max!r})"
            parts.append(
                f"count_if(NOT isfinite({v})), count_if({outside}), "
                f"min(ts) FILTER (WHERE NOT isfinite({v})), min(ts) FILTER (WHERE {outside})"
            )
        row = con.execute(f"SELECT {', '.join(parts)} FROM {table}").fetchone()
        assert row is not None
        details = {k: tuple(row[4 * i : 4 * i + 4]) for i, k in enumerate(suspect)}
    warnings: list[str] = []
    for k, (c, s) in enumerate(zip(values, limits, strict=True)):
        nonfinite, outside_n, first_nan, first_out = details.get(k, (0, 0, None, None))
        if counts[k] == 0:
            warnings.append(f"{c.label()} -> {c.sensor}: every cell is empty")
        if nonfinite:
            warnings.append(
                f"{c.label()} -> {c.sensor}: {nonfinite} NaN/inf value(s) kept as gaps "
                f"(first at {_fmt_ts(first_nan)})"
            )
        if outside_n:
            warnings.append(
                f"{c.label()} -> {c.sensor}: {outside_n} value(s) outside the physical range "
                f"{s.min:g}..{s.max:g} {s.unit} (first at {_fmt_ts(first_out)}); kept and "
                "flagged - check the sensor, its unit or the profile"
            )
    # Order and duplicates, on the most complete column in file order (insertion order).
    fullest = max(range(len(values)), key=lambda k: counts[k])
    where = "" if counts[fullest] == total else f"v{fullest} IS NOT NULL"
    order = _time_order(con, table, where)
    if order.backwards:
        at, before = (
            np.datetime64(order.first_back[1], "us"),
            np.datetime64(order.first_back[0], "us"),
        )
        warnings.append(
            f"{order.backwards} time stamp(s) out of order (first: {at} after {before}); "
            "imported sorted"
        )
        _resort_table(con, table)
        row = con.execute(
            f"SELECT count(ts) - count(DISTINCT ts) FROM {table} WHERE {where or 'true'}"
        ).fetchone()
        dups = int(row[0]) if row else 0
    else:
        dups = order.repeats
    if dups:
        warnings.append(f"{dups} duplicate time stamp(s); all rows kept (windows average them)")
    return order.rows, [c.sensor for c in values if c.sensor], warnings


@dataclass
class _Order:
    rows: int = 0
    backwards: int = 0  # steps back in time
    repeats: int = 0  # steps of zero
    first_back: tuple[int, int] = (0, 0)  # (µs before, µs after) of the first step back


def _time_order(con: duckdb.DuckDBPyConnection, table: str, where: str) -> _Order:
    """Count the steps back and the repeats of ``table.ts`` in insertion order, a million rows
    (by row id) at a time, so a week of 100 Hz stamps never sits in memory at once."""
    out = _Order()
    last: int | None = None
    span = con.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()
    if span is None or span[0] is None:
        return out
    for lo in range(int(span[0]), int(span[1]) + 1, _ORDER_BATCH):
        rows = f"rowid >= {lo} AND rowid < {lo + _ORDER_BATCH}"
        result = con.execute(
            f"SELECT epoch_us(ts) AS t FROM {table} WHERE {rows}"
            + (f" AND {where}" if where else "")
        ).fetchnumpy()
        ts = np.asarray(result["t"], dtype=np.int64)
        if ts.size == 0:
            continue
        before = ts[:-1] if last is None else np.concatenate(([last], ts[:-1]))
        after = ts[1:] if last is None else ts
        steps = after - before
        back = np.flatnonzero(steps < 0)
        if back.size and not out.backwards:
            out.first_back = (int(before[back[0]]), int(after[back[0]]))
        out.backwards += int(back.size)
        out.repeats += int(np.count_nonzero(steps == 0))
        out.rows += int(ts.size)
        last = int(ts[-1])
    return out


def _resort_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Rewrite a wide table in time order: rare, only for out-of-order logs."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} AS SELECT * FROM {table} ORDER BY ts")
    try:
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM {_STAGE}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")


def _check_stage(
    con: duckdb.DuckDBPyConnection,
    plan: CsvPlan,
    profile: EquipmentProfile,
    options: CsvOptions,
) -> tuple[int, list[str], list[str]]:
    """Time stamps, order, NaN/inf and physical ranges, each in one vectorised pass."""
    warnings: list[str] = []
    row = con.execute(f"SELECT count(*), count_if(__ts IS NULL) FROM {_STAGE}").fetchone()
    assert row is not None
    rows, bad_ts = int(row[0]), int(row[1])
    if rows == 0:
        raise CsvFormatError(f"{plan.path}: no data rows after the header. Nothing to import.")
    if bad_ts:
        raise time_error(plan, _first_row(con, "__ts IS NULL"), bad_ts)
    sensors, long_warnings = _plan_long_names(con, plan, profile, options)
    return rows, sensors, warnings + long_warnings


def _first_row(con: duckdb.DuckDBPyConnection, condition: str) -> int:
    """0-based data-row index of the first staged row meeting ``condition``.

    Row ids of a table created in an open transaction start at a large offset, so they are
    taken relative to the smallest one (the CTAS writes rows in file order).
    """
    row = con.execute(
        f"SELECT min(rowid) - (SELECT min(rowid) FROM {_STAGE}) FROM {_STAGE} WHERE {condition}"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _plan_long_names(
    con: duckdb.DuckDBPyConnection,
    plan: CsvPlan,
    profile: EquipmentProfile,
    options: CsvOptions,
) -> tuple[list[str], list[str]]:
    """Map each distinct (name, unit) of a long table to a sensor and conversion."""
    name_col = next(c for c in plan.columns if c.role == "sensor_name")
    value_col = next(c for c in plan.columns if c.role == "value_long")
    unit_col = next((c for c in plan.columns if c.role == "unit_long"), None)
    unit_sql = unit_col.sql_name if unit_col else "NULL::VARCHAR"
    pairs = con.execute(
        f"SELECT {name_col.sql_name} AS n, {unit_sql} AS u, count(*) AS k, "
        f"min(rowid) - (SELECT min(rowid) FROM {_STAGE}) AS r "
        f"FROM {_STAGE} GROUP BY ALL ORDER BY r"
    ).fetchall()
    maps = {k.casefold(): v for k, v in options.maps.items()}
    names: list[str | None] = []
    units: list[str | None] = []
    sensors: list[str] = []
    scales: list[float] = []
    offsets: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    unknown: list[tuple[str, int, int]] = []
    for name, unit, count, first_row in pairs:
        text = (name or "").strip()
        mapped = maps.get(text.casefold())
        sensor_id = mapped.sensor if mapped else match_sensor(split_header(text)[0], profile)
        if sensor_id is None or sensor_id not in profile.sensor_ids:
            unknown.append((text, int(count), int(first_row)))
            continue
        sensor = profile.sensor(sensor_id)
        stated = (mapped.unit if mapped and mapped.unit else None) or unit or split_header(text)[1]
        scale, offset = (
            conversion(stated, sensor.unit, where=f"{plan.path}: sensor {text!r}")
            if stated
            else (1.0, 0.0)
        )
        names.append(name)
        units.append(unit)
        sensors.append(sensor_id)
        scales.append(scale)
        offsets.append(offset)
        lows.append(sensor.min)
        highs.append(sensor.max)
    warnings: list[str] = []
    if unknown and not options.ignore_unknown:
        listed = "\n".join(
            f"  - {n!r}: {k} row(s), first on line {line_of_row(plan, r)[0]}"
            for n, k, r in unknown[:10]
        )
        raise CsvFormatError(
            f"{plan.path}: {len(unknown)} sensor name(s) in {name_col.label()} match no sensor of "
            f"profile {profile.id!r} ({', '.join(profile.sensor_ids)}):\n{listed}\n"
            "Map them with --map 'NAME=SENSOR[:UNIT]' or drop them with --ignore-unknown."
        )
    if unknown:
        warnings.append(
            f"ignored {sum(k for _, k, _ in unknown)} row(s) of unknown sensor name(s) "
            + ", ".join(repr(n) for n, _, _ in unknown[:10])
        )
    if not sensors:
        raise CsvFormatError(f"{plan.path}: no sensor name matches profile {profile.id!r}.")
    table = pa.table(
        {
            "n": pa.array(names, pa.string()),
            "u": pa.array(units, pa.string()),
            "sensor_id": pa.array(sensors, pa.string()),
            "scale": pa.array(scales, pa.float64()),
            "offset": pa.array(offsets, pa.float64()),
            "lo": pa.array(lows, pa.float64()),
            "hi": pa.array(highs, pa.float64()),
        }
    )
    con.register("_hydrodiag_names_arrow", table)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_NAME_MAP} AS SELECT * FROM _hydrodiag_names_arrow"
        )
    finally:
        con.unregister("_hydrodiag_names_arrow")
    join = _long_join(name_col, unit_col)
    stats = con.execute(
        f"SELECT m.sensor_id, count_if(NOT isfinite(s.{value_col.sql_name})), "
        f"count_if(isfinite(s.{value_col.sql_name}) AND (s.{value_col.sql_name} * m.scale + m.offset "
        f"NOT BETWEEN m.lo AND m.hi)), min(m.lo), min(m.hi) FROM {_STAGE} s {join} GROUP BY ALL ORDER BY 1"
    ).fetchall()
    for sensor_id, nonfinite, outside, lo, hi in stats:
        if nonfinite:
            warnings.append(f"{sensor_id}: {nonfinite} NaN/inf value(s) kept as gaps")
        if outside:
            warnings.append(
                f"{sensor_id}: {outside} value(s) outside the physical range {lo:g}..{hi:g} "
                f"{profile.sensor(sensor_id).unit}; kept and flagged"
            )
    return sorted(set(sensors)), warnings


def _long_join(name_col: ColumnPlan, unit_col: ColumnPlan | None) -> str:
    cond = f"m.n = s.{name_col.sql_name}"
    if unit_col is not None:
        cond += f" AND m.u IS NOT DISTINCT FROM s.{unit_col.sql_name}"
    return f"JOIN {_NAME_MAP} m ON {cond}"


def _insert_long(
    con: duckdb.DuckDBPyConnection, plan: CsvPlan, equipment_id: str, source_id: int
) -> None:
    name_col = next(c for c in plan.columns if c.role == "sensor_name")
    value_col = next(c for c in plan.columns if c.role == "value_long")
    unit_col = next((c for c in plan.columns if c.role == "unit_long"), None)
    v = f"s.{value_col.sql_name} * m.scale + m.offset"
    con.execute(
        "INSERT INTO measurements_long (equipment_id, sensor_id, ts, value, source_id) "
        f"SELECT ?, m.sensor_id, s.__ts, CASE WHEN isfinite({v}) THEN {v} END, ? "
        f"FROM {_STAGE} s {_long_join(name_col, unit_col)} "
        f"WHERE s.{value_col.sql_name} IS NOT NULL ORDER BY m.sensor_id, s.__ts",
        [equipment_id, source_id],
    )
