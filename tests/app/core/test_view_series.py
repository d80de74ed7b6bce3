"""What the Sensors view reads: a screen's width of points from the pyramid for long ranges,
the exact samples when zoomed in, and a break in the curve where the log has a gap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.view_series import data_span_s, envelope, load_view_series
from ingestion.csv_import import ingest_csv
from ingestion.profiles import load_profile
from ingestion.pyramid import Buckets
from ingestion.workspace import Store, open_workspace

T0_S = 1_767_600_000  # 2026-01-05 00:00:00 UTC
RATE = 10


def _log(path: Path, start_s: int, seconds: int) -> Path:
    """PS1 = the sample index from ``start_s`` on (a ramp), TS1 = 40 + a sawtooth."""
    i = np.arange(seconds * RATE)
    ts = np.datetime64(start_s, "s") + (i * (1000 // RATE)).astype("timedelta64[ms]")
    lines = ["time,PS1,TS1"] + [f"{t},{k},{40 + k % 50}" for t, k in zip(ts, i, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = open_workspace(tmp_path / "ws.duckdb")
    rig = load_profile("zema-test-rig")
    ingest_csv(store, _log(tmp_path / "a.csv", T0_S, 3600), equipment_id="rig", profile=rig)
    return store


def test_an_hour_is_a_screen_width_of_points_with_its_ends_and_extremes(store: Store) -> None:
    view = load_view_series(store, "rig", ["PS1", "TS1"], None, None, width_px=200)
    t, v = view.series["PS1"]
    assert view.detail["PS1"] == "4 s buckets"  # 3600 1 s buckets exceed 4 x 400
    assert t.size <= 400 and np.all(np.diff(t) > 0)
    assert v[0] == 0.0 and v[-1] == 3600 * RATE - 1
    _, ts1 = view.series["TS1"]
    assert np.nanmin(ts1) == 40.0 and np.nanmax(ts1) == 89.0  # the envelope keeps the sawtooth
    assert data_span_s(store, "rig") == (T0_S, T0_S + 3600 - 1 / RATE)


def test_zoomed_in_the_view_gets_the_exact_samples(store: Store) -> None:
    view = load_view_series(store, "rig", ["TS1", "PS1"], T0_S + 60.0, T0_S + 120.0, width_px=200)
    t, v = view.series["PS1"]
    assert view.detail == {"TS1": "samples", "PS1": "samples"}
    assert t.size == 60 * RATE and t[0] == T0_S + 60.0
    assert np.array_equal(v, np.arange(600, 1200, dtype=np.float64))
    t_ts1, ts1 = view.series["TS1"]
    assert np.array_equal(t_ts1, t) and np.array_equal(ts1, 40 + np.arange(600, 1200) % 50)


def test_a_gap_between_two_logs_breaks_the_curve(store: Store, tmp_path: Path) -> None:
    later = T0_S + 2 * 3600  # an hour without data, then another hour
    ingest_csv(store, _log(tmp_path / "b.csv", later, 3600), equipment_id="rig")
    view = load_view_series(store, "rig", ["PS1"], None, None, width_px=300)
    t, v = view.series["PS1"]
    inside = (t >= T0_S + 3600) & (t < later)
    assert inside.any() and np.all(np.isnan(v[inside]))
    assert t.size <= 600 + 1  # two points a pixel, and the gap


def test_envelope_is_min_then_max_per_bucket_and_nan_over_missing_buckets() -> None:
    buckets = Buckets(
        level=1,
        seconds=4,
        start_s=np.array([0.0, 4.0, 16.0]),
        n=np.array([4, 4, 4]),
        vmin=np.array([1.0, 2.0, 3.0]),
        vmax=np.array([5.0, 6.0, 7.0]),
        mean=np.array([3.0, 4.0, 5.0]),
    )
    t, v = envelope(buckets)
    assert t.tolist() == [1.0, 3.0, 5.0, 7.0, 8.0, 17.0, 19.0]
    assert v[:4].tolist() == [1.0, 5.0, 2.0, 6.0] and np.isnan(v[4]) and v[5:].tolist() == [3, 7]


def test_adjacent_markers_of_one_subject_merge_into_one_span() -> None:
    from datetime import datetime, timedelta

    from app.core.markers import Marker, merge_adjacent

    t0 = datetime(2026, 1, 5)
    minute = timedelta(minutes=1)
    windows = [
        Marker(t0 + k * minute, t0 + (k + 1) * minute, "anomaly", f"MP1 anomaly 0.{k}", ("PS1",))
        for k in (0, 1, 2, 5)
    ]
    other = Marker(t0, t0 + minute, "anomaly", "C1 anomaly 0.9", ("TS2",))
    merged = merge_adjacent([*windows, other])
    assert [(m.start, m.end, m.text) for m in merged] == [
        (t0, t0 + 3 * minute, "MP1 anomaly (3 in a row)"),
        (t0, t0 + minute, "C1 anomaly 0.9"),
        (t0 + 5 * minute, t0 + 6 * minute, "MP1 anomaly 0.5"),
    ]
