"""Degradation trends: a robust fit of a component's health against operating time.

The rate is the Theil–Sen slope (median of pairwise slopes) of health over operating hours of
the most recent windows, with Sen's rank-based 95 % band widened for the autocorrelation of
consecutive windows (effective sample size from the residuals' lag-1 autocorrelation). The time
to the warning and critical thresholds follows from the fitted current health and rate; its band
from the band's extreme lines drawn through the middle of the data (a steeper line through the
same data also puts the present health lower), not pivoted at the present. With too few windows
or too short a span the answer is "not enough history", with the numbers that were missing.

Operating time counts only the time covered by windows (a machine standing idle overnight does
not age its components in this model), so it is the cumulative window duration, not wall time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from gnn.results import StatusThresholds, TrendEstimate
from gnn.wording import band_text, hours_text, rate_text

MIN_POINTS = 10
MIN_SPAN_HOURS = 2.0
RECENT_POINTS = 600  # the trend describes the present, not the machine's whole life
MAX_PAIRS_POINTS = 300  # Theil–Sen on more points thins them evenly: O(n²) pairs
Z_95 = 1.959963984540054
MAX_LAG1 = 0.98  # residuals this correlated: a step or a drift, not noise; n_eff = n / 99
_FLAT = 1e-9  # |slope| below this (health per hour) is no measurable change


@dataclass(frozen=True)
class HealthHistory:
    """One component's health per window, in time order, with operating hours at each window."""

    component_id: str
    starts: tuple[datetime, ...]
    ends: tuple[datetime, ...]
    health: npt.NDArray[np.float64]
    hours: npt.NDArray[np.float64]  # operating hours at the end of each window


def operating_hours(
    starts: Sequence[datetime], ends: Sequence[datetime]
) -> npt.NDArray[np.float64]:
    """Cumulative operating hours at the end of each window (windows sorted by start).

    Overlapping windows (sliding windows with a stride shorter than their length) count the
    overlap once: each window adds only the time past the previous window's end.
    """
    hours = np.zeros(len(starts), dtype=np.float64)
    total = 0.0
    last_end: datetime | None = None
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        begin = start if last_end is None or start >= last_end else last_end
        total += max((end - begin).total_seconds(), 0.0) / 3600.0
        last_end = end if last_end is None or end > last_end else last_end
        hours[i] = total
    return hours


def make_history(
    component_id: str,
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    health: Sequence[float] | npt.NDArray[np.float64],
) -> HealthHistory:
    """Sort by window start, drop repeats of the same window (last one wins) and non-finite health."""
    latest: dict[datetime, tuple[datetime, float]] = {}
    for start, end, value in zip(starts, ends, health, strict=True):
        if value is not None and math.isfinite(float(value)):
            latest[start] = (end, float(value))
    ordered = sorted(latest.items())
    s = tuple(k for k, _ in ordered)
    e = tuple(v[0] for _, v in ordered)
    h = np.asarray([v[1] for _, v in ordered], dtype=np.float64)
    return HealthHistory(component_id, s, e, h, operating_hours(s, e))


@dataclass(frozen=True)
class SlopeFit:
    """A Theil–Sen fit with its band and how much the band was widened for autocorrelation."""

    slope: float
    intercept: float
    low: float
    high: float
    n: int  # points used (after thinning)
    lag1: float  # lag-1 autocorrelation of the residuals used for the band (≥ 0)
    n_eff: float  # effective number of independent points: n (1 - r1) / (1 + r1)


def lag1_autocorrelation(residuals: npt.NDArray[np.float64]) -> float:
    """Lag-1 autocorrelation of residuals in time order, corrected for its small-sample bias.

    The sample value underestimates an AR(1) coefficient by about (1 + 4 r) / n (Kendall 1954,
    mean estimated); adding it back keeps the band from being too narrow on short series.
    Clipped to [0, MAX_LAG1]: negative correlation would narrow the band, which we never do.
    """
    n = residuals.size
    if n < 3:
        return 0.0
    r = residuals - residuals.mean()
    denom = float(np.dot(r, r))
    if denom <= 0.0:
        return 0.0
    r1 = float(np.dot(r[:-1], r[1:])) / denom
    r1 += (1.0 + 4.0 * r1) / n
    return float(np.clip(r1, 0.0, MAX_LAG1))


def fit_slope(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    z: float = Z_95,
    autocorrelation: bool = True,
) -> SlopeFit:
    """Theil–Sen slope with Sen's rank band, widened for autocorrelated residuals.

    Sen's band takes the ranks median ± z·sqrt(Var S) of the sorted pairwise slopes, with Var S
    Kendall's variance for independent points. Health of consecutive windows is not
    independent: with lag-1 residual autocorrelation r1, Var S is inflated by
    (1 + r1) / (1 - r1), i.e. the band is that of n_eff = n (1 - r1) / (1 + r1) independent
    points (the AR(1) variance correction of Hamed & Rao 1998 / Yue & Wang 2004, applied to the
    slope's band). ``autocorrelation=False`` gives the plain i.i.d. band.
    """
    n = len(x)
    if n > MAX_PAIRS_POINTS:
        keep = np.unique(np.linspace(0, n - 1, MAX_PAIRS_POINTS).round().astype(int))
        x, y = x[keep], y[keep]
        n = len(x)
    i, j = np.triu_indices(n, k=1)
    dx = x[j] - x[i]
    valid = dx > 0
    slopes = np.sort((y[j][valid] - y[i][valid]) / dx[valid])
    if slopes.size == 0:
        return SlopeFit(0.0, float(np.median(y)), 0.0, 0.0, n, 0.0, float(n))
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * x))
    r1 = lag1_autocorrelation(y - (intercept + slope * x)) if autocorrelation else 0.0
    inflation = (1.0 + r1) / (1.0 - r1)
    n_slopes = slopes.size
    spread = z * math.sqrt(inflation * n * (n - 1) * (2 * n + 5) / 18.0)
    lo_rank = int(np.clip(math.floor((n_slopes - spread) / 2.0), 0, n_slopes - 1))
    hi_rank = int(np.clip(math.ceil((n_slopes + spread) / 2.0), 0, n_slopes - 1))
    return SlopeFit(
        slope,
        intercept,
        float(slopes[lo_rank]),
        float(slopes[hi_rank]),
        n,
        r1,
        n / inflation,
    )


def theil_sen(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    z: float = Z_95,
    autocorrelation: bool = True,
) -> tuple[float, float, float, float]:
    """(slope, intercept, slope_low, slope_high): Theil–Sen with Sen's band (see fit_slope)."""
    fit = fit_slope(x, y, z=z, autocorrelation=autocorrelation)
    return fit.slope, fit.intercept, fit.low, fit.high


def _hours_to(level: float, current: float, slope: float) -> float | None:
    """Hours until health falls to ``level`` at ``slope`` per hour; None if it never does."""
    if current <= level:
        return 0.0
    if slope >= -_FLAT:
        return None
    return (current - level) / -slope


def fit_trend(
    history: HealthHistory,
    thresholds: StatusThresholds = StatusThresholds(),  # noqa: B008  (frozen, shared is fine)
    *,
    min_points: int = MIN_POINTS,
    min_span_hours: float = MIN_SPAN_HOURS,
    recent_points: int = RECENT_POINTS,
) -> TrendEstimate:
    """Degradation rate per 100 operating hours and time to the thresholds, or why not."""
    health = history.health[-recent_points:]
    hours = history.hours[-recent_points:]
    n = int(health.size)
    span = float(hours[-1] - hours[0]) if n else 0.0
    if n < min_points or span < min_span_hours:
        return TrendEstimate(
            enough_history=False,
            message=(
                f"not enough history ({n} windows over {span:.1f} operating hours; "
                f"needs at least {min_points} windows over {min_span_hours:g} h)"
            ),
            n_points=n,
            span_hours=span,
        )
    fit = fit_slope(hours, health)
    slope, intercept, slope_low, slope_high = fit.slope, fit.intercept, fit.low, fit.high
    now = float(np.clip(intercept + slope * hours[-1], 0.0, 1.0))
    # Rates are "health lost per 100 h": the steepest decline is the high end of the band.
    rate, rate_high, rate_low = (-100.0 * s for s in (slope, slope_low, slope_high))
    significant = not (abs(slope) <= _FLAT or slope_low <= 0.0 <= slope_high)
    # A slope whose band includes zero gives no time to threshold (extrapolating noise would
    # invent a date); the band's steep end still says how soon it could plausibly be.
    point = slope if significant else 0.0
    to_warning = _hours_to(thresholds.healthy, now, point)
    to_critical = _hours_to(thresholds.critical, now, point)
    rate_words = rate_text(rate, scale_with=(rate_low, rate_high))
    band = band_text(rate_low, rate_high)
    if not significant:
        message = (
            f"no significant trend over the last {span:.1f} operating hours "
            f"({rate_words}, band {band} includes zero{_independent(fit)})"
        )
    elif slope > 0:
        message = (
            f"health rising {rate_words} over the last {span:.1f} operating hours "
            "(after maintenance or a change of operating point)"
        )
    else:
        message = (
            f"health falling {rate_words} "
            f"(band {band}, {n} windows over {span:.1f} h{_independent(fit)})"
        )
        if to_critical == 0.0:
            message += "; the trend line is below critical already"
        elif to_critical is not None:
            message += f"; critical in {hours_text(to_critical)}"
    return TrendEstimate(
        enough_history=True,
        message=message,
        n_points=n,
        span_hours=span,
        rate_per_100h=rate,
        rate_low_per_100h=rate_low,
        rate_high_per_100h=rate_high,
        hours_to_warning=to_warning,
        hours_to_warning_low=_band_hours(thresholds.healthy, fit, hours, slope_low),
        hours_to_warning_high=_band_hours(thresholds.healthy, fit, hours, slope_high),
        hours_to_critical=to_critical,
        hours_to_critical_low=_band_hours(thresholds.critical, fit, hours, slope_low),
        hours_to_critical_high=_band_hours(thresholds.critical, fit, hours, slope_high),
    )


def present_level(fit: SlopeFit, hours: npt.NDArray[np.float64], slope: float) -> float:
    """Health now on the line of ``slope`` through the fit's value at the median hour.

    The band's lines pivot on the middle of the data, where the fit is best determined: the
    further the present lies from it, the more a steeper rate also lowers the present health.
    Pivoting at the present instead treats the current level as exact and gives a time band
    too narrow to contain the true crossing (``tests/benchmarks/bench_trends.py``).
    """
    middle = float(np.median(hours))
    level = fit.intercept + fit.slope * middle + slope * (float(hours[-1]) - middle)
    return float(np.clip(level, 0.0, 1.0))


def _band_hours(
    level: float, fit: SlopeFit, hours: npt.NDArray[np.float64], slope: float
) -> float | None:
    """Hours to ``level`` on one of the band's extreme lines (see :func:`present_level`)."""
    return _hours_to(level, present_level(fit, hours, slope), slope)


def _independent(fit: SlopeFit) -> str:
    """', worth ~N independent' when autocorrelation widened the band noticeably."""
    if fit.n_eff >= 0.9 * fit.n:
        return ""
    return f"; correlated windows, worth ~{fit.n_eff:.0f} independent"
