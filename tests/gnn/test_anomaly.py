"""The torch-free scoring of models that learned a machine's normal (gnn/anomaly.py): smoothing,
debounce, thresholds, episodes, the learned range, the verdict's words and graded episodes."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from gnn import anomaly
from gnn.anomaly import (
    EQUIPMENT,
    AnomalyCalibration,
    SensorResidual,
    Series,
    alarm_runs,
    assess_series,
    build_episodes,
    graded_episodes,
    moving_median,
    quantile_threshold,
    range_excursions,
    window_starts,
)
from gnn.anomaly_headline import episode_text, unexplained_rules
from gnn.graph import GraphSpec
from gnn.recommend import load_rules
from gnn.results import AnomalyEpisode
from ingestion.profiles import parse_profile_text
from tests.pump_rig_proxy import PROFILE_YAML, SENSORS

T0 = datetime(2026, 3, 2, 10, 0, 0)


@pytest.fixture
def spec() -> GraphSpec:
    return GraphSpec.from_profile(parse_profile_text(PROFILE_YAML, "pump.yaml"))


def _calibration(spec: GraphSpec, **update: object) -> AnomalyCalibration:
    base = AnomalyCalibration(
        rate_hz=1.0,
        window=64,
        stride=32,
        smoothing=9,
        debounce=3,
        gap=3,
        budget=0.01,
        margin=1.0,
        residuals={s: SensorResidual(median=0.0, scale=1.0) for s in SENSORS},
        # the 99 % quantiles of these scores under N(0, 1) residuals, about
        thresholds={EQUIPMENT: 1.2, "M1": 1.4, "P1": 1.8, "V1": 2.2, "T1": 2.2},
        ranges={"PRESS": (0.8, 1.0)},
        range_slack={"PRESS": 0.01},
    )
    return base.model_copy(update=update)


def test_moving_median_ignores_single_outliers_and_gaps() -> None:
    a = np.zeros(21)
    a[10] = 100.0  # one wild sample
    a[3] = np.nan
    out = moving_median(a, 5)
    assert np.allclose(out, 0.0)
    shift = np.r_[np.zeros(10), np.full(10, 4.0)]
    assert moving_median(shift, 5)[12:].min() == 4.0  # a lasting shift stays
    assert np.isnan(moving_median(np.full(6, np.nan), 3)).all()


def test_alarm_runs_close_gaps_then_drop_short_runs() -> None:
    ratio = np.zeros(40)
    ratio[2:4] = 2.0  # 2 samples: shorter than the debounce
    ratio[10:15] = 2.0
    ratio[17:22] = 2.0  # 2 samples apart from the run before: one episode
    ratio[30] = np.nan
    assert alarm_runs(ratio, debounce=3, gap=3) == [(10, 22)]
    assert alarm_runs(ratio, debounce=3, gap=0) == [(10, 15), (17, 22)]


def test_quantile_threshold_is_robust_on_a_short_stretch() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(1.0, 0.1, 100)
    q = quantile_threshold(scores, 0.01)
    assert 1.2 < q < 1.4  # about mean + 2.33 sd
    assert np.isnan(quantile_threshold(np.full(5, np.nan), 0.01))


def test_window_starts_cover_the_series_and_end_at_its_end() -> None:
    assert window_starts(100, 64, 32) == [0, 32, 36]
    assert window_starts(10, 64, 32) == [0]


def _series(values: dict[str, np.ndarray]) -> Series:
    return Series(T0, 1.0, {k: v.astype(np.float32) for k, v in values.items()})


def test_a_lasting_shift_is_one_episode_located_to_the_sample(spec: GraphSpec) -> None:
    """A fake model that predicts every sensor's normalised value as 0: a shift of PRESS over
    samples 100-159 is the machine's only episode, on the pump, within a few samples."""
    n = 300
    rng = np.random.default_rng(1)
    values = {s: rng.normal(0, 1, n) for s in spec.sensor_ids}
    values["PRESS"][100:160] += 6.0
    calibration = _calibration(spec)

    def run(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.zeros_like(x)

    assessed = assess_series(run, spec, calibration, _series(values))
    assert len(assessed.alarms) == 1
    a, b = assessed.alarms[0]
    assert abs(a - 100) <= 3 and abs(b - 160) <= 3
    machine, own = build_episodes(assessed, spec, [])
    assert machine[0].components == ("P1",)
    assert machine[0].sensors[0] == "PRESS"
    assert set(own) == {"P1"}
    text = episode_text("Centrifugal pump P1", own["P1"][0], with_date=False)
    assert text.startswith("Centrifugal pump P1 anomalous 10:01:") and text.endswith("UTC: PRESS")


def test_masked_sensors_are_neither_fed_nor_scored(spec: GraphSpec) -> None:
    n = 200
    values = {s: np.zeros(n) for s in spec.sensor_ids}
    values["FLOW"][50:] = 50.0
    seen: list[float] = []

    def run(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        flow = spec.sensor("FLOW")
        seen.append(float(mask[:, flow.node, :, flow.slot].max()))
        return np.zeros_like(x)

    residuals = {s: SensorResidual(median=0.0, scale=1.0) for s in SENSORS if s != "FLOW"}
    calibration = _calibration(spec, residuals=residuals, masked_sensors=("FLOW",))
    assessed = assess_series(run, spec, calibration, _series(values))
    assert max(seen) == 0.0
    assert "FLOW" not in assessed.scores.sensors
    assert assessed.alarms == []


def test_values_outside_the_learned_range_are_reported_with_their_worst_value(
    spec: GraphSpec,
) -> None:
    profile = parse_profile_text(PROFILE_YAML, "pump.yaml")
    press = np.full(200, 0.9)
    press[50:80] = 1.4  # above 1.0 + slack 0.01
    press[190] = 0.5  # one sample, far from the rest: under the debounce
    excursions = range_excursions(_calibration(spec), spec, profile, _series({"PRESS": press}))
    assert len(excursions) == 1
    e = excursions[0]
    assert (e.sensor_id, e.component_id, e.unit) == ("PRESS", "P1", "bar")
    assert e.worst_value == pytest.approx(1.4)  # the value itself, not clipped
    assert (e.learned_low, e.learned_high) == (0.8, 1.0)
    assert e.start == T0 + timedelta(seconds=50) and e.samples == 30


def test_anomaly_diagnoses_fire_no_condition_or_fault_rule() -> None:
    kept = unexplained_rules(load_rules())
    assert kept.rules
    for rule in kept.rules:
        assert not rule.when.statuses and rule.when.fault is None and rule.when.min_grade is None
    assert any(r.id == "unexplained-anomaly" for r in kept.rules)


def test_episode_text_uses_minutes_for_long_episodes_and_the_date_over_days() -> None:
    e = AnomalyEpisode(
        start=datetime(2026, 3, 2, 10, 42, 5),
        end=datetime(2026, 3, 2, 10, 57, 40),
        duration_s=935,
        peak=2.5,
        sensors=("PRESS", "FLOW"),
    )
    assert episode_text("P1 pump", e, with_date=False) == (
        "P1 pump anomalous 10:42–10:57 UTC: PRESS, FLOW"
    )
    assert episode_text("P1 pump", e, with_date=True).startswith(
        "P1 pump anomalous 2026-03-02 10:42"
    )


def test_graded_models_gain_episodes_from_their_window_scores(spec: GraphSpec) -> None:
    starts = [T0 + timedelta(minutes=k) for k in range(10)]
    ends = [s + timedelta(minutes=1) for s in starts]
    scores = np.ones((10, spec.num_nodes))
    ratios = np.ones((10, len(spec.sensors)))
    pump = spec.node_ids.index("P1")
    scores[3:6, pump] = 5.0
    ratios[3:6, spec.sensor_ids.index("PRESS")] = 6.0
    machine, own = graded_episodes(starts, ends, scores, ratios, spec, 3.0)
    assert len(machine) == 1 and machine[0].components == ("P1",)
    assert machine[0].start == starts[3] and machine[0].end == ends[5]
    assert own["P1"][0].sensors == ("PRESS",)
    assert own["P1"][0].peak == pytest.approx(5 / 3, abs=1e-3)


def test_a_calibration_that_is_not_one_is_refused(spec: GraphSpec) -> None:
    from types import SimpleNamespace

    fake = SimpleNamespace(path="m.onnx", metadata={"hydrodiag.anomaly": '{"rate_hz": 0}'})
    with pytest.raises(anomaly.ModelError, match="not a valid calibration"):
        anomaly.calibration_of(fake)  # type: ignore[arg-type]
