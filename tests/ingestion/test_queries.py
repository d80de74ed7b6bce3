"""The window API: cycle and sliding windows, labels per window and raw series, on real DuckDB files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ingestion.queries import (
    QueryError,
    cycle_labels,
    cycle_windows,
    equipment_time_range,
    sensor_series,
    sliding_windows,
)
from ingestion.uci import UCI_EPOCH, UCI_SENSORS, read_uci_folder
from ingestion.uci_import import ingest_uci
from ingestion.workspace import Store, open_workspace
from tests.ingestion.test_uci_read import write_uci_folder


@pytest.fixture
def store(tmp_path: Path) -> Store:
    folder = write_uci_folder(
        tmp_path / "uci", samples={"PS1": 6000, "FS1": 600}, cycles=[7, 8, 20, 21]
    )
    ws = open_workspace(tmp_path / "ws.duckdb")
    ingest_uci(ws, folder, equipment_id="rig")
    return ws


def _expected(sensor_index: int, cycle_row: int, width: int, rate_hz: float) -> np.ndarray:
    """Mean per bucket of the synthetic value s*1000 + row + j/width (see write_uci_folder)."""
    per_bucket = round(width / 60 / rate_hz)
    j = np.arange(width).reshape(-1, per_bucket)
    return sensor_index * 1000 + cycle_row + (j / width).mean(axis=1)


def test_cycle_windows_resample_every_rate(store: Store) -> None:
    windows = cycle_windows(store, "rig", ["PS1", "FS1", "TS1"], rate_hz=1.0)
    assert windows.count == 4 and windows.length == 60 and windows.rate_hz == 1.0
    assert windows.cycle_numbers is not None
    assert windows.cycle_numbers.tolist() == [7, 8, 20, 21]
    assert windows.starts[0] == UCI_EPOCH + np.timedelta64(6 * 60, "s")
    assert (windows.ends - windows.starts == np.timedelta64(60, "s")).all()
    for sensor, width in (("PS1", 6000), ("FS1", 600), ("TS1", 60)):
        values = windows.values[sensor]
        assert values.dtype == np.float32 and values.shape == (4, 60)
        index = UCI_SENSORS.index(sensor)
        for row in range(4):
            np.testing.assert_allclose(values[row], _expected(index, row, width, 1.0), rtol=1e-6)


def test_cycle_windows_at_10_hz_keep_nan_where_slower(store: Store) -> None:
    windows = cycle_windows(store, "rig", ["PS1", "TS1", "NOPE"], rate_hz=10.0)
    assert windows.length == 600
    np.testing.assert_allclose(windows.values["PS1"][1], _expected(0, 1, 6000, 10.0), rtol=1e-6)
    ts1 = windows.values["TS1"]
    assert np.isfinite(ts1[:, ::10]).all() and np.isnan(ts1[:, 1::10]).all()
    assert np.isnan(windows.values["NOPE"]).all() and windows.values["NOPE"].shape == (4, 600)


def test_cycle_windows_filters(store: Store) -> None:
    picked = cycle_windows(store, "rig", ["PS2"], cycles=(8, 20))
    assert picked.cycle_numbers is not None and picked.cycle_numbers.tolist() == [8, 20]
    by_time = cycle_windows(
        store, "rig", ["PS2"], start=UCI_EPOCH + np.timedelta64(7 * 60, "s"), end="2015-01-01T00:19"
    )
    assert by_time.cycle_numbers is not None and by_time.cycle_numbers.tolist() == [8]
    none = cycle_windows(store, "rig", ["PS2"], cycles=(100, 200))
    assert none.count == 0 and none.values["PS2"].shape[0] == 0
    assert cycle_windows(store, "other", ["PS2"]).count == 0


def test_labels_per_window(store: Store) -> None:
    windows = cycle_windows(store, "rig", ["PS1"])
    labels = cycle_labels(store, "rig", windows)
    assert set(labels) == {"C1", "V10", "MP1", "ACC"}
    assert labels["V10"].tolist() == [0, 1, 2, 3]
    assert labels["C1"].tolist() == [3, 2, 0, 0]
    assert labels["MP1"].tolist() == [0, 1, 2, 2]


def test_sliding_windows_over_a_gap(store: Store) -> None:
    start = UCI_EPOCH + np.timedelta64(6 * 60, "s")  # cycle 7
    windows = sliding_windows(
        store,
        "rig",
        ["PS1", "TS2"],
        start=start,
        end=start + np.timedelta64(15 * 60, "s"),  # up to the end of cycle 21
        length_s=120,
        stride_s=60,
        rate_hz=1.0,
    )
    assert windows.count == 14 and windows.length == 120 and windows.cycle_numbers is None
    ts2 = windows.values["TS2"]
    index = UCI_SENSORS.index("TS2")
    np.testing.assert_allclose(ts2[0, :60], _expected(index, 0, 60, 1.0), rtol=1e-6)
    np.testing.assert_allclose(ts2[0, 60:], _expected(index, 1, 60, 1.0), rtol=1e-6)
    assert np.isnan(ts2[2]).all()  # cycles 9-10 were never recorded
    labels = cycle_labels(store, "rig", windows)
    assert labels["V10"][0] == 1  # midpoint of [cycle 7, cycle 8] is the start of cycle 8
    assert labels["V10"][2] == -1
    np.testing.assert_allclose(
        windows.values["PS1"][-1, 60:], _expected(0, 3, 6000, 1.0), rtol=1e-6
    )


def test_sliding_window_arguments_are_checked(store: Store) -> None:
    with pytest.raises(QueryError, match="whole number of samples"):
        sliding_windows(store, "rig", ["PS1"], start=UCI_EPOCH, end="2015-01-02", length_s=1.5)
    with pytest.raises(QueryError, match="positive"):
        cycle_windows(store, "rig", ["PS1"], rate_hz=0)
    with pytest.raises(QueryError, match="no sensors"):
        cycle_windows(store, "rig", [])
    with pytest.raises(QueryError, match="as a time"):
        sliding_windows(store, "rig", ["PS1"], start="yesterday", end="2015-01-02")
    empty = sliding_windows(store, "rig", ["PS1"], start=UCI_EPOCH, end=UCI_EPOCH)
    assert empty.count == 0 and empty.values["PS1"].shape == (0, 60)


def test_sensor_series(store: Store) -> None:
    ts, values = sensor_series(store, "rig", "FS1")
    assert ts.dtype == np.int64 and values.dtype == np.float64 and ts.size == 4 * 600
    assert (np.diff(ts) > 0).all()
    assert ts[1] - ts[0] == 100_000_000  # 10 Hz in ns
    part_ts, _ = sensor_series(
        store, "rig", "FS1", start="2015-01-01T00:07", end="2015-01-01T00:07:01"
    )
    assert part_ts.size == 10
    first, last = equipment_time_range(store, "rig") or (None, None)
    assert first == UCI_EPOCH + np.timedelta64(6 * 60, "s")
    assert last is not None and last < UCI_EPOCH + np.timedelta64(21 * 60, "s")
    assert equipment_time_range(store, "other") is None


def test_real_data_windows_round_trip_and_speed(uci_dir: Path, tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "ws.duckdb")
    ingest_uci(ws, uci_dir, equipment_id="rig")
    cycle_windows(ws, "rig", UCI_SENSORS)  # warm the file cache
    started = time.perf_counter()
    windows = cycle_windows(ws, "rig", UCI_SENSORS, rate_hz=1.0)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0  # ~0.3 s measured on this machine; slack for a loaded CI runner
    data = read_uci_folder(uci_dir)
    assert windows.count == 1805
    for sensor in UCI_SENSORS:
        np.testing.assert_allclose(windows.values[sensor], data.sensors[sensor], rtol=1e-6)
    labels = cycle_labels(ws, "rig", windows)
    for component, grades in data.grades().items():
        np.testing.assert_array_equal(labels[component], grades)
