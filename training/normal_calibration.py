"""The data-driven choices of a label-free fit: the window length (the data's dominant period,
else a few times its decorrelation time) and the calibration of the anomaly score on
held-out normal data (residual scale per sensor, thresholds at a false-alarm budget, the
learned operating range). Numpy only: the scores come from :mod:`gnn.anomaly`, the same
code the diagnosis runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gnn.anomaly import (
    EQUIPMENT,
    MAD_TO_SD,
    MIN_SCALE,
    AnomalyCalibration,
    SensorResidual,
    Series,
    alarm_runs,
    normalised,
    predict_series,
    quantile_threshold,
    score_series,
    sensor_groups,
)
from gnn.graph import GraphSpec

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

MIN_PERIOD = 8  # samples: shorter "periods" are noise structure, not a machine's cycle
MAX_PERIOD = 600
PERIOD_PEAK = 0.3  # autocorrelation a period's peak must reach
MIN_WINDOW = 64  # samples, without a period
MAX_WINDOW = 120


@dataclass(frozen=True)
class WindowChoice:
    """The window the model is trained and run on, and why."""

    samples: int
    how: str  # "dominant period of 60 samples", "4 × decorrelation time", "given"
    period: int | None = None


def _autocorrelation(a: F64, max_lag: int) -> F64 | None:
    x = a[np.isfinite(a)]
    if x.size < 3 * MIN_PERIOD or np.std(x) < 1e-12:
        return None
    # gaps are filled with the mean: they then add nothing to the covariances
    filled = np.where(np.isfinite(a), a - x.mean(), 0.0)
    n = filled.size
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(filled, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return np.asarray(acf / acf[0]) if acf[0] > 0 else None


def choose_window(
    segments: Sequence[Mapping[str, F32]], *, given: int | None = None, limit: int | None = None
) -> WindowChoice:
    """The model's window from the normal data: its dominant period when the machine works in
    cycles (the median autocorrelation over the sensors peaks above ``PERIOD_PEAK`` at a lag
    of ``MIN_PERIOD`` to ``MAX_PERIOD`` samples), else four times the lag at which that
    autocorrelation falls below 1/e, within ``MIN_WINDOW`` .. ``MAX_WINDOW``. ``given``
    overrides it; ``limit`` caps it (a short fit stretch)."""
    if given is not None:
        return WindowChoice(given, "given")
    longest = max(segments, key=lambda s: len(next(iter(s.values()))) if s else 0)
    length = len(next(iter(longest.values()))) if longest else 0
    max_lag = min(MAX_PERIOD, max(length // 3, 1))
    curves = [
        c
        for a in longest.values()
        if (c := _autocorrelation(np.asarray(a, dtype=np.float64), max_lag)) is not None
    ]
    if not curves:
        choice = WindowChoice(MIN_WINDOW, f"{MIN_WINDOW} samples (no usable signal to measure)")
    else:
        acf = np.median(np.stack(curves), axis=0)
        period = _period(acf)
        if period is not None:
            choice = WindowChoice(period, f"the data's dominant period, {period} samples", period)
        else:
            below = np.flatnonzero(acf < math.exp(-1))
            tau = int(below[0]) if below.size else max_lag
            samples = int(min(max(4 * tau, MIN_WINDOW), MAX_WINDOW))
            samples -= samples % 4
            choice = WindowChoice(
                samples, f"4 × the data's decorrelation time ({tau} samples), no dominant period"
            )
    if limit is not None and choice.samples > limit:
        return WindowChoice(
            max(limit - limit % 4, 8), choice.how + f", cut to {limit} by the short fit stretch"
        )
    return choice


def _period(acf: F64) -> int | None:
    """The lag of the autocorrelation's highest peak after its first dip below 0.1."""
    dips = np.flatnonzero(acf < 0.1)
    if not dips.size:
        return None
    best: tuple[float, int] | None = None
    for lag in range(max(int(dips[0]), MIN_PERIOD), len(acf) - 1):
        if acf[lag] >= acf[lag - 1] and acf[lag] >= acf[lag + 1] and acf[lag] > PERIOD_PEAK:
            if best is None or acf[lag] > best[0] + 0.05:
                best = (float(acf[lag]), lag)
            if best is not None and lag > 2 * best[1]:
                break
    return best[1] if best is not None else None


@dataclass
class HeldOut:
    """One held-out normal stretch with the samples before it that warm the model up."""

    series: Series  # warm-up + held-out, cleaned
    warmup: int  # samples of ``series`` before the held-out part


@dataclass
class Calibrated:
    """The calibration and the figures that justify it (for the card)."""

    calibration: AnomalyCalibration
    figures: dict[str, Any] = field(default_factory=dict)


def calibrate(
    run: Callable[[F32, F32], F32],
    spec: GraphSpec,
    held_out: Sequence[HeldOut],
    train: Sequence[Mapping[str, F32]],
    *,
    rate_hz: float,
    window: int,
    stride: int,
    smoothing: int,
    debounce: int,
    gap: int,
    budget: float,
    margin: float,
    masked: Sequence[str],
    fitted: str,
) -> Calibrated:
    """Residual scales, thresholds and ranges from the held-out stretches (never labels).

    Each sensor's residuals on the held-out samples give its median and scale (1.4826 MAD);
    the scores of the held-out samples, whitened by those, give each component's and the
    machine's threshold at ``1 - budget`` (:func:`gnn.anomaly.quantile_threshold`). The
    learned range of a sensor is the span of its values over the fit stretch (training and
    held-out parts).
    """
    predicted: list[tuple[dict[str, F64], dict[str, F64]]] = []  # (target, prediction)
    residuals: dict[str, list[F64]] = {}
    for part in held_out:
        values = {
            k: (np.full_like(v, np.nan) if k in masked else v)
            for k, v in part.series.values.items()
        }
        prediction = predict_series(run, spec, values, window=window, stride=stride)
        target = normalised(spec, values)
        predicted.append((target, prediction))
        for s in spec.sensors:
            if s.id in masked or s.id not in target:
                continue
            r = (target[s.id] - prediction[s.id])[part.warmup :]
            residuals.setdefault(s.id, []).append(r)
    scales: dict[str, SensorResidual] = {}
    for sensor, parts in residuals.items():
        r = np.concatenate(parts)
        r = r[np.isfinite(r)]
        if r.size < 10:
            continue
        med = float(np.median(r))
        scale = MAD_TO_SD * float(np.median(np.abs(r - med)))
        scales[sensor] = SensorResidual(median=med, scale=max(scale, MIN_SCALE))
    if not scales:
        from ingestion.errors import HydroDiagError

        raise HydroDiagError(
            "the held-out part of the fit stretch has no sensor with enough data to calibrate "
            "the anomaly score; choose a longer stretch with data."
        )
    groups = sensor_groups(spec, list(scales))
    pooled: dict[str, list[F64]] = {}
    for part, (target, prediction) in zip(held_out, predicted, strict=True):
        z = {
            s: (target[s] - prediction[s] - scales[s].median) / scales[s].scale
            for s in scales
            if s in target
        }
        scores = score_series(z, smoothing, groups)
        for g, sc in scores.groups.items():
            pooled.setdefault(g, []).append(sc[part.warmup :])
    thresholds = {}
    held_alarm: dict[str, float] = {}
    for g, parts in pooled.items():
        sc = np.concatenate(parts)
        q = quantile_threshold(sc, budget)
        if math.isfinite(q):
            thresholds[g] = q
            flagged = sum(
                b - a
                for p in parts
                for a, b in alarm_runs(p / (q * margin), debounce=debounce, gap=gap)
            )
            held_alarm[g] = flagged / max(sum(np.isfinite(p).sum() for p in parts), 1)
    fit_parts = [
        *train,
        *({k: v[h.warmup :] for k, v in h.series.values.items()} for h in held_out),
    ]
    ranges = _ranges(fit_parts, masked)
    slack = _range_slack(fit_parts, ranges)
    calibration = AnomalyCalibration(
        rate_hz=rate_hz,
        window=window,
        stride=stride,
        smoothing=smoothing,
        debounce=debounce,
        gap=gap,
        budget=budget,
        margin=margin,
        residuals=scales,
        thresholds=thresholds,
        ranges=ranges,
        range_slack=slack,
        masked_sensors=tuple(masked),
        fitted=fitted,
    )
    samples = sum(h.series.length - h.warmup for h in held_out)
    figures = {
        "held_out_samples": int(samples),
        "residual_scale": {s: round(v.scale, 5) for s, v in scales.items()},
        "thresholds": {g: round(v, 5) for g, v in thresholds.items()},
        "held_out_alarm_share_after_margin": {g: round(v, 5) for g, v in held_alarm.items()},
        "what": "each sensor's prediction error on the held-out normal stretch(es) (median, "
        "1.4826 MAD, normalised units) and the score quantile at 1 - budget per component "
        f"and for the machine ('{EQUIPMENT}'); thresholds are these times the margin",
    }
    return Calibrated(calibration, figures)


RANGE_TOLERANCE = 0.05  # share of a learned range's width allowed beyond it
RANGE_NOISE = 3.0  # ... or this many standard deviations of the sensor's sample-to-sample noise


def _range_slack(
    parts: Sequence[Mapping[str, F32]], ranges: Mapping[str, tuple[float, float]]
) -> dict[str, float]:
    """Per sensor, how far beyond its learned range a value may lie and still be inside: a
    noisy sensor's extremes over a short stretch understate its range."""
    out = {}
    for sensor, (low, high) in ranges.items():
        steps = [np.diff(np.asarray(p[sensor], dtype=np.float64)) for p in parts if sensor in p]
        d = np.concatenate(steps) if steps else np.empty(0)
        d = d[np.isfinite(d)]
        noise = MAD_TO_SD * float(np.median(np.abs(d))) / math.sqrt(2) if d.size else 0.0
        width = max(high - low, abs(high) * 1e-3, 1e-9)
        out[sensor] = max(RANGE_TOLERANCE * width, RANGE_NOISE * noise)
    return out


def _ranges(
    parts: Sequence[Mapping[str, F32]], masked: Sequence[str]
) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for part in parts:
            for sensor, a in part.items():
                finite = np.asarray(a, dtype=np.float64)
                finite = finite[np.isfinite(finite)]
                if not finite.size:
                    continue
                low, high = float(finite.min()), float(finite.max())
                if sensor in out:
                    low, high = min(low, out[sensor][0]), max(high, out[sensor][1])
                out[sensor] = (low, high)
    return {s: r for s, r in out.items() if s not in masked or r[0] == r[1]}
