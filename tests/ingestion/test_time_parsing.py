"""The one time module: clock changes read explicitly (a repeated hour by row order, a skipped
time refused with its line), epoch units by magnitude, and the line that breaks a format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import CsvOptions
from ingestion.errors import HydroDiagError
from ingestion.labels import LabelFileError, import_labels
from ingestion.profiles import load_profile
from ingestion.timestamps import clock_changes, detect_time_spec, localize_us
from ingestion.workspace import Store, open_workspace
from tests.ingestion.test_csv_ingest import snapshot

BERLIN = "Europe/Berlin"


def us(text: str) -> int:
    return int(np.datetime64(text, "us").astype(np.int64))


def iso(values: np.ndarray) -> list[str]:
    return [str(np.datetime64(int(v), "us").astype("datetime64[m]")) for v in values]


# the autumn log of the issue: 01:30 .. 02:59 summer time, the clocks go back, 02:00 .. 03:00
FALL = [
    "2026-10-25 01:30",
    "2026-10-25 02:00",
    "2026-10-25 02:30",
    "2026-10-25 02:59",
    "2026-10-25 02:00",
    "2026-10-25 02:30",
    "2026-10-25 03:00",
]
FALL_UTC = [
    "2026-10-24T23:30",
    "2026-10-25T00:00",
    "2026-10-25T00:30",
    "2026-10-25T00:59",
    "2026-10-25T01:00",
    "2026-10-25T01:30",
    "2026-10-25T02:00",
]


def test_repeated_hour_is_read_by_the_order_of_the_rows() -> None:
    result = localize_us(np.array([us(t) for t in FALL]), BERLIN)
    assert iso(result.utc_us) == FALL_UTC
    assert not result.skipped
    (note,) = result.notes
    assert "repeats when the clocks go back" in note
    assert "the 3 before the log jumps back read as UTC+02:00, the 2 after it as UTC+01:00" in note


def test_repeated_hour_without_a_jump_back_is_the_first_pass_and_says_so() -> None:
    result = localize_us(np.array([us("2026-10-25 02:10"), us("2026-10-25 02:20")]), BERLIN)
    assert iso(result.utc_us) == ["2026-10-25T00:10", "2026-10-25T00:20"]
    assert "never jumps back" in result.notes[0]


def test_skipped_spring_forward_times_are_listed() -> None:
    times = ["2026-03-29 01:59", "2026-03-29 02:00", "2026-03-29 02:59", "2026-03-29 03:00"]
    result = localize_us(np.array([us(t) for t in times]), BERLIN)
    assert [i for i, _ in result.skipped] == [1, 2]
    assert iso(result.utc_us)[0] == "2026-03-29T00:59" and iso(result.utc_us)[3] == (
        "2026-03-29T01:00"
    )


def test_clock_changes_are_exact_and_cheap_over_a_century() -> None:
    base, changes = clock_changes(BERLIN, us("2026-01-01"), us("2026-12-31"))
    assert base == 3600 * 10**6
    assert iso(np.array([c.utc_us for c in changes])) == ["2026-03-29T01:00", "2026-10-25T01:00"]
    _, many = clock_changes(BERLIN, us("1990-01-01"), us("2100-01-01"))
    assert len(many) == 220
    assert localize_us(np.array([us("2026-07-01 12:00")]), "Etc/GMT-1").utc_us[0] == us(
        "2026-07-01 11:00"
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_workspace(tmp_path / "ws.duckdb")


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_csv_import_across_the_autumn_change(store: Store, tmp_path: Path, layout: str) -> None:
    path = tmp_path / "fall.csv"
    if layout == "wide":
        path.write_text("time,PS1\n" + "".join(f"{t}:00,{k}\n" for k, t in enumerate(FALL)))
    else:
        path.write_text(
            "time,sensor,value\n" + "".join(f"{t}:00,PS1,{k}\n" for k, t in enumerate(FALL))
        )
    summary = ingest_csv(
        store,
        path,
        equipment_id="rig",
        profile=load_profile("zema-test-rig"),
        options=CsvOptions(tz=BERLIN),
    )
    stored = store.query("SELECT ts, value FROM measurements ORDER BY value")
    assert [str(ts)[:16].replace(" ", "T") for ts, _ in stored] == FALL_UTC
    assert any("repeats when the clocks go back" in w for w in summary.warnings)
    assert not any("out of order" in w or "duplicate" in w for w in summary.warnings)


def test_csv_import_refuses_a_time_the_clocks_skipped(store: Store, tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    seed = tmp_path / "seed.csv"
    seed.write_text("time,PS1\n2026-01-01T00:00:00,1\n")
    ingest_csv(store, seed, equipment_id="rig", profile=rig)
    before = snapshot(store)
    path = tmp_path / "spring.csv"
    path.write_text("time,PS1\n2026-03-29 01:59:00,1\n2026-03-29 02:30:00,2\n2026-03-29 03:00,3\n")
    with pytest.raises(HydroDiagError) as caught:
        ingest_csv(store, path, equipment_id="rig", options=CsvOptions(tz=BERLIN))
    message = str(caught.value)
    assert f"{path}, line 3, column 1 ('time'): '2026-03-29 02:30:00' does not exist" in message
    assert "Etc/GMT-1" in message
    assert snapshot(store) == before


def test_label_file_refuses_a_skipped_time_with_its_line(tmp_path: Path) -> None:
    store = open_workspace(tmp_path / "ws.duckdb")
    log = tmp_path / "log.csv"
    log.write_text("time,PS1\n" + "".join(f"2026-03-29T{h:02d}:00:00Z,{h}\n" for h in range(0, 23)))
    ingest_csv(store, log, equipment_id="rig", profile=load_profile("zema-test-rig"))
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "component,start,end,grade\nACC,2026-03-29 01:00,2026-03-29 02:30,1\n"
        "C1,2026-03-29 03:00,2026-03-29 04:00,0\n"
    )
    with pytest.raises(LabelFileError, match=r"line 2, column 'end'.*does not exist in Europe"):
        import_labels(store, labels, equipment_id="rig", tz=BERLIN)
    assert store.query("SELECT count(*) FROM labels") == [(0,)]


def test_epoch_units_are_told_apart_by_magnitude(store: Store, tmp_path: Path) -> None:
    spec = detect_time_spec(["1772431200", "1772431201000", "1772431202000000"])
    assert spec is not None and spec.epoch_unit == "auto"
    spec = detect_time_spec(["1772431200", "1772431201"])
    assert spec is not None and spec.epoch_unit == "s"
    path = tmp_path / "epoch.csv"
    path.write_text("time,PS1\n1772431200,1\n1772431201,2\n1772431202000,3\n1772431203000000,4\n")
    summary = ingest_csv(store, path, equipment_id="rig", profile=load_profile("zema-test-rig"))
    stored = [str(r[0]) for r in store.query("SELECT ts FROM measurements ORDER BY value")]
    assert stored == [f"2026-03-02 06:00:0{s}" for s in range(4)]
    assert any("mix epoch units" in w for w in summary.warnings)


def test_a_line_in_another_time_format_is_named(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "time,PS1\n2026-03-02T06:00:00,1\n2026-03-02T06:00:01,2\n02.03.2026 06:00:02,3\n"
        "2026-03-02T06:00:03,4\n"
    )
    with pytest.raises(HydroDiagError) as caught:
        ingest_csv(store, path, equipment_id="rig", profile=load_profile("zema-test-rig"))
    assert f"{path}, line 4, column 1 ('time'): '02.03.2026 06:00:02' is written differently" in (
        str(caught.value)
    )
    assert store.query("SELECT count(*) FROM sources") == [(0,)]


def test_unknown_zone_says_what_to_write(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("time,PS1\n2026-03-02 06:00:00,1\n")
    with pytest.raises(HydroDiagError, match="--tz 'Mars/Olympus' is not a time zone name"):
        ingest_csv(
            store,
            path,
            equipment_id="rig",
            profile=load_profile("zema-test-rig"),
            options=CsvOptions(tz="Mars/Olympus"),
        )
