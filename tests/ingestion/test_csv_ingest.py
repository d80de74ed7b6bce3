"""CSV import: the logger dialects we detect, unit conversion, re-import, and every bad input.

Each bad-input test checks the error text (file, line/column/field, what to do) AND that the
workspace is exactly as before.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import ColumnMap, CsvFormatError, CsvOptions, parse_map
from ingestion.csv_sniff import sniff_csv
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile, load_profile
from ingestion.queries import sensor_series
from ingestion.workspace import Store, open_workspace

RIG = "zema-test-rig"


@pytest.fixture
def rig() -> EquipmentProfile:
    return load_profile(RIG)


@pytest.fixture
def store(tmp_path: Path, rig: EquipmentProfile) -> Store:
    """A workspace that already holds one import, so 'unchanged' is a real check."""
    ws = open_workspace(tmp_path / "ws.duckdb")
    seed = tmp_path / "seed.csv"
    seed.write_text("time,PS1,TS1\n2026-01-01T00:00:00,100,40\n2026-01-01T00:00:01,101,41\n")
    ingest_csv(ws, seed, equipment_id="rig", profile=rig)
    return ws


def snapshot(store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in ("equipment", "profiles", "sources", "measurements", "cycles", "labels"):
        out[table] = store.query(f"SELECT count(*) FROM {table}")[0][0]
    out["m_hash"] = store.query(
        "SELECT sum(hash(sensor_id, ts, value, source_id)) FROM measurements"
    )[0][0]
    out["temp"] = store.query("SELECT count(*) FROM duckdb_tables() WHERE temporary")[0][0]
    # wide imports: their tables, the registry and the view over them must be as before too
    out["tables"] = store.query("SELECT list(table_name ORDER BY table_name) FROM duckdb_tables()")
    out["wide"] = store.query("SELECT list(source_id ORDER BY source_id) FROM wide_tables")
    out["view"] = store.query("SELECT sql FROM duckdb_views() WHERE view_name = 'measurements'")
    return out


def series(store: Store, sensor: str, equipment: str = "rig") -> tuple[list[str], list[float]]:
    ts, values = sensor_series(store, equipment, sensor)
    stamps = [str(np.datetime64(int(t), "ns").astype("datetime64[ms]")) for t in ts]
    return stamps, values.tolist()


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- dialects ---------------------------------------------------------------------------------


def test_wide_iso_comma(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(
        tmp_path,
        "a.csv",
        "timestamp,PS1,PS2,TS1\n"
        "2026-03-02T06:00:00.000,150.5,10,45\n"
        "2026-03-02T06:00:00.010,150.6,,45.1\n",
    )
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert summary.rows == 2 and summary.values == 5  # the empty PS2 cell is no sample
    assert summary.sensors == ["PS1", "PS2", "TS1"]
    stamps, values = series(store, "PS1")
    assert stamps[-2:] == ["2026-03-02T06:00:00.000", "2026-03-02T06:00:00.010"]
    assert values[-2:] == [150.5, 150.6]
    assert series(store, "PS2")[1][-1] == 10


def test_german_logger_export(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    """Preamble, ';', decimal comma, Latin-1 '°', separate date and time columns, US units."""
    path = write(
        tmp_path,
        "de.csv",
        "Messgerät: HX-200 SN 4711\nExport: 02.03.2026\n\n"
        "Datum;Zeit;Druck PS1 [psi];TS1 [°F];FS1 [gpm]\n"
        "02.03.2026;06:00:00,0;2175,5;122,0;5,2\n"
        "02.03.2026;06:00:00,5;2176,0;122,5;5,3\n",
        encoding="latin-1",
    )
    plan = sniff_csv(path, rig)
    assert (plan.encoding, plan.delimiter, plan.decimal) == ("latin-1", ";", ",")
    assert plan.header_line == 4 and plan.data_start_line == 5
    assert [c.header for c in plan.time_columns()] == ["Datum", "Zeit"]
    ingest_csv(store, path, equipment_id="rig", profile=rig)
    stamps, ps1 = series(store, "PS1")
    assert stamps[-1] == "2026-03-02T06:00:00.500"
    assert ps1[-1] == pytest.approx(2176.0 * 0.0689475729, rel=1e-6)
    assert series(store, "TS1")[1][-2] == pytest.approx(50.0)
    assert series(store, "FS1")[1][-2] == pytest.approx(5.2 * 3.785411784)


def test_bom_tab_epoch_ms_and_tz_ignored(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(
        tmp_path,
        "b.tsv",
        "\ufeffepoch_ms\tPS1 (bar)\tVS1\n1772431200000\t150\t1.5\n1772431200100\t151\t1.6\n",
    )
    plan = sniff_csv(path, rig, CsvOptions(tz="Europe/Berlin"))
    assert plan.delimiter == "\t" and plan.time_spec.description == "epoch ms"
    ingest_csv(store, path, equipment_id="rig", profile=rig, options=CsvOptions(tz="Europe/Berlin"))
    assert series(store, "PS1")[0][-2:] == ["2026-03-02T06:00:00.000", "2026-03-02T06:00:00.100"]


def test_local_time_with_tz(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(tmp_path, "tz.csv", "Zeit;PS1\n02.07.2026 08:00:00;150\n02.07.2026 08:00:01;151\n")
    ingest_csv(store, path, equipment_id="rig", profile=rig, options=CsvOptions(tz="Europe/Berlin"))
    assert series(store, "PS1")[0][-2] == "2026-07-02T06:00:00.000"  # CEST = UTC+2


def test_iso_offsets_are_honoured(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(
        tmp_path, "o.csv", "time,PS1\n2026-03-02T07:00:00+01:00,1\n2026-03-02T06:00:01Z,2\n"
    )
    ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert series(store, "PS1")[0][-2:] == ["2026-03-02T06:00:00.000", "2026-03-02T06:00:01.000"]


def test_us_dates_psi_fahrenheit(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(
        tmp_path,
        "us.csv",
        "Date Time,Pump Pressure PS1 psi,Tank Temp TS1 degF\n"
        "03/02/2026 06:00:00,1000,212\n03/02/2026 06:00:01,1001,213\n03/13/2026 06:00:02,1002,214\n",
    )
    ingest_csv(store, path, equipment_id="rig", profile=rig)
    stamps, values = series(store, "TS1")
    assert stamps[-3] == "2026-03-02T06:00:00.000" and values[-3] == pytest.approx(100.0)
    assert series(store, "PS1")[1][-3] == pytest.approx(68.9475729, rel=1e-6)


def test_units_row_and_kpa(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(tmp_path, "u.csv", "time,PS1,PS2\n,[kPa],[MPa]\n2026-03-02 06:00:00,1500,15\n")
    plan = sniff_csv(path, rig)
    assert plan.units_line == 2 and plan.data_start_line == 3
    ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert series(store, "PS1")[1][-1] == pytest.approx(15.0)
    assert series(store, "PS2")[1][-1] == pytest.approx(150.0)


def test_no_header_map_by_position(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(tmp_path, "n.csv", "1772431200,5.5,7\n1772431201,5.6,8\n")
    options = CsvOptions(maps={"2": ColumnMap(sensor="FS1"), "column 3": ColumnMap(sensor="FS2")})
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig, options=options)
    assert summary.sensors == ["FS1", "FS2"]
    assert series(store, "FS2")[1] == [7.0, 8.0]


def test_map_with_unit_skip_and_ignore_unknown(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(
        tmp_path,
        "m.csv",
        "time,P_main,Operator,Flow\n2026-03-02T06:00:00,2000,anna,1\n2026-03-02T06:00:01,2001,anna,2\n",
    )
    column, target = parse_map("P_main=PS1:psi")
    options = CsvOptions(maps={column: target}, skip=("Operator",), ignore_unknown=True)
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig, options=options)
    assert summary.sensors == ["PS1"]
    assert series(store, "PS1")[1][-1] == pytest.approx(2001 * 0.0689475729, rel=1e-6)


def test_long_layout_with_units(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(
        tmp_path,
        "long.csv",
        "timestamp;channel;value;unit\n"
        "2026-03-02 06:00:00;PS1;2175,5;psi\n"
        "2026-03-02 06:00:00;TS1;50;°C\n"
        "2026-03-02 06:00:01;PS1;150;bar\n"
        "2026-03-02 06:00:01;TS1;nan;°C\n",
    )
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert summary.sensors == ["PS1", "TS1"] and summary.values == 4
    ps1 = series(store, "PS1")[1][-2:]
    assert ps1[0] == pytest.approx(150.0, rel=1e-3) and ps1[1] == 150.0
    assert np.isnan(series(store, "TS1")[1][-1])
    assert any("NaN/inf" in w for w in summary.warnings)


def test_long_layout_unknown_names(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(
        tmp_path,
        "l.csv",
        "time,sensor,value\n2026-03-02 06:00:00,XX9,1\n2026-03-02 06:00:00,PS1,2\n",
    )
    before = snapshot(store)
    with pytest.raises(CsvFormatError) as info:
        ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert "'XX9': 1 row(s), first on line 2" in str(info.value) and "--map" in str(info.value)
    assert snapshot(store) == before
    summary = ingest_csv(
        store, path, equipment_id="rig", profile=rig, options=CsvOptions(ignore_unknown=True)
    )
    assert summary.values == 1


def test_relative_seconds_need_start(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(tmp_path, "r.csv", "t [s],PS1\n0.0,1\n0.5,2\n")
    before = snapshot(store)
    with pytest.raises(HydroDiagError, match="--start"):
        ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert snapshot(store) == before
    start = datetime(2026, 3, 2, 6, 0, 0)
    ingest_csv(store, path, equipment_id="rig", profile=rig, options=CsvOptions(start=start))
    assert series(store, "PS1")[0][-1] == "2026-03-02T06:00:00.500"


def test_reimport_is_a_noop_and_force_replaces(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(tmp_path, "a.csv", "time,PS1\n2026-03-02T06:00:00,1\n2026-03-02T06:00:01,2\n")
    first = ingest_csv(store, path, equipment_id="rig", profile=rig)
    before = snapshot(store)
    again = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert again.skipped and again.source_id == first.source_id
    assert "already imported" in again.describe() and "--force" in again.describe()
    assert snapshot(store) == before
    forced = ingest_csv(store, path, equipment_id="rig", profile=rig, force=True)
    assert forced.replaced_source_id == first.source_id and forced.source_id != first.source_id
    after = snapshot(store)
    assert after["measurements"] == before["measurements"] and after["sources"] == before["sources"]


def test_duplicate_and_out_of_order_are_sorted_and_reported(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(
        tmp_path,
        "o.csv",
        "time,PS1\n2026-03-02T06:00:02,3\n2026-03-02T06:00:00,1\n2026-03-02T06:00:00,1.5\n",
    )
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    text = " ".join(summary.warnings)
    assert (
        "1 time stamp(s) out of order (first: 2026-03-02T06:00:00.000000 after "
        "2026-03-02T06:00:02.000000); imported sorted"
    ) in text
    assert "1 duplicate time stamp(s)" in text
    stamps, values = series(store, "PS1")
    assert stamps[-3:] == sorted(stamps[-3:]) and values[-1] == 3.0


def test_nan_inf_and_out_of_range_are_kept_and_flagged(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(
        tmp_path,
        "x.csv",
        "time,PS1,TS1\n2026-03-02T06:00:00,nan,40\n2026-03-02T06:00:01,inf,400\n2026-03-02T06:00:02,1,41\n",
    )
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    text = "\n".join(summary.warnings)
    assert "PS1: 2 NaN/inf value(s) kept as gaps (first at 2026-03-02 06:00:00 UTC)" in text
    assert (
        "TS1: 1 value(s) outside the physical range -20..120 °C (first at 2026-03-02 06:00:01 UTC)"
    ) in text
    _, ps1 = series(store, "PS1")
    assert np.isnan(ps1[-3]) and np.isnan(ps1[-2]) and ps1[-1] == 1.0
    assert series(store, "TS1")[1][-2] == 400.0


def test_utf16_tab_decimal_comma(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("time\tPS1 [bar]\tTS1 [°C]\n2026-03-02 06:00:00\t150,5\t40\n".encode("utf-16"))
    plan = sniff_csv(path, rig)
    assert (plan.encoding, plan.delimiter, plan.decimal) == ("utf-16", "\t", ",")
    ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert series(store, "PS1")[1][-1] == 150.5


def test_am_pm_reads_month_first_and_says_so(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(
        tmp_path,
        "ampm.csv",
        "Date/Time;FS1 [gpm];PS2 [MPa]\n3/2/2026 6:00:00 AM;5,2;15,1\n3/2/2026 6:00:01 PM;5,3;15,2\n",
    )
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert series(store, "PS2")[0][-2:] == ["2026-03-02T06:00:00.000", "2026-03-02T18:00:01.000"]
    assert any("mm/dd/yyyy (assumed" in w for w in summary.warnings)


def test_wincc_style_long_export(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(
        tmp_path,
        "wincc.csv",
        "VarName;TimeString;VarValue;Validity;Time_ms\n"
        "PS1;02.03.2026 06:00:00;150,5;1;46083250000\n"
        "TS1;02.03.2026 06:00:00;40;1;46083250000\n"
        "PS1;02.03.2026 06:00:01;151;1;46083250011\n",
    )
    plan = sniff_csv(path, rig)
    assert plan.layout == "long" and [c.header for c in plan.time_columns()] == ["TimeString"]
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert summary.sensors == ["PS1", "TS1"] and summary.values == 3
    assert series(store, "PS1")[1][-2:] == [150.5, 151.0]


def test_excel_sep_line_and_trailing_delimiter(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(
        tmp_path,
        "excel.csv",
        "sep=;\nZeit;PS1;TS1;\n02.03.2026 06:00:00;1,5;40;\n02.03.2026 06:00:01;2;41;\n",
    )
    plan = sniff_csv(path, rig)
    assert plan.delimiter == ";" and plan.header_line == 2 and plan.data_start_line == 3
    assert plan.columns[3].role == "skipped"
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert summary.sensors == ["PS1", "TS1"] and summary.values == 4


def test_cancel_leaves_workspace_unchanged(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    from ingestion.progress import CancelledError, TerminalProgress

    path = write(tmp_path, "a.csv", "time,PS1\n2026-03-02T06:00:00,1\n")
    progress = TerminalProgress(io.StringIO())
    progress.cancelled = True
    before = snapshot(store)
    with pytest.raises(CancelledError):
        ingest_csv(store, path, equipment_id="rig", profile=rig, progress=progress)
    assert snapshot(store) == before


# --- bad input: error text + workspace unchanged ----------------------------------------------


def _fails(store: Store, path: Path, rig: EquipmentProfile, **options: Any) -> str:
    before = snapshot(store)
    with pytest.raises(HydroDiagError) as info:
        ingest_csv(store, path, equipment_id="rig", profile=rig, options=CsvOptions(**options))
    assert snapshot(store) == before, "a failed import changed the workspace"
    text = str(info.value)
    assert str(path) in text or path.name in text
    return text


def test_empty_file(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    assert "the file is empty" in _fails(store, write(tmp_path, "e.csv", ""), rig)
    assert "the file is empty" in _fails(store, write(tmp_path, "e2.csv", "\n \n"), rig)


def test_header_only(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    text = _fails(store, write(tmp_path, "h.csv", "time,PS1,PS2\n"), rig)
    assert "only a header" in text and "line 1" in text


def test_ragged_rows(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    body = "time,PS1,PS2\n" + "".join(f"2026-03-02T06:00:{i:02d},1,2\n" for i in range(10))
    body += "2026-03-02T06:00:10,1\n"
    text = _fails(store, write(tmp_path, "r.csv", body), rig)
    assert "line 12: 2 field(s) but the table has 3 (header on line 1)" in text


def test_non_numeric_cell(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    body = "time;PS1;PS2\n" + "".join(f"2026-03-02T06:00:{i:02d};1,5;2\n" for i in range(5))
    body += "2026-03-02T06:00:05;1,5;offline\n"
    text = _fails(store, write(tmp_path, "n.csv", body), rig)
    assert "line 7, column 3 ('PS2'): 'offline' is not a number" in text
    assert "decimal comma" in text


def test_missing_timestamp(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    body = "time,PS1\n2026-03-02T06:00:00,1\n,2\n2026-03-02T06:00:02,3\n"
    text = _fails(store, write(tmp_path, "m.csv", body), rig)
    assert "line 3, column 1 ('time'): no time stamp (empty cell)" in text


def test_unparseable_timestamp(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    body = "Zeit;PS1\n02.03.2026 06:00:00;1\n02.03.2026 06:00:01;1\n31.02.2026 25:00:00;2\n"
    text = _fails(store, write(tmp_path, "t.csv", body), rig)
    assert "line 4" in text and "'31.02.2026 25:00:00' is not a time stamp" in text
    assert "--time-format" in text


def test_no_time_column(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    text = _fails(store, write(tmp_path, "nt.csv", "PS1,PS2\n1,2\n3,4\n"), rig)
    assert "no time stamp column" in text and "--time-column" in text


def test_unknown_columns(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    body = "time,PS1,Presure 2,Operator\n2026-03-02T06:00:00,1,2,x\n"
    text = _fails(store, write(tmp_path, "u.csv", body), rig)
    assert "2 column(s) match no sensor" in text
    assert "column 3 ('Presure 2')" in text and "column 4 ('Operator')" in text
    assert "--map" in text and "--skip" in text and "--ignore-unknown" in text


def test_two_columns_one_sensor(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    body = "time,PS1 [bar],PS1 raw\n2026-03-02T06:00:00,1,2\n"
    text = _fails(store, write(tmp_path, "d.csv", body), rig)
    assert "several columns match the same sensor" in text and "PS1" in text


def test_bad_units(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = write(tmp_path, "u.csv", "time,PS1 [furlongs],TS1\n2026-03-02T06:00:00,1,2\n")
    text = _fails(store, path, rig)
    assert "column 2 ('PS1 [furlongs]')" in text and "unknown unit 'furlongs'" in text
    path2 = write(tmp_path, "u2.csv", "time,PS1,TS1\n2026-03-02T06:00:00,1,2\n")
    text = _fails(store, path2, rig, maps={"TS1": ColumnMap(sensor="TS1", unit="psi")})
    assert "'psi' (pressure) cannot be converted to '°C' (temperature)" in text


def test_binary_file(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)
    text = _fails(store, path, rig)
    assert "binary file" in text and "Excel .xlsx workbook" in text
    assert "b'" not in text and "\\x" not in text  # words, not raw bytes
    raw = tmp_path / "logger.dat"
    raw.write_bytes(b"\rp\xeb\x01\x02\x03" * 200)
    text = _fails(store, raw, rig)
    assert "looks like binary data (no known file type" in text and "b'" not in text


def test_unknown_sensor_in_map_and_bad_tz(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = write(tmp_path, "a.csv", "time,X\n2026-03-02T06:00:00,1\n")
    before = snapshot(store)
    with pytest.raises(CsvFormatError, match="has no sensor 'NOPE'"):
        ingest_csv(
            store,
            path,
            equipment_id="rig",
            profile=rig,
            options=CsvOptions(maps={"X": ColumnMap(sensor="NOPE")}),
        )
    with pytest.raises(HydroDiagError, match="not a time zone name"):
        ingest_csv(
            store, path, equipment_id="rig", profile=rig, options=CsvOptions(tz="Mars/Olympus")
        )
    with pytest.raises(CsvFormatError, match="COLUMN=SENSOR"):
        parse_map("PS1")
    assert snapshot(store) == before


def test_new_equipment_needs_profile(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "time,PS1\n2026-03-02T06:00:00,1\n")
    with pytest.raises(HydroDiagError, match="--profile"):
        ingest_csv(store, path, equipment_id="new-machine")
