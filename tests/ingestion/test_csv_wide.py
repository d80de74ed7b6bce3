"""Wide CSV imports land in one wide table per import; the ``measurements`` view and the window
queries see them as long rows, together with the long table (UCI, long CSV, live)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingestion import schema, wide
from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import CsvFormatError
from ingestion.digests import file_sha256
from ingestion.profiles import EquipmentProfile
from ingestion.queries import cycle_windows, equipment_time_range, sensor_series, sliding_windows
from ingestion.workspace import Store, open_workspace
from ingestion.workspace_info import workspace_info

WIDE = (
    "time,PS1,PS2,TS1\n"
    "2026-01-01T00:00:00,100,10,40\n"
    "2026-01-01T00:00:01,101,,41\n"
    "2026-01-01T00:00:02,NaN,12,42\n"
    "2026-01-01T00:00:03,103,13,900\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _view_sql(store: Store) -> str:
    return str(store.query("SELECT sql FROM duckdb_views() WHERE view_name = 'measurements'")[0][0])


def _user_tables(store: Store) -> list[str]:
    rows = store.query(
        "SELECT table_name FROM duckdb_tables() WHERE regexp_full_match(table_name, 'wide_[0-9]+')"
    )
    return sorted(r[0] for r in rows)


def test_wide_import_writes_one_table_and_the_view_shows_long_rows(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    summary = ingest_csv(store, _write(tmp_path, "a.csv", WIDE), equipment_id="rig", profile=rig)
    table = wide.table_name(summary.source_id)
    assert _user_tables(store) == [table]
    assert store.query(f"SELECT count(*) FROM {table}")[0][0] == 4  # one row per file line
    assert store.query("SELECT count(*) FROM measurements_long")[0][0] == 0
    registered = wide.wide_tables(store.con)
    assert [(w.source_id, w.equipment_id, w.columns) for w in registered] == [
        (summary.source_id, "rig", {"v0": "PS1", "v1": "PS2", "v2": "TS1"})
    ]
    rows = store.query(
        "SELECT sensor_id, ts::VARCHAR, value, source_id FROM measurements "
        "WHERE equipment_id = 'rig' ORDER BY sensor_id, ts"
    )
    # the empty PS2 cell is no row; NaN is a row with a NULL value (a gap), as in the long layout
    assert [(s, t[-2:], v) for s, t, v, _ in rows if s == "PS1"] == [
        ("PS1", "00", 100.0),
        ("PS1", "01", 101.0),
        ("PS1", "02", None),
        ("PS1", "03", 103.0),
    ]
    assert [t[-2:] for s, t, _, _ in rows if s == "PS2"] == ["00", "02", "03"]
    assert {r[3] for r in rows} == {summary.source_id}
    assert summary.values == 11 and summary.rows == 4
    assert any("NaN/inf" in w for w in summary.warnings)
    assert any("outside the physical range" in w for w in summary.warnings)
    info = workspace_info(store)
    counts = {s.sensor_id: (s.rows, s.non_null) for s in info.equipment[0].sensors}
    assert counts == {"PS1": (4, 3), "PS2": (3, 3), "TS1": (4, 4)}
    assert info.measurements == 11
    assert info.sources[0].value_count == 11 and info.sources[0].row_count == 4
    assert str(info.sources[0].first_ts).endswith("00:00:00")


def test_force_replaces_the_table_and_the_view(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = _write(tmp_path, "a.csv", WIDE)
    first = ingest_csv(store, path, equipment_id="rig", profile=rig)
    again = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert again.skipped and _user_tables(store) == [wide.table_name(first.source_id)]
    replaced = ingest_csv(store, path, equipment_id="rig", profile=rig, force=True)
    assert replaced.replaced_source_id == first.source_id
    assert _user_tables(store) == [wide.table_name(replaced.source_id)]
    assert [w.source_id for w in wide.wide_tables(store.con)] == [replaced.source_id]
    assert wide.table_name(first.source_id) not in _view_sql(store)
    assert store.query("SELECT count(*), min(source_id) FROM measurements")[0] == (
        11,
        replaced.source_id,
    )


@pytest.mark.parametrize(
    "text",
    [
        "time,PS1,PS2\n2026-01-01T00:00:00,1,2\n2026-01-01T00:00:01,x,2\n",  # non-numeric
        "time,PS1,PS2\n"  # unparseable time after what the sniffer samples
        + "".join(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d},1,2\n" for i in range(300))
        + "not a time,1,2\n",
        "time,PS1,PS2\n2026-01-01T00:00:00,1,2\n2026-01-01T00:00:01,1\n",  # ragged
        "time,PS1,PS2\n2026-01-01T00:00:00,,\n2026-01-01T00:00:01,,\n",  # every cell empty
    ],
)
def test_failed_wide_import_leaves_no_table_and_the_old_view(
    store: Store, tmp_path: Path, rig: EquipmentProfile, text: str
) -> None:
    seeded = ingest_csv(store, _write(tmp_path, "a.csv", WIDE), equipment_id="rig", profile=rig)
    view, tables = _view_sql(store), _user_tables(store)
    with pytest.raises(CsvFormatError):
        ingest_csv(store, _write(tmp_path, "bad.csv", text), equipment_id="rig", profile=rig)
    assert _view_sql(store) == view and _user_tables(store) == tables
    assert [w.source_id for w in wide.wide_tables(store.con)] == [seeded.source_id]
    assert store.query("SELECT count(*) FROM measurements")[0][0] == 11


def test_queries_merge_wide_and_long_rows(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    ingest_csv(store, _write(tmp_path, "a.csv", WIDE), equipment_id="rig", profile=rig)
    long = (
        "time,sensor,value\n"
        "2026-01-01T00:00:04,PS1,104\n"
        "2026-01-01T00:00:05,PS1,105\n"
        "2026-01-01T00:00:04,FS1,7\n"
    )
    ingest_csv(store, _write(tmp_path, "b.csv", long), equipment_id="rig", profile=rig)
    assert store.query("SELECT count(*) FROM measurements_long")[0][0] == 3
    ts, values = sensor_series(store, "rig", "PS1")
    assert (np.diff(ts) > 0).all() and ts.size == 6
    assert np.array_equal(values, [100, 101, np.nan, 103, 104, 105], equal_nan=True)
    ts, values = sensor_series(
        store, "rig", "PS1", start="2026-01-01T00:00:01", end="2026-01-01T00:00:04"
    )
    assert np.array_equal(values, [101, np.nan, 103], equal_nan=True)
    windows = sliding_windows(
        store,
        "rig",
        ["PS1", "FS1", "PS2"],
        start="2026-01-01",
        end="2026-01-01T00:00:06",
        length_s=3,
        stride_s=3,
    )
    assert np.array_equal(
        windows.values["PS1"], np.array([[100, 101, np.nan], [103, 104, 105]]), equal_nan=True
    )
    assert np.array_equal(windows.values["FS1"][1], [np.nan, 7, np.nan], equal_nan=True)
    assert np.array_equal(windows.values["PS2"][0], [10, np.nan, 12], equal_nan=True)
    first, last = equipment_time_range(store, "rig") or (None, None)
    assert str(first) == "2026-01-01T00:00:00.000000" and str(last) == "2026-01-01T00:00:05.000000"
    store.con.execute(
        "INSERT INTO cycles VALUES ('rig', 1, TIMESTAMP '2026-01-01 00:00:00', "
        "TIMESTAMP '2026-01-01 00:00:02', true, 1), ('rig', 2, TIMESTAMP '2026-01-01 00:00:03', "
        "TIMESTAMP '2026-01-01 00:00:05', true, 1)"
    )
    cycles = cycle_windows(store, "rig", ["PS1", "PS2"], rate_hz=1.0)
    assert np.array_equal(cycles.values["PS1"], [[100, 101], [103, 104]])
    assert np.array_equal(cycles.values["PS2"], [[10, np.nan], [13, np.nan]], equal_nan=True)


def test_equipment_and_sensor_text_never_reaches_sql_as_code(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    odd = "rig'); DROP TABLE sources; --"
    summary = ingest_csv(store, _write(tmp_path, "a.csv", WIDE), equipment_id=odd, profile=rig)
    assert _user_tables(store) == [f"wide_{summary.source_id}"]
    assert (
        store.query("SELECT count(*) FROM measurements WHERE equipment_id = ?", [odd])[0][0] == 11
    )
    assert sensor_series(store, odd, "TS1")[1].tolist() == [40, 41, 42, 900]
    assert store.query("SELECT count(*) FROM sources")[0][0] == 1


def test_v1_workspace_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute(schema.MIGRATIONS[0])
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute(
        "INSERT INTO measurements VALUES ('rig', 'PS1', TIMESTAMP '2026-01-01 00:00:00', 1.5, 1)"
    )
    con.close()
    with open_workspace(path) as store:
        assert store.schema_version == schema.SCHEMA_VERSION
        assert store.query("SELECT value FROM measurements")[0][0] == 1.5
        assert store.query("SELECT count(*) FROM measurements_long")[0][0] == 1


def test_digest_is_recorded_and_a_same_size_file_is_not_taken_for_a_reimport(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    # a file of a size no earlier import had is read while a thread hashes it
    path = _write(tmp_path, "a.csv", WIDE)
    first = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert first.sha256 == file_sha256(path)
    twin = _write(tmp_path, "b.csv", WIDE.replace("100,10,40", "109,10,40"))
    assert twin.stat().st_size == path.stat().st_size
    second = ingest_csv(store, twin, equipment_id="rig", profile=rig)
    assert not second.skipped and second.sha256 == file_sha256(twin)
    assert ingest_csv(store, twin, equipment_id="rig", profile=rig).skipped
    stored = store.query("SELECT id, sha256 FROM sources ORDER BY id")
    assert stored == [(first.source_id, first.sha256), (second.source_id, second.sha256)]


def test_failed_force_reimport_keeps_the_old_table_and_view(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    import io

    from ingestion.progress import CancelledError, TerminalProgress

    path = _write(tmp_path, "a.csv", WIDE)
    first = ingest_csv(store, path, equipment_id="rig", profile=rig)
    view, tables = _view_sql(store), _user_tables(store)
    progress = TerminalProgress(io.StringIO())
    progress.cancelled = True  # stops the re-import after the old source was deleted
    with pytest.raises(CancelledError):
        ingest_csv(store, path, equipment_id="rig", profile=rig, force=True, progress=progress)
    assert _view_sql(store) == view and _user_tables(store) == tables
    assert [w.source_id for w in wide.wide_tables(store.con)] == [first.source_id]
    assert store.query("SELECT count(*) FROM measurements")[0][0] == 11
