"""A long stretch diagnosed slice by slice (``gnn.engine.diagnose_slices``): one slice's windows
in memory at a time, each slice stored as a diagnosis of its own, and a short remainder at the
end joined to the slice before it rather than failing for want of a window."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gnn.engine import EngineError, diagnose_slices, slice_bounds
from gnn.registry import default_model_path
from ingestion.simulator import Conditions, RigSimulator
from tests.benchmarks.bench_live_alignment import T0_US, live_workspace, simulated_feed

T0 = datetime(1970, 1, 1) + timedelta(microseconds=T0_US)
HOUR = timedelta(hours=1)


pytestmark = pytest.mark.skipif(not default_model_path().exists(), reason="no shipped model")


def test_slice_bounds_cut_every_and_merge_a_short_remainder() -> None:
    assert slice_bounds(T0, T0 + 2 * HOUR, HOUR) == [(T0, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)]
    end = T0 + 2 * HOUR + timedelta(seconds=5)
    assert slice_bounds(T0, end, HOUR) == [(T0, T0 + HOUR), (T0 + HOUR, end)]
    end = T0 + 2 * HOUR + timedelta(minutes=20)  # a third of an hour: a slice of its own
    assert slice_bounds(T0, end, HOUR)[-1] == (T0 + 2 * HOUR, end)
    assert slice_bounds(T0, T0 + timedelta(seconds=5), HOUR) == [(T0, T0 + timedelta(seconds=5))]
    with pytest.raises(EngineError, match="positive"):
        slice_bounds(T0, end, timedelta(0))


def test_two_hours_and_a_minute_are_two_stored_hourly_diagnoses(tmp_path: Path) -> None:
    feed = simulated_feed(RigSimulator(5, rate_hz=1.0), Conditions(valve=80), 122, 0.0, 7260)
    with live_workspace(tmp_path / "ws.duckdb", feed) as store:
        first, last = store.query("SELECT min(ts), max(ts) FROM measurements")[0]
        slices = list(
            diagnose_slices(store, "rig", start=first, end=last + timedelta(seconds=1), every=HOUR)
        )
        assert [(a - first, b - first) for a, b, _ in slices] == [
            (timedelta(0), HOUR),
            (HOUR, last + timedelta(seconds=1) - first),
        ]
        windows = [d.n_windows for _, _, d in slices]
        assert windows[0] >= 58 and windows[1] >= 59  # an hour of minute cycles each
        stored = store.query("SELECT count(*), count(DISTINCT window_end) FROM diagnoses")[0]
        assert stored == (2, 2)
        assert all(d.id is not None for _, _, d in slices)
