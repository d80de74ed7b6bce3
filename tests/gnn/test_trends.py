"""gnn.trends: robust degradation rate, time to thresholds, honest "not enough history"."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from gnn.results import StatusThresholds
from gnn.trends import fit_trend, lag1_autocorrelation, make_history, operating_hours, theil_sen
from tests.benchmarks.bench_trends import ar1

T0 = datetime(2026, 1, 1)


def _windows(
    n: int, *, length_s: float = 60.0, pause_s: float = 0.0
) -> tuple[list[datetime], list[datetime]]:
    starts = [T0 + timedelta(seconds=i * (length_s + pause_s)) for i in range(n)]
    return starts, [s + timedelta(seconds=length_s) for s in starts]


def test_operating_hours_skip_idle_time_and_count_overlap_once() -> None:
    starts, ends = _windows(3, length_s=3600, pause_s=7200)
    assert operating_hours(starts, ends).tolist() == [1.0, 2.0, 3.0]
    overlapping = [T0, T0 + timedelta(minutes=30)]
    ends = [T0 + timedelta(hours=1), T0 + timedelta(minutes=90)]
    assert operating_hours(overlapping, ends).tolist() == [1.0, 1.5]


def test_linear_decline_is_measured_with_a_band_around_it() -> None:
    rng = np.random.default_rng(1)
    starts, ends = _windows(400, length_s=60)  # 6.7 operating hours
    hours = operating_hours(starts, ends)
    health = 0.95 - 0.02 * hours + rng.normal(0, 0.01, hours.size)
    trend = fit_trend(make_history("C1", starts, ends, health))
    assert trend.enough_history
    assert trend.rate_per_100h == pytest.approx(2.0, rel=0.1)
    assert trend.rate_low_per_100h is not None and trend.rate_high_per_100h is not None
    assert trend.rate_low_per_100h < trend.rate_per_100h < trend.rate_high_per_100h
    # now ~0.816; warning (0.7) in ~5.8 h, critical (0.5) in ~15.8 h
    assert trend.hours_to_warning == pytest.approx(5.8, abs=0.8)
    assert trend.hours_to_critical == pytest.approx(15.8, abs=1.5)
    assert trend.hours_to_critical_low is not None and trend.hours_to_critical_high is not None
    assert trend.hours_to_critical_low < trend.hours_to_critical < trend.hours_to_critical_high
    # 2.0 health per 100 h is the whole range twice over: worded per operating hour, in %
    assert trend.message.startswith("health falling −2.0 % per operating hour (band −")


def test_outliers_do_not_move_a_robust_fit() -> None:
    starts, ends = _windows(200, length_s=120)
    hours = operating_hours(starts, ends)
    health = 0.9 - 0.01 * hours
    health[::10] = 0.0  # one window in ten misread as failed
    trend = fit_trend(make_history("MP1", starts, ends, health))
    assert trend.rate_per_100h == pytest.approx(1.0, rel=0.05)


def test_flat_health_has_no_time_to_threshold() -> None:
    rng = np.random.default_rng(2)
    starts, ends = _windows(300, length_s=60)
    trend = fit_trend(make_history("V10", starts, ends, 0.9 + rng.normal(0, 0.01, 300)))
    assert trend.enough_history
    assert trend.hours_to_critical is None or trend.hours_to_critical > 1000
    assert "no significant trend" in trend.message


def test_already_below_threshold_is_zero_hours() -> None:
    starts, ends = _windows(300, length_s=60)
    hours = operating_hours(starts, ends)
    trend = fit_trend(make_history("ACC", starts, ends, 0.45 - 0.001 * hours))
    assert trend.hours_to_warning == 0.0
    assert trend.hours_to_critical == 0.0


def test_short_history_says_what_is_missing() -> None:
    starts, ends = _windows(12, length_s=60)
    trend = fit_trend(make_history("C1", starts, ends, np.linspace(1, 0.5, 12)))
    assert not trend.enough_history
    assert trend.rate_per_100h is None
    assert trend.message == (
        "not enough history (12 windows over 0.2 operating hours; "
        "needs at least 10 windows over 2 h)"
    )


def test_repeated_windows_count_once_and_nan_is_dropped() -> None:
    starts, ends = _windows(3)
    history = make_history(
        "C1", [*starts, starts[0]], [*ends, ends[0]], [0.9, float("nan"), 0.7, 0.8]
    )
    assert history.health.tolist() == [0.8, 0.7]
    assert len(history.starts) == 2


def test_theil_sen_matches_exact_line_and_thins_long_series() -> None:
    x = np.arange(1000, dtype=np.float64)
    slope, intercept, lo, hi = theil_sen(x, 3.0 - 0.5 * x)
    assert (slope, intercept, lo, hi) == pytest.approx((-0.5, 3.0, -0.5, -0.5))


def test_thresholds_are_configurable() -> None:
    starts, ends = _windows(400, length_s=60)
    hours = operating_hours(starts, ends)
    health = 0.95 - 0.02 * hours
    strict = fit_trend(
        make_history("C1", starts, ends, health), StatusThresholds(healthy=0.9, critical=0.8)
    )
    assert strict.hours_to_critical == pytest.approx(
        (0.95 - 0.02 * hours[-1] - 0.8) / 0.02, rel=0.01
    )


def _coverage(phi: float, *, reps: int = 200, n: int = 150) -> tuple[float, float, float, float]:
    """(new coverage, old coverage, new median width, old median width) of the true rate.

    Windows of 60 s, health falling 0.02 per operating hour (rate 2.0 per 100 h) plus AR(1)
    noise; the same seeded series for both bands. New = fit_trend's band (autocorrelation
    corrected), old = Sen's i.i.d. band of the same fit.
    """
    rng = np.random.default_rng(20261130)
    starts, ends = _windows(n, length_s=60)
    hours = operating_hours(starts, ends)
    hit_new = hit_old = 0
    widths_new, widths_old = [], []
    for _ in range(reps):
        health = 0.9 - 0.02 * hours + ar1(rng, n, phi, 0.01)
        trend = fit_trend(make_history("C1", starts, ends, health))
        assert trend.enough_history
        assert trend.rate_low_per_100h is not None and trend.rate_high_per_100h is not None
        hit_new += trend.rate_low_per_100h <= 2.0 <= trend.rate_high_per_100h
        widths_new.append(trend.rate_high_per_100h - trend.rate_low_per_100h)
        _, _, lo, hi = theil_sen(hours, health, autocorrelation=False)
        hit_old += lo <= -0.02 <= hi
        widths_old.append(100.0 * (hi - lo))
    return (
        hit_new / reps,
        hit_old / reps,
        float(np.median(widths_new)),
        float(np.median(widths_old)),
    )


def test_band_covers_the_true_rate_under_autocorrelated_noise() -> None:
    """Nominal 95 %: with AR(1) phi = 0.7 the i.i.d. band covers ~60 %, the corrected one ≥ 88 %."""
    new, old, width_new, width_old = _coverage(0.7)
    assert new >= 0.88, new
    assert old <= 0.70, old  # what the band did before: far too narrow for consecutive windows
    assert width_new > 1.8 * width_old


def test_band_stays_tight_for_independent_noise() -> None:
    """The correction must not just widen everything: i.i.d. noise keeps (about) Sen's band."""
    new, old, width_new, width_old = _coverage(0.0)
    assert new >= 0.90 and old >= 0.90
    assert width_new <= 1.15 * width_old


def test_step_change_is_not_a_significant_trend() -> None:
    """Health that jumps once (maintenance, a changed load) is correlated residuals, not a rate."""
    starts, ends = _windows(300, length_s=60)
    rng = np.random.default_rng(5)
    health = np.where(np.arange(300) < 150, 0.9, 0.8) + rng.normal(0, 0.005, 300)
    trend = fit_trend(make_history("ACC", starts, ends, health))
    assert trend.enough_history
    assert "no significant trend" in trend.message and "independent" in trend.message
    assert trend.hours_to_critical is None


def test_lag1_autocorrelation_estimate() -> None:
    rng = np.random.default_rng(3)
    assert lag1_autocorrelation(ar1(rng, 2000, 0.7, 1.0)) == pytest.approx(0.7, abs=0.05)
    assert lag1_autocorrelation(rng.normal(size=2000)) == pytest.approx(0.0, abs=0.05)
    assert lag1_autocorrelation(-ar1(rng, 2000, -0.6, 1.0)) == 0.0  # never narrows the band
    assert lag1_autocorrelation(np.ones(50)) == 0.0


def test_time_to_critical_band_contains_the_true_crossing_under_autocorrelated_noise() -> None:
    """600 one-minute windows of AR(1) noise (phi 0.5) on a line falling 0.02 per hour: the
    reported band must contain the true time to critical about as often as it claims (95 %).
    Pivoting the band's slopes at the present health, as before, covered it 75 % of the time
    (tests/benchmarks/bench_trends.py)."""
    rng = np.random.default_rng(7)
    starts, ends = _windows(600, length_s=60)
    hours = operating_hours(starts, ends)
    truth = (0.9 - 0.02 * hours[-1] - StatusThresholds().critical) / 0.02
    hits = 0
    reps = 60
    for _ in range(reps):
        health = 0.9 - 0.02 * hours + ar1(rng, hours.size, 0.5, 0.01)
        trend = fit_trend(make_history("ACC", starts, ends, health))
        assert trend.hours_to_critical_low is not None
        high = trend.hours_to_critical_high
        hits += trend.hours_to_critical_low <= truth <= (np.inf if high is None else high)
    assert hits / reps >= 0.88
