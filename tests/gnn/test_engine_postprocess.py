"""gnn.postprocess: limit episodes with debounce, forecast errors, anomaly scores, verdicts."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from gnn import postprocess as post
from gnn.graph import GraphSpec
from gnn.results import ComponentResult, Status
from ingestion.profiles import EquipmentProfile, load_profile

T0 = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def rig() -> EquipmentProfile:
    return load_profile("zema-test-rig")


def _starts(n: int) -> list[datetime]:
    return [T0 + timedelta(seconds=60 * i) for i in range(n)]


def test_limit_episode_needs_the_debounce_and_joins_windows(rig: EquipmentProfile) -> None:
    ts1 = np.full((3, 60), 45.0, dtype=np.float32)  # TS1: warning 60, alarm 70 °C, debounce 30 s
    ts1[0, 50:] = 65.0  # 10 s at the end of window 0 ...
    ts1[1, :25] = 65.0  # ... and 25 s at the start of window 1: one 35 s episode
    ts1[2, 10:20] = 75.0  # 10 s beyond the alarm: shorter than the debounce
    found = post.limit_violations({"TS1": ts1}, starts=_starts(3), rate_hz=1.0, profile=rig)
    (v,) = found["T"]
    assert (v.sensor_id, v.kind, v.limit, v.unit) == ("TS1", "warning_high", 60.0, "°C")
    assert v.start == T0 + timedelta(seconds=50) and v.duration_s == 35.0
    assert v.worst_value == 65.0


def test_alarm_inside_a_warning_episode_is_reported_as_the_alarm(rig: EquipmentProfile) -> None:
    vs1 = np.full((1, 60), 2.0, dtype=np.float32)  # VS1: warning 4.5, alarm 7.1, debounce 10 s
    vs1[0, 10:40] = 5.0
    vs1[0, 15:30] = 8.0
    found = post.limit_violations({"VS1": vs1}, starts=_starts(1), rate_hz=1.0, profile=rig)
    assert [(v.kind, v.duration_s, v.worst_value) for v in found["MP1"]] == [
        ("alarm_high", 15.0, 8.0)
    ]


def test_nan_is_not_a_violation_and_sensors_without_limits_are_skipped(
    rig: EquipmentProfile,
) -> None:
    values = {
        "PS1": np.full((2, 60), np.nan, dtype=np.float32),
        "PS2": np.full((2, 60), 249.0, dtype=np.float32),  # no limits in the profile
    }
    assert post.limit_violations(values, starts=_starts(2), rate_hz=1.0, profile=rig) == {}


def test_forecast_errors_count_only_valid_targets(rig: EquipmentProfile) -> None:
    spec = GraphSpec.from_profile(rig)
    b, t = 2, 5
    x = np.zeros((b, spec.num_nodes, t, spec.num_features), dtype=np.float32)
    mask = np.zeros_like(x)
    ps1 = spec.sensor("PS1")
    x[:, ps1.node, :, ps1.slot] = np.arange(t, dtype=np.float32)
    mask[0, ps1.node, :, ps1.slot] = 1.0
    mask[1, ps1.node, :2, ps1.slot] = 1.0  # window 1: only one valid target (t=1)
    forecast = x.copy()  # persistence forecast: error 1 per step
    errors = post.forecast_errors(x, mask, forecast, spec)
    j = spec.sensor_ids.index("PS1")
    assert errors[0, j] == pytest.approx(1.0) and errors[1, j] == pytest.approx(1.0)
    assert np.isnan(errors[0, spec.sensor_ids.index("TS1")])  # never valid


def test_selection_median_reference_is_floored() -> None:
    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    errors = np.zeros((4, len(spec.sensors)))
    ref, kind = post.error_reference(errors, spec, None)
    assert kind == "selection median" and (ref == post.MIN_REFERENCE).all()
    card = {"PS1": 0.5}
    ref, kind = post.error_reference(errors + 0.2, spec, card)
    assert kind == "model card"
    assert ref[spec.sensor_ids.index("PS1")] == 0.5
    assert ref[spec.sensor_ids.index("TS1")] == pytest.approx(0.2)  # not in the card: median


def _comp(cid: str, status: Status, health: float | None, grade: int | None) -> ComponentResult:
    return ComponentResult(
        component_id=cid,
        name=f"Comp {cid}",
        type="pump",
        assessed=status is not Status.NOT_ASSESSED,
        status=status,
        health=health,
        grade=grade,
        grade_probs=(0.1, 0.2, 0.3, 0.4) if grade is not None else (),
        confidence=0.4 if grade is not None else None,
    )


def test_verdict_names_the_worst_components_first() -> None:
    comps = [
        _comp("A", Status.HEALTHY, 0.9, 0),
        _comp("B", Status.WARNING, 0.6, 1),
        _comp("C", Status.CRITICAL, 0.2, 3),
        _comp("D", Status.NOT_ASSESSED, None, None),
    ]
    found = post.findings(comps)
    health, status, verdict = post.overall(comps, found, n_windows=10, n_valid=9)
    assert health == 0.2 and status is Status.CRITICAL
    assert verdict == (
        "CRITICAL: Comp C critical (near failure, health 20 %); "
        "Comp B warning (slightly degraded, health 60 %) — 1 of 10 windows skipped for data quality"
    )
    assert [f.component_id for f in found] == ["C", "B"]


def test_all_healthy_verdict() -> None:
    comps = [_comp("A", Status.HEALTHY, 0.9, 0), _comp("B", Status.HEALTHY, 0.8, 0)]
    health, status, verdict = post.overall(comps, (), n_windows=5, n_valid=5)
    assert status is Status.HEALTHY and health == 0.8
    assert verdict == "HEALTHY: all 2 graded components healthy (lowest Comp B, health 80 %)"


def test_healthy_verdict_names_what_it_could_not_assess() -> None:
    """One graded component healthy and three without enough data is not 'all healthy'."""
    thin = [_comp(c, Status.INSUFFICIENT_DATA, None, None) for c in "BC"]
    _, status, verdict = post.overall(
        [_comp("A", Status.HEALTHY, 0.9, 0), *thin], (), n_windows=5, n_valid=5
    )
    assert status is Status.HEALTHY
    assert verdict == (
        "HEALTHY: Comp A healthy (health 90 %) — not assessed for lack of data: Comp B, Comp C"
    )
    two = [_comp("A", Status.HEALTHY, 0.9, 0), _comp("D", Status.HEALTHY, 0.8, 0), *thin[:1]]
    _, _, verdict = post.overall(two, (), n_windows=5, n_valid=5)
    assert verdict == (
        "HEALTHY: the 2 assessed components healthy (lowest Comp D, health 80 %) — "
        "not assessed for lack of data: Comp B"
    )
    many = [_comp(c, Status.INSUFFICIENT_DATA, None, None) for c in "BCEFG"]
    _, _, verdict = post.overall(
        [_comp("A", Status.HEALTHY, 0.9, 0), *many], (), n_windows=5, n_valid=5
    )
    assert verdict.endswith("not assessed for lack of data: Comp B, Comp C, Comp E and 2 more")


def test_a_grade_that_changed_within_the_selection_is_not_named_as_one_grade() -> None:
    """The rig's valve changes condition every ~10 cycles: over 100 cycles its commonest grade
    can be 0 while its mean health is a warning. Summary, verdict and table cell say it varied."""
    from gnn.recommend import grade_text

    steady = _comp("V", Status.WARNING, 0.58, 1)
    varied = _comp("V", Status.WARNING, 0.58, 0).model_copy(
        update={"grade_share": (0.3, 0.25, 0.25, 0.2), "recent_grade": 3, "recent_health": 0.05}
    )
    (finding,) = post.findings([varied])
    assert finding.summary == "Comp V: mean health 58 % over a varying grade — warning"
    assert any(e.startswith("grade varied over the selection: 0 in 30 %") for e in finding.evidence)
    _, _, verdict = post.overall([varied], (finding,), n_windows=10, n_valid=10)
    assert verdict == "WARNING: Comp V warning (grade varied, health 58 %)"
    assert grade_text(varied) == "varied (recent: 3 near failure)"
    # one grade held: named as before
    (finding,) = post.findings([steady])
    assert finding.summary == "Comp V: grade 1 (slightly degraded), health 58 % — warning"
    assert grade_text(steady) == "1 slightly degraded"


def test_grades_the_model_cannot_tell_apart_read_as_a_range_everywhere() -> None:
    """Issue 18: where the calibrated probabilities do not separate adjacent grades the table
    cell, the verdict and the confidence shown say so (one wording for app, CLI and PDF)."""
    from gnn.recommend import grade_text, is_grade_range, shown_confidence

    ranged = _comp("A", Status.CRITICAL, 0.37, 2).model_copy(
        update={"confidence": 0.69, "grade_range": (1, 2), "grade_range_probability": 0.94}
    )
    assert is_grade_range(ranged)
    assert grade_text(ranged) == "1–2 slightly degraded to severely degraded"
    assert shown_confidence(ranged) == 0.94
    _, _, verdict = post.overall([ranged], (), n_windows=10, n_valid=10)
    assert "(slightly degraded to severely degraded, health 37 %" in verdict
    single = ranged.model_copy(update={"grade_range": (2, 2), "grade_range_probability": 0.69})
    assert grade_text(single) == "2 severely degraded" and shown_confidence(single) == 0.69
