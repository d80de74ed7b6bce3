"""gnn.quality: invalid samples are masked, warnings are per sensor, thin windows are flagged."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from gnn.graph import GraphSpec
from gnn.quality import check_quality
from ingestion.profiles import EquipmentProfile, load_profile

T0 = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def rig() -> EquipmentProfile:
    return load_profile("zema-test-rig")


def _good(rig: EquipmentProfile, n: int = 4, t: int = 60) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for s in rig.sensors:
        mid = (s.min + s.max) / 2
        out[s.id] = (mid + rng.normal(0, (s.max - s.min) / 100, (n, t))).astype(np.float32)
    return out


def _check(rig: EquipmentProfile, values: dict[str, np.ndarray], n: int = 4):  # type: ignore[no-untyped-def]
    starts = [T0 + timedelta(minutes=i) for i in range(n)]
    return check_quality(
        values,
        starts=starts,
        ends=[s + timedelta(minutes=1) for s in starts],
        rate_hz=1.0,
        profile=rig,
        spec=GraphSpec.from_profile(rig),
    )


def test_clean_data_passes_untouched(rig: EquipmentProfile) -> None:
    values = _good(rig)
    report = _check(rig, values)
    assert report.warnings == []
    assert report.window_valid.all()
    assert np.array_equal(report.values["PS1"], values["PS1"])
    assert (report.node_support == 1.0).all()


def test_each_problem_is_masked_and_named(rig: EquipmentProfile) -> None:
    values = _good(rig)
    del values["FS2"]  # sensor missing from the data
    values["PS1"][0, 5] = np.inf
    values["PS1"][1, 7] = 400.0  # beyond max 250 bar
    values["TS1"][2, 10:50] = 47.25  # frozen for 40 s
    values["VS1"][3, 20:30] = np.nan  # a 10 s gap
    report = _check(rig, values)
    kinds = {(w.sensor_id, w.kind) for w in report.warnings}
    assert kinds == {
        ("FS2", "missing_sensor"),
        ("PS1", "non_finite"),
        ("PS1", "out_of_range"),
        ("TS1", "stale"),
        ("VS1", "gap"),
    }
    assert np.isnan(report.values["PS1"][0, 5]) and np.isnan(report.values["PS1"][1, 7])
    assert np.isnan(report.values["TS1"][2, 10:50]).all()
    assert not np.isnan(report.values["TS1"][2, :10]).any()
    assert np.isnan(report.values["FS2"]).all()
    message = next(w.message for w in report.warnings if w.kind == "out_of_range")
    assert "0..250 bar" in message and "worst 400 bar" in message
    gap = next(w for w in report.warnings if w.kind == "gap")
    assert "longest gap 10 s" in gap.message and gap.start == T0 + timedelta(minutes=3)
    assert report.window_valid.all()  # still most of the data
    assert report.notes["MP2"] == ["FS2 missing sensor"]


def test_zero_runs_are_not_stale(rig: EquipmentProfile) -> None:
    values = _good(rig)
    values["PS4"][:] = 0.0  # relief valve closed all cycle: normal
    assert _check(rig, values).warnings == []


def test_window_with_too_little_data_is_insufficient(rig: EquipmentProfile) -> None:
    values = _good(rig)
    for a in values.values():
        a[1, :] = np.nan
    values["PS1"][1, :] = 150.0  # one sensor alone
    report = _check(rig, values)
    assert report.window_valid.tolist() == [True, False, True, True]
    assert any(w.kind == "insufficient_data" and "1 of 4" in w.message for w in report.warnings)
    assert not report.node_ok()[1].any()


def test_node_without_sensors_is_judged_through_neighbours(rig: EquipmentProfile) -> None:
    values = _good(rig)
    spec = GraphSpec.from_profile(rig)
    acc = spec.node_ids.index("ACC")
    values["PS2"][:] = np.nan  # V10, neighbour of ACC
    values["PS3"][:] = np.nan  # LV, the other neighbour
    report = _check(rig, values)
    assert (report.node_support[:, acc] == 0.0).all()
    assert not report.node_ok()[:, acc].any()
