"""Label import from CSV: the round trip into `labels` and the window queries, every bad input
(error names line and column, the workspace stays as it was), re-import, and the CLI."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.cli import main
from ingestion.csv_import import ingest_csv
from ingestion.labels import LabelFileError, import_labels, known_fault_types
from ingestion.profiles import ComponentType, load_profile
from ingestion.queries import cycle_labels, sliding_windows
from ingestion.uci import UCI_TARGETS
from ingestion.workspace import Store, open_workspace

HEADER = "component,start,end,grade,fault_type,raw_value\n"


def _log(path: Path) -> Path:
    """Two sensors at 1 Hz from 2026-03-03 08:00 to 08:20 UTC."""
    lines = ["time,PS1,TS1"]
    t0 = np.datetime64("2026-03-03T08:00:00", "s")
    for i in range(1200):
        lines.append(f"{t0 + np.timedelta64(i, 's')},{100 + i % 7},{40 + i % 3}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws.duckdb"
    with open_workspace(path) as store:
        ingest_csv(
            store,
            _log(tmp_path / "log.csv"),
            equipment_id="rig",
            profile=load_profile("zema-test-rig"),
        )
    return path


@pytest.fixture
def store(workspace: Path) -> Any:
    with open_workspace(workspace) as s:
        yield s


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def snapshot(store: Store) -> tuple[Any, ...]:
    return (
        store.query(
            "SELECT count(*), sum(hash(component_id, start_ts, end_ts, grade)) FROM labels"
        ),
        store.query("SELECT count(*), list(kind ORDER BY id) FROM sources"),
        store.query("SELECT count(*) FROM duckdb_tables() WHERE temporary"),
    )


def labels(store: Store) -> list[tuple[Any, ...]]:
    return store.query(
        "SELECT component_id, start_ts, end_ts, grade, fault_type, raw_value, origin, "
        "source_id, inspection_id FROM labels ORDER BY id"
    )


def grades_at(store: Store, start: str, end: str) -> dict[str, list[int]]:
    w = sliding_windows(store, "rig", ["PS1"], start=start, end=end, length_s=60, stride_s=60)
    return {c: g.tolist() for c, g in cycle_labels(store, "rig", w).items()}


# --- the good path ----------------------------------------------------------------------------


def test_round_trip_semicolon_bom_any_case_and_order(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "acc.csv",
        "\ufeffGrade ; Component;START;End;Note;Raw_Value;fault_type\n"
        "2;ACC;2026-03-03T08:05:00;2026-03-03 08:10;precharge measured;100,5;"
        "accumulator_precharge_loss\n"
        "\n"
        "0;MP1;2026-03-03T08:00:00Z;2026-03-03T09:20:00+01:00;;;\n"
        "1;ACC;2026-03-03 08:10:00;2026-03-03T08:15:00;;115;accumulator_precharge_loss\n",
    )
    summary = import_labels(store, path, equipment_id="rig")
    assert summary.rows == 3 and summary.origin == "file"
    assert summary.components == {"ACC": 2, "MP1": 1} and summary.grades == {2: 1, 0: 1, 1: 1}
    assert summary.first_ts == datetime(2026, 3, 3, 8, 0) and summary.last_ts == datetime(
        2026, 3, 3, 8, 20
    )
    assert summary.warnings == [] and "3 label ranges" in summary.describe()
    src = summary.source_id
    assert labels(store) == [
        (
            "ACC",
            datetime(2026, 3, 3, 8, 5),
            datetime(2026, 3, 3, 8, 10),
            2,
            "accumulator_precharge_loss",
            "100,5",
            "file",
            src,
            None,
        ),
        # +01:00 and Z are converted to naive UTC like every stored time stamp
        (
            "MP1",
            datetime(2026, 3, 3, 8),
            datetime(2026, 3, 3, 8, 20),
            0,
            None,
            None,
            "file",
            src,
            None,
        ),
        (
            "ACC",
            datetime(2026, 3, 3, 8, 10),
            datetime(2026, 3, 3, 8, 15),
            1,
            "accumulator_precharge_loss",
            "115",
            "file",
            src,
            None,
        ),
    ]
    row = store.query(
        "SELECT kind, uri, sha256, row_count, status FROM sources WHERE id = ?", [src]
    )
    assert row[0][:2] == ("labels", str(path.resolve())) and row[0][3:] == (3, "complete")
    assert len(row[0][2]) == 64
    # minute windows 08:00..08:20: a window takes the label that contains its midpoint
    grades = grades_at(store, "2026-03-03T08:00", "2026-03-03T08:20")
    assert grades["ACC"] == [-1] * 5 + [2] * 5 + [1] * 5 + [-1] * 5
    assert grades["MP1"] == [0] * 20


def test_header_spelling_and_trailing_delimiters(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "excel.csv",
        "Component;Start;End;Grade;Fault Type;raw-value;;\n"
        "V10;2026-03-03 08:00;2026-03-03 08:05;1;valve_switching_lag;90 %;;\n",
    )
    summary = import_labels(store, path, equipment_id="rig")
    assert summary.warnings == []
    assert labels(store)[0][3:6] == (1, "valve_switching_lag", "90 %")


def test_comma_space_iso_and_tz(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "l.csv", HEADER + "C1,2026-03-03 09:02,2026-03-03 09:04,3,,3 %\n")
    summary = import_labels(store, path, equipment_id="rig", tz="Europe/Berlin")  # UTC+1 in March
    assert labels(store)[0][:4] == ("C1", datetime(2026, 3, 3, 8, 2), datetime(2026, 3, 3, 8, 4), 3)
    assert grades_at(store, "2026-03-03T08:00", "2026-03-03T08:05")["C1"] == [-1, -1, 3, 3, -1]
    assert summary.warnings == []


def test_inspection_origin(store: Store, tmp_path: Path) -> None:
    store.query(
        "INSERT INTO inspections (id, equipment_id, started_at) VALUES "
        "(7, 'rig', '2026-03-03 08:00'), (8, 'other', '2026-03-03 08:00')"
    )
    path = write(tmp_path, "l.csv", HEADER + "V10,2026-03-03T08:00,2026-03-03T08:10,1,,\n")
    before = snapshot(store)
    with pytest.raises(LabelFileError, match=r"inspection #8 belongs to equipment 'other'.*: 7"):
        import_labels(store, path, equipment_id="rig", inspection_id=8)
    with pytest.raises(LabelFileError, match=r"inspection #9 does not exist"):
        import_labels(store, path, equipment_id="rig", inspection_id=9)
    assert snapshot(store) == before
    summary = import_labels(store, path, equipment_id="rig", inspection_id=7)
    assert summary.origin == "inspection" and "inspection #7" in summary.describe()
    assert labels(store)[0][6:] == ("inspection", summary.source_id, 7)
    assert store.query("SELECT inspection_id FROM sources WHERE kind = 'labels'") == [(7,)]


def test_later_label_wins_where_ranges_overlap(store: Store, tmp_path: Path) -> None:
    a = write(tmp_path, "a.csv", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,,\n")
    b = write(tmp_path, "b.csv", HEADER + "ACC,2026-03-03T08:04,2026-03-03T08:06,3,,\n")
    import_labels(store, a, equipment_id="rig")
    summary = import_labels(store, b, equipment_id="rig")
    assert any("overlap 1 existing label(s) of origin file" in w for w in summary.warnings)
    assert (
        grades_at(store, "2026-03-03T08:00", "2026-03-03T08:10")["ACC"]
        == [1] * 4 + [3] * 2 + [1] * 4
    )


def test_warnings_fault_types_and_data_range(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "l.csv",
        HEADER.replace("\n", ",remarks\n")
        + "ACC,2026-03-03T08:00,2026-03-03T08:05,0,accumulator_precharge_loss,130,ok\n"
        + "ACC,2026-03-03T08:05,2026-03-03T08:10,2,accumulator_bladder_tear,,\n"
        + "MP1,2026-03-03T08:00,2026-03-03T08:10,2,accumulator_precharge_loss,,\n"
        + "F1,2026-03-04T08:00,2026-03-04T08:10,1,filter_clogging,,\n"
        + "ACC,2026-03-03T08:10,2026-03-03T08:15,3,accumulator_precharge_loss,,\n",
    )
    summary = import_labels(store, path, equipment_id="rig")
    text = "\n".join(summary.warnings)
    assert "column 'remarks' is not a label column" in text
    assert "grade 0 (optimal) rows with a fault type on line 2" in text
    assert "'accumulator_bladder_tear' (line 3) is new" in text
    assert "'filter_clogging' (line 5) is new" in text
    assert "belongs to a accumulator, but MP1 is a pump (line 4)" in text
    assert (
        "ACC now has labels with fault types accumulator_bladder_tear, accumulator_precharge_loss"
        in text
    )
    assert (
        "1 range(s) (line 5) lie outside the equipment's measurements "
        "(2026-03-03 08:00:00 .. 2026-03-03 08:19:59 UTC)" in text
    )
    # the grade-0 row's fault type is not stored; the others are as written
    assert [r[4] for r in labels(store)] == [
        None,
        "accumulator_bladder_tear",
        "accumulator_precharge_loss",
        "filter_clogging",
        "accumulator_precharge_loss",
    ]


def test_known_fault_types_follow_the_uci_mapping() -> None:
    known = known_fault_types()
    assert set(known) == {t.fault_type for t in UCI_TARGETS}
    assert known["accumulator_precharge_loss"] is ComponentType.ACCUMULATOR
    assert known["pump_internal_leakage"] is ComponentType.PUMP


# --- bad input: the error names line and column, nothing is written ---------------------------

BAD: list[tuple[str, str | bytes, list[str]]] = [
    ("unknown component", HEADER + "ACX,2026-03-03T08:00,2026-03-03T08:10,1,,\n",
     ["line 2, column 'component'", "'ACX'", "did you mean 'ACC'", "MP1 (Main pump MP1)"]),
    ("grade out of range", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,4,,\n",
     ["line 2, column 'grade'", "'4' is not a grade", "3 near failure"]),
    ("grade not whole", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1.5,,\n",
     ["line 2, column 'grade'", "'1.5'"]),
    ("end before start", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,,\n"
     "MP1,2026-03-03T08:10,2026-03-03T08:10,1,,\n",
     ["line 3, column 'end'", "is not after start"]),
    ("not a time", HEADER + "ACC,yesterday,2026-03-03T08:10,1,,\n",
     ["line 2, column 'start'", "'yesterday' is not a time stamp", "ISO 8601"]),
    ("impossible date", HEADER + "ACC,2026-03-03T08:00,2026-02-30T08:10,1,,\n",
     ["line 2, column 'end'", "'2026-02-30T08:10' is not a valid time"]),
    ("missing column", "component,start,end,fault_type\nACC,2026-03-03T08:00,2026-03-03T08:10,x\n",
     ["line 1", "lacks the column(s) grade", "component,start,end,grade"]),
    ("empty file", "\n\n", ["the file is empty", "component,start,end,grade"]),
    ("header only", HEADER, ["only a header (line 1), no label rows"]),
    ("overlap in file", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,,\n"
     "MP1,2026-03-03T08:00,2026-03-03T08:10,1,,\n"
     "ACC,2026-03-03T08:09,2026-03-03T08:20,2,,\n",
     ["line 4: the ACC range 2026-03-03T08:09 .. 2026-03-03T08:20 overlaps the one on line 2 "
      "(2026-03-03T08:00 .. 2026-03-03T08:10)"]),
    ("bad fault type", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,Precharge Loss,\n",
     ["line 2, column 'fault_type'", "snake_case"]),
    ("ragged row", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10\n",
     ["line 2: 3 field(s) but the header (line 1) has 6"]),
    ("empty required cell", HEADER + "ACC,,2026-03-03T08:10,1,,\n",
     ["line 2, column 'start': empty"]),
    ("not utf-8", (HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,,Stör\n").encode("latin-1"),
     ["line 2 is not UTF-8", "CSV UTF-8"]),
    ("mixed time formats", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,,\n"
     "MP1,03.03.2026 08:00,junk,1,,\n",
     ["line 3, column 'start'", "written differently from '2026-03-03T08:00'",
      "line 3, column 'end': 'junk'"]),
    ("duplicate header", "component,start,end,grade,Grade\n", ["column 'Grade' appears twice"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input(store: Store, tmp_path: Path, text: str | bytes, expected: list[str]) -> None:
    path = write(tmp_path, "bad.csv", text)
    before = snapshot(store)
    with pytest.raises(LabelFileError) as info:
        import_labels(store, path, equipment_id="rig")
    message = str(info.value)
    assert str(path.resolve()) in message
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert snapshot(store) == before


def test_every_problem_reported_at_once(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        HEADER
        + "ACC,2026-03-03T08:00,2026-03-03T08:10,7,,\n"
        + "XX,2026-03-03T08:00,2026-03-03T08:10,9,,\n"  # two problems in one row: both listed
        + "MP1,2026-03-03T08:00,2026-03-03T08:00,1,,\n"
        + "V10,2026-03-03T08:30,2026-03-03T10:00,1,,\n"
        + "V10,2026-03-03T08:00,2026-03-03T09:00,1,,\n",
    )
    with pytest.raises(
        LabelFileError,
        match=r"(?s)5 problems.*line 2, column 'grade'.*line 3, column 'grade'.*"
        r"line 3, column 'component'.*"
        r"line 4, column 'end'.*line 6: the V10 range .* overlaps the one on line 5",
    ):
        import_labels(store, path, equipment_id="rig")


def test_unknown_equipment(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "l.csv", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,,\n")
    before = snapshot(store)
    with pytest.raises(LabelFileError, match=r"no equipment 'exc-07'.*known: rig.*data first"):
        import_labels(store, path, equipment_id="exc-07")
    with pytest.raises(LabelFileError, match=r"'Mars/Olympus' is not a time zone"):
        import_labels(store, path, equipment_id="rig", tz="Mars/Olympus")
    assert snapshot(store) == before


# --- re-import --------------------------------------------------------------------------------


def test_reimport_refused_then_replaced(store: Store, tmp_path: Path) -> None:
    body = (
        HEADER
        + "ACC,2026-03-03T08:00,2026-03-03T08:10,1,,\nMP1,2026-03-03T08:00,2026-03-03T08:10,2,,\n"
    )
    path = write(tmp_path, "l.csv", body)
    first = import_labels(store, path, equipment_id="rig")
    before = snapshot(store)
    with pytest.raises(LabelFileError, match=rf"already imported .* source #{first.source_id} .*"
                       r"the same bytes.*--replace"):  # fmt: skip
        import_labels(store, path, equipment_id="rig")
    # edited in place: still refused, and the message says it changed
    write(tmp_path, "l.csv", body.replace(",2,,", ",3,,"))
    with pytest.raises(LabelFileError, match=r"the file has changed since"):
        import_labels(store, path, equipment_id="rig")
    assert snapshot(store) == before
    second = import_labels(store, path, equipment_id="rig", replace=True)
    assert second.replaced_source_ids == [first.source_id]
    assert "replaced the labels of source #" in second.describe()
    assert [(r[0], r[3], r[7]) for r in labels(store)] == [
        ("ACC", 1, second.source_id),
        ("MP1", 3, second.source_id),
    ]
    assert store.query("SELECT count(*) FROM sources WHERE kind = 'labels'") == [(1,)]
    # the same ranges in another file would be silent duplicates
    other = write(
        tmp_path,
        "copy.csv",
        body.replace(",2,,", ",3,,") + "C1,2026-03-03T08:00,2026-03-03T08:01,0,,\n",
    )
    with pytest.raises(LabelFileError, match=r"line 2: the ACC range .* already labelled .*"
                       rf"source #{second.source_id}\) \(and 1 more"):  # fmt: skip
        import_labels(store, other, equipment_id="rig")
    assert store.query("SELECT count(*) FROM labels") == [(2,)]


# --- CLI --------------------------------------------------------------------------------------


def test_cli(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "l.csv",
        "component;start;end;grade;note\nACC;2026-03-03T08:00;2026-03-03T08:10;2;precharge 100 bar\n",
    )
    argv = ["--workspace", str(workspace), "ingest", "labels", str(path), "--equipment", "rig"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "imported 1 label range from" in out and "components: ACC 1" in out
    assert main(argv) == 1
    assert "--replace" in capsys.readouterr().err
    assert main([*argv, "--replace"]) == 0
    assert "replaced the labels of source" in capsys.readouterr().out
    assert main(["--workspace", str(workspace), "workspace", "info"]) == 0
    info = capsys.readouterr().out
    assert "labels ACC" in info and "(file; grade 2: 1)" in info and "labels complete" in info
    bad = write(tmp_path, "bad.csv", HEADER + "ACC,2026-03-03T08:00,2026-03-03T08:10,9,,\n")
    assert main([*argv[:4], str(bad), "--equipment", "rig"]) == 1
    assert "line 2, column 'grade'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ingest", "labels", "--help"])
    assert "component,start,end,grade" in capsys.readouterr().out
