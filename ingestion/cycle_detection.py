"""Load-cycle detection in a machine's signals: where does each of its repeated load cycles
start? Qt-free and torch-free, on arrays (no workspace involved).

* a :class:`CycleTemplate` is the mean shape of one cycle for a few sensors with a strong cycle
  program — derived from the profile's simulator parameters (:func:`profile_template`) or
  learnt from the data by estimating the period and folding (:func:`learn_template`);
* :func:`detect_cycles` correlates the signal with the template at every offset, finds the
  phase most cycles agree on, then refines each cycle's start locally. It says "no cycle"
  (``found=False`` with the reason) on data without that cycle structure.

:mod:`ingestion.cycles` applies it to an equipment's data in a workspace.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

MIN_SCORE: Final = 0.5
"""Least correlation with the template (mean over the template's sensors) for a cycle to count.
On the real rig's 1805 cycles a whole cycle scores about 0.9; white noise about 0 ± 0.15."""
MIN_CONTRAST: Final = 2.0
"""Template sensors: cycle-program variation at least this many times the cycle-to-cycle noise."""
MAX_TEMPLATE_SENSORS: Final = 6
MAX_FILL_S: Final = 3.0  # interpolate holes up to this long (polling jitter leaves empty buckets)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CycleTemplate:
    """The mean shape of one load cycle: ``shape[c, t]`` for ``sensors[c]`` at ``rate_hz``,
    ``t = 0`` being the first sample of the cycle."""

    sensors: tuple[str, ...]
    shape: FloatArray  # [C, P]
    rate_hz: float
    source: str
    # [C, P] how much each sample counts in the match (None = all alike): samples whose value
    # depends on the machine's condition (the valve's switching edge) count less, so that a
    # lagging valve is not mistaken for a shifted cycle
    weight: FloatArray | None = None

    @property
    def length(self) -> int:
        """P, samples per cycle."""
        return int(self.shape.shape[1])

    @property
    def period_s(self) -> float:
        return self.length / self.rate_hz

    def restricted(self, sensors: Sequence[str]) -> CycleTemplate:
        """The template for only those of its sensors in ``sensors`` (order kept)."""
        keep = [i for i, s in enumerate(self.sensors) if s in set(sensors)]
        return CycleTemplate(
            tuple(self.sensors[i] for i in keep),
            self.shape[keep],
            self.rate_hz,
            self.source,
            None if self.weight is None else self.weight[keep],
        )


class CycleDetection(BaseModel):
    """What :func:`detect_cycles` found. Positions are in samples from the first sample of the
    input arrays (sample ``i`` covers ``[i, i + 1) / rate_hz``); fractional after refinement."""

    model_config = ConfigDict(frozen=True)

    found: bool
    reason: str  # one sentence: what was found, or why no cycle was detected
    rate_hz: float
    period_s: float | None = None
    phase: int | None = None  # the starts most cycles agree on are phase + k * period samples
    score: float = 0.0  # mean correlation with the template at that phase
    starts: tuple[float, ...] = ()  # refined start of every matched whole cycle
    scores: tuple[float, ...] = ()  # its correlation with the template
    possible_cycles: int = 0  # whole cycles the input could hold
    sensors: tuple[str, ...] = ()  # the template sensors used
    template_source: str = ""

    @property
    def n_cycles(self) -> int:
        return len(self.starts)

    def start_times(self, first: datetime) -> list[datetime]:
        """The cycle starts as times, given the time at which sample 0 starts."""
        return [first + timedelta(seconds=s / self.rate_hz) for s in self.starts]


# -- templates ------------------------------------------------------------------------------


def profile_template(
    profile_id: str,
    *,
    sensors: Sequence[str] | None = None,
    max_sensors: int = MAX_TEMPLATE_SENSORS,
) -> CycleTemplate | None:
    """The profile's mean cycle from its simulator parameters (``resources/simulator/``), averaged
    over every combination of the data set's condition levels, at 1 Hz; None if the profile has
    none. Keeps the sensors whose cycle program stands out of the noise most (``MIN_CONTRAST``),
    at most ``max_sensors``, and only those in ``sensors`` when given."""
    from ingestion.simulator import (
        FACTORS,
        GRADE_LEVELS,
        Conditions,
        load_simulator_params,
        simulator_params_path,
    )

    if not simulator_params_path(profile_id).exists():
        return None
    params = load_simulator_params(profile_id)
    grid = itertools.product(*([level for level, _ in GRADE_LEVELS[f]] for f in FACTORS))
    cells = np.array(
        [params.mean_cycle(Conditions(**dict(zip(FACTORS, c, strict=True)))) for c in grid]
    )
    mean = cells.mean(axis=0)
    noise = np.sqrt(np.mean(params.scale**2, axis=1))
    contrast = mean.std(axis=1) / np.maximum(noise, 1e-12)
    allowed = set(sensors) if sensors is not None else set(params.sensors)
    ranked = [
        i
        for i in np.argsort(-contrast)
        if contrast[i] >= MIN_CONTRAST and params.sensors[i] in allowed
    ][:max_sensors]
    if not ranked:
        return None
    # inverse variance per sample: spread over the conditions + the rig's own variation, with
    # a floor (2 % of the sensor's cycle range) so that exactly flat phases do not dominate
    floor = 0.02 * np.ptp(mean, axis=1, keepdims=True)
    variance = cells.var(axis=0) + params.scale**2 + floor**2
    return CycleTemplate(
        sensors=tuple(params.sensors[i] for i in ranked),
        shape=np.asarray(mean[ranked], dtype=np.float64),
        rate_hz=1.0,
        source=f"mean cycle of the {profile_id} simulator parameters",
        weight=np.asarray(1.0 / variance[ranked], dtype=np.float64),
    )


def estimate_period(
    values: Mapping[str, npt.ArrayLike],
    *,
    rate_hz: float = 1.0,
    min_period_s: float = 10.0,
    max_period_s: float = 300.0,
) -> tuple[int, float] | None:
    """(period in samples, autocorrelation at it) of the strongest repetition, or None.

    Mean autocorrelation of the standardised sensors over the lags in the range; of the lags
    within 10 % of the best, the shortest wins (a period repeats at its multiples too)."""
    x = _stack(values)
    if x is None:
        return None
    n = x.shape[1]
    lo = max(2, math.ceil(min_period_s * rate_hz))
    hi = min(int(max_period_s * rate_hz), n // 2)
    if hi <= lo:
        return None
    z = _standardise(x)
    if z is None:
        return None
    filled = np.nan_to_num(z)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(filled, size, axis=1)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=1)[:, :n]
    valid = np.isfinite(z).astype(np.float64)
    vs = np.fft.rfft(valid, size, axis=1)
    counts = np.fft.irfft(vs * np.conj(vs), size, axis=1)[:, :n]
    acf = acf / np.maximum(counts, 1.0)
    mean_acf = acf.mean(axis=0)
    lags = np.arange(lo, hi + 1)
    best = float(mean_acf[lags].max())
    if not best > 0:
        return None
    # local maxima close to the best: the fundamental, not a multiple
    for lag in lags:
        peak = mean_acf[lag] >= mean_acf[lag - 1] and mean_acf[lag] >= mean_acf[lag + 1]
        if peak and mean_acf[lag] >= 0.9 * best:
            return int(lag), float(mean_acf[lag])
    return None


def learn_template(
    values: Mapping[str, npt.ArrayLike],
    *,
    rate_hz: float = 1.0,
    min_period_s: float = 10.0,
    max_period_s: float = 300.0,
    min_autocorrelation: float = 0.5,
) -> CycleTemplate | None:
    """A template learnt from the data: the period by autocorrelation, the shape by folding.

    Without a reference, where a cycle "starts" is a convention: here, the sample after the
    steepest rise of the first sensor (on the reference rig that is the pressure step that
    begins each load cycle, so list ``PS1`` first). Needs three periods of data at least;
    None when nothing repeats strongly enough."""
    names = list(values)
    found = estimate_period(
        values, rate_hz=rate_hz, min_period_s=min_period_s, max_period_s=max_period_s
    )
    if found is None or found[1] < min_autocorrelation:
        return None
    period = found[0]
    x = _fill_short_holes(_stack(values), round(MAX_FILL_S * rate_hz))
    assert x is not None
    k = x.shape[1] // period
    if k < 3:
        return None
    with np.errstate(invalid="ignore"), quiet_nan_warnings():
        shape = np.nanmean(x[:, : k * period].reshape(x.shape[0], k, period), axis=1)
    if not np.isfinite(shape).all():
        return None
    rise = np.diff(shape[0], prepend=shape[0, -1])  # circular: last sample to first
    shape = np.roll(shape, -int(np.argmax(rise)), axis=1)
    return CycleTemplate(
        sensors=tuple(names),
        shape=shape,
        rate_hz=rate_hz,
        source=f"learnt from the data (period {period / rate_hz:g} s, autocorrelation "
        f"{found[1]:.2f})",
    )


# -- detection ------------------------------------------------------------------------------


def detect_cycles(
    values: Mapping[str, npt.ArrayLike],
    template: CycleTemplate,
    *,
    min_score: float = MIN_SCORE,
    search_s: float = 3.0,
    min_cycles: int = 1,
) -> CycleDetection:
    """Find the cycle starts in ``values`` (sensor → samples on a regular grid at the template's
    rate, NaN where none) by correlating with ``template``.

    1. For every offset, the correlation of the whole-cycle window starting there with the
       template (per sensor, then averaged over the sensors present).
    2. The phase (offset modulo the period) with the highest mean correlation over all whole
       cycles: where most cycles agree. Below ``min_score`` → no cycle.
    3. Each cycle's start is refined within ``search_s`` of that phase (sub-sample by a
       parabola through the peak); cycles scoring below ``min_score`` (an outage, a
       stop) are left out. Fewer than ``min_cycles`` left, or fewer than half of the whole
       cycles the data could hold → no cycle.
    """
    rate = template.rate_hz
    period = template.length
    base = CycleDetection(
        found=False,
        reason="",
        rate_hz=rate,
        period_s=template.period_s,
        template_source=template.source,
    )
    present = [
        s
        for s in template.sensors
        if s in values and np.isfinite(np.asarray(values[s], dtype=np.float64)).any()
    ]
    if not present:
        return base.model_copy(
            update={
                "reason": "no cycle detected: none of the sensors that show the load cycle "
                f"({', '.join(template.sensors)}) has data."
            }
        )
    tpl = template.restricted(present)
    x = _fill_short_holes(_stack({s: values[s] for s in present}), round(MAX_FILL_S * rate))
    assert x is not None
    n = x.shape[1]
    possible = n // period
    base = base.model_copy(update={"sensors": tuple(present), "possible_cycles": possible})
    if n < period:
        return base.model_copy(
            update={
                "reason": f"no cycle detected: {n / rate:g} s of data is shorter than one "
                f"{template.period_s:g} s cycle."
            }
        )
    r = _sliding_correlation(x, tpl.shape, tpl.weight)  # [n - period + 1]
    offsets = r.size
    phase_scores = np.full(period, np.nan)
    for phase in range(min(period, offsets)):
        picks = r[phase::period]
        if np.isfinite(picks).any():
            phase_scores[phase] = float(np.nanmean(picks))
    if not np.isfinite(phase_scores).any():
        return base.model_copy(
            update={"reason": "no cycle detected: no whole cycle of continuous data."}
        )
    phase = int(np.nanargmax(phase_scores))
    score = float(phase_scores[phase])
    base = base.model_copy(update={"phase": phase, "score": round(score, 4)})
    if score < min_score:
        return base.model_copy(
            update={
                "reason": f"no cycle detected: the data matches the {template.period_s:g} s "
                f"load cycle at best {score:.2f} (a cycle needs {min_score:.2f})."
            }
        )
    search = max(1, round(search_s * rate))
    starts: list[float] = []
    scores: list[float] = []
    for expected in range(phase, offsets, period):
        lo, hi = max(0, expected - search), min(offsets, expected + search + 1)
        window = r[lo:hi]
        if not np.isfinite(window).any():
            continue
        best = lo + int(np.nanargmax(window))
        if r[best] < min_score:
            continue
        if starts and best - starts[-1] < period / 2:
            continue  # the previous cycle's search already took this one
        starts.append(best + _parabolic_offset(r, best))
        scores.append(float(r[best]))
    needed = max(min_cycles, math.ceil(possible / 2))
    if len(starts) < needed:
        return base.model_copy(
            update={
                "starts": tuple(starts),
                "scores": tuple(scores),
                "reason": f"no cycle detected: only {len(starts)} of {possible} possible "
                f"cycles match the {template.period_s:g} s load cycle.",
            }
        )
    return base.model_copy(
        update={
            "found": True,
            "starts": tuple(round(s, 3) for s in starts),
            "scores": tuple(round(s, 4) for s in scores),
            "reason": f"{len(starts)} load cycles of {template.period_s:g} s detected "
            f"(match {score:.2f}, sensors {', '.join(present)})",
        }
    )


def _stack(values: Mapping[str, npt.ArrayLike]) -> FloatArray | None:
    arrays = [np.asarray(v, dtype=np.float64).ravel() for v in values.values()]
    if not arrays:
        return None
    n = min(a.size for a in arrays)
    return np.stack([a[:n] for a in arrays])


def _standardise(x: FloatArray) -> FloatArray | None:
    """Per sensor zero mean, unit spread; flat or empty sensors dropped (None if none left)."""
    with quiet_nan_warnings():
        mean = np.nanmean(x, axis=1, keepdims=True)
        sd = np.nanstd(x, axis=1, keepdims=True)
    keep = np.isfinite(sd[:, 0]) & (sd[:, 0] > 1e-9 * np.maximum(1.0, np.abs(mean[:, 0])))
    if not keep.any():
        return None
    out: FloatArray = (x[keep] - mean[keep]) / sd[keep]
    return out


def _fill_short_holes(x: FloatArray | None, longest: int) -> FloatArray | None:
    """Linear interpolation across NaN runs of at most ``longest`` samples (inside the data)."""
    if x is None or longest < 1:
        return x
    out = x.copy()
    for row in out:
        bad = ~np.isfinite(row)
        if not bad.any() or bad.all():
            continue
        idx = np.flatnonzero(~bad)
        # run lengths of the holes between known samples
        edges = np.diff(bad.astype(np.int8), prepend=0, append=0)
        run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        fill = np.zeros(row.size, dtype=bool)
        for a, b in zip(run_starts, run_ends, strict=True):
            if a > 0 and b < row.size and b - a <= longest:
                fill[a:b] = True
        if fill.any():
            row[fill] = np.interp(np.flatnonzero(fill), idx, row[idx])
    return out


def _sliding_correlation(
    x: FloatArray, template: FloatArray, weight: FloatArray | None = None
) -> FloatArray:
    """Weighted Pearson correlation of every whole-cycle window of ``x`` [C, N] with
    ``template`` [C, P] (weights [C, P], per sensor normalised), averaged over the sensors;
    NaN where a window has a hole. A flat window or flat template sensor counts as 0 (no
    evidence of a cycle)."""
    period = template.shape[1]
    w = np.ones_like(template) if weight is None else np.asarray(weight, dtype=np.float64)
    w = w / w.sum(axis=1, keepdims=True)
    t = template - (w * template).sum(axis=1, keepdims=True)
    t_norm = np.sqrt((w * t**2).sum(axis=1))
    windows = np.lib.stride_tricks.sliding_window_view(x, period, axis=1)  # [C, W, P]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.einsum("cwp,cp->cw", windows, w)
        centred_sq = np.einsum("cwp,cp->cw", windows**2, w) - mean**2
        w_norm = np.sqrt(np.maximum(centred_sq, 0.0))
        dot = np.einsum("cwp,cp->cw", windows, w * t)  # Σ w (x - mean) t = Σ w x t: Σ w t = 0
        denom = w_norm * t_norm[:, None]
        scale = np.maximum(np.abs(mean), 1.0)
        flat = (w_norm <= 1e-9 * scale) | (t_norm[:, None] <= 1e-12)
        corr = np.where(flat, 0.0, dot / np.where(denom > 0, denom, 1.0))
        corr = np.where(np.isfinite(mean), corr, np.nan)
    with quiet_nan_warnings():
        out: FloatArray = np.nanmean(corr, axis=0)
    return out


def _parabolic_offset(r: FloatArray, i: int) -> float:
    if i <= 0 or i >= r.size - 1 or not np.isfinite(r[i - 1 : i + 2]).all():
        return 0.0
    a, b, c = r[i - 1], r[i], r[i + 1]
    denom = a - 2 * b + c
    if denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))


@contextlib.contextmanager
def quiet_nan_warnings() -> Iterator[None]:
    """Silences "mean of empty slice" for all-NaN rows; the NaN result is what we want."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
