"""Load-cycle detection in continuous data: where does each of the machine's repeated load cycles
start? Qt-free and torch-free.

The shipped model was trained on whole cycles of the reference rig (one window = one 60 s
cycle, starting at the cycle's start); windows cut on a fixed clock mid-cycle cost it most of
its pump accuracy. This module finds the cycle starts from the signals themselves so that live
feeds and continuous logs can be diagnosed cycle by cycle:

* a :class:`CycleTemplate` is the mean shape of one cycle for a few sensors with a strong cycle
  program — derived from the profile's simulator parameters (:func:`profile_template`) or
  learnt from the data by estimating the period and folding (:func:`learn_template`);
* :func:`detect_cycles` correlates the recent signal with the template at every offset, finds
  the phase most cycles agree on, then refines each cycle's start locally. It says "no cycle"
  (``found=False`` with the reason) on data without that cycle structure;
* :func:`align_recent_window` does this for the last minutes of an equipment in a workspace
  and returns the time range whose fixed-length windows start at detected cycle starts — what
  the live rolling diagnosis hands to the diagnosis engine.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from ingestion.errors import HydroDiagError
from ingestion.workspace import Store

MIN_SCORE: Final = 0.5
"""Least correlation with the template (mean over the template's sensors) for a cycle to count.
On the real rig's 1805 cycles a whole cycle scores about 0.9; white noise about 0 ± 0.15."""
MIN_CONTRAST: Final = 2.0
"""Template sensors: cycle-program variation at least this many times the cycle-to-cycle noise."""
MAX_TEMPLATE_SENSORS: Final = 6
SUB_BUCKETS: Final = 50  # sub-second shifts tried when aligning to a workspace's data
MAX_FILL_S: Final = 3.0  # interpolate holes up to this long (polling jitter leaves empty buckets)

UNALIGNED_WARNING: Final = "unaligned_windows"
"""DataQualityWarning.kind of a diagnosis on windows not cut at detected load-cycle starts."""
PARTLY_ALIGNED_WARNING: Final = "partly_aligned_windows"
"""DataQualityWarning.kind when some of the aligned windows miss a detected cycle start."""

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
    with np.errstate(invalid="ignore"), _quiet_nan_warnings():
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


# -- a workspace's recent data ---------------------------------------------------------------


class CycleAlignment(BaseModel):
    """The time range of an equipment's recent data to diagnose in whole detected cycles.

    When ``aligned``, fixed-length windows of ``period_s`` laid from ``start`` to ``end`` each
    begin at a detected cycle start (``end - start`` is a whole number of cycles). When not,
    ``message`` says why, for the diagnosis's data-quality warnings."""

    model_config = ConfigDict(frozen=True)

    aligned: bool
    message: str
    start: datetime | None = None
    end: datetime | None = None
    cycles: int = 0
    unmatched: int = 0  # of those windows, how many begin where no cycle start was detected
    period_s: float | None = None
    detection: CycleDetection | None = None
    starts: tuple[datetime, ...] = ()  # every detected cycle start in the look-back


def equipment_has_cycles(store: Store, equipment_id: str) -> bool:
    """Whether the equipment's data comes in load cycles, i.e. the workspace has a cycle table
    for it (the engine then diagnoses by those cycles and needs no detection; training cuts
    one window per cycle); else it is a continuous log."""
    row = (
        store.cursor()
        .execute("SELECT count(*) FROM cycles WHERE equipment_id = ?", [equipment_id])
        .fetchone()
    )
    return bool(row and row[0])


def align_recent_window(
    store: Store,
    equipment_id: str,
    *,
    window_s: float,
    template: CycleTemplate | None = None,
    min_lookback_cycles: int = 5,
) -> CycleAlignment:
    """Detect the load cycles in the equipment's most recent data and return the whole cycles
    that lie in its last ``window_s`` seconds.

    The template is the profile's (:func:`profile_template`) unless given; without one it is
    learnt from the profile's pressure and power sensors (:func:`learn_template`). Detection
    looks back at least ``min_lookback_cycles`` cycles, so that even a short window finds its
    phase. Reads through :func:`ingestion.queries.sliding_windows`, on the same 1 s buckets the
    engine's windows will use: the detected start is a bucket edge of its grid.
    """
    if window_s <= 0:
        raise HydroDiagError(f"the diagnosis window must be positive, not {window_s:g} s.")
    return _align(
        store,
        equipment_id,
        window_s=window_s,
        template=template,
        min_lookback_cycles=min_lookback_cycles,
    )


def align_range(
    store: Store,
    equipment_id: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    template: CycleTemplate | None = None,
    min_lookback_cycles: int = 5,
) -> CycleAlignment:
    """Like :func:`align_recent_window`, for an explicit range ``[start, end)`` of the
    equipment's data (None: from its first sample / to the end of its last). The windows laid
    begin at the first detected cycle start at or after ``start`` and end by ``end``; when the
    range is shorter than ``min_lookback_cycles`` cycles, detection looks back before
    ``start`` (never after ``end``), as the rolling diagnosis does."""
    if start is not None and end is not None and start >= end:
        raise HydroDiagError(f"cycle alignment: the range start {start} is not before {end}.")
    return _align(
        store,
        equipment_id,
        start=start,
        end=end,
        template=template,
        min_lookback_cycles=min_lookback_cycles,
    )


def _align(
    store: Store,
    equipment_id: str,
    *,
    window_s: float | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    template: CycleTemplate | None,
    min_lookback_cycles: int,
) -> CycleAlignment:
    """Both: the last ``window_s`` seconds of the data, or ``[start, end)`` clipped to it."""
    from ingestion.catalog import equipment_profile
    from ingestion.profiles import Quantity
    from ingestion.queries import equipment_time_range, sliding_windows

    profile = equipment_profile(store.cursor(), equipment_id)
    span = equipment_time_range(store, equipment_id)
    if span is None:
        return CycleAlignment(aligned=False, message="no data to detect load cycles in.")
    if template is None:
        template = profile_template(profile.id, sensors=profile.sensor_ids)
    rate = template.rate_hz if template is not None else 1.0
    bucket_us = round(1e6 / rate)
    last_us = int(span[1].astype("datetime64[us]").astype(np.int64))
    data_first_us = int(span[0].astype("datetime64[us]").astype(np.int64))
    end_us = last_us + bucket_us  # the last sample stands for [last, last + 1/rate), as the engine
    if end is not None:
        end_us = min(end_us, _datetime_to_us(end))
    if window_s is not None:
        recent = True
        window_start_us = end_us - round(window_s * 1e6)
        where = f"the last {window_s:g} s"
    else:
        recent = False
        window_start_us = data_first_us
        if start is not None:
            window_start_us = max(data_first_us, _datetime_to_us(start))
        window_s = (end_us - window_start_us) / 1e6
        where = (
            f"the {max(window_s, 0):g} s from {_us_to_datetime(window_start_us):%Y-%m-%d %H:%M:%S}"
        )
        if window_s <= 0:
            return CycleAlignment(aligned=False, message=f"no data in {where}.")
    period_guess = template.period_s if template is not None else 60.0
    lookback = max(window_s, min_lookback_cycles * period_guess)
    samples = math.ceil(lookback * rate)
    samples = min(samples, max(1, math.ceil((end_us - data_first_us) / bucket_us)))
    grid_start_us = end_us - samples * bucket_us
    if template is not None:
        sensors = list(template.sensors)
    else:
        wanted = {Quantity.PRESSURE, Quantity.ELECTRICAL_POWER}
        sensors = [s.id for s in profile.sensors if s.quantity in wanted] or list(
            profile.sensor_ids
        )
    # Read on a grid SUB_BUCKETS times finer and try each sub-second shift of the 1 s buckets:
    # with dense data (100 Hz pressures) the cycle start falls anywhere within a second, and
    # the model's 1 s means are only right on buckets that begin where the cycle begins.
    windows = sliding_windows(
        store,
        equipment_id,
        sensors,
        start=_us_to_datetime(grid_start_us),
        end=_us_to_datetime(end_us),
        length_s=samples / rate,
        stride_s=samples / rate,
        rate_hz=rate * SUB_BUCKETS,
    )
    fine = {s: windows.values[s][0].astype(np.float64) for s in sensors}
    n = samples - 1  # whole buckets at every shift

    def shifted(j: int) -> dict[str, FloatArray]:
        with _quiet_nan_warnings():
            return {
                s: np.nanmean(v[j : j + n * SUB_BUCKETS].reshape(n, SUB_BUCKETS), axis=1)
                for s, v in fine.items()
            }

    if template is None:
        template = learn_template(shifted(0), rate_hz=rate)
        if template is None:
            return CycleAlignment(
                aligned=False,
                message=f"no load cycle detected in {_lookback(samples / rate, end_us, recent)}: profile "
                f"{profile.id!r} has no cycle template and no period repeats in its pressure "
                "and power signals.",
            )
    detections = [detect_cycles(shifted(j), template) for j in range(SUB_BUCKETS)]
    found = [(j, d) for j, d in enumerate(detections) if d.found and d.phase is not None]
    if not found:
        return CycleAlignment(
            aligned=False,
            message=f"{detections[0].reason} ({_lookback(samples / rate, end_us, recent)})",
            detection=detections[0],
        )
    period_us = template.length * bucket_us
    best = max(d.score for _, d in found)
    # Shifts that give the very same buckets (sparse 1 Hz samples: the same sample in each)
    # score exactly alike; of those, the middle keeps every sample away from a bucket edge.
    tied = [(j, d) for j, d in found if d.score >= best - 1e-9]
    offsets = np.array([_offset_us(j, d, bucket_us) % period_us for j, d in tied], dtype=float)
    angles = 2 * np.pi * offsets / period_us
    centre = np.angle(np.mean(np.exp(1j * angles)))
    pick = int(np.argmin(np.abs(np.angle(np.exp(1j * (angles - centre))))))
    j, detection = tied[pick]
    origin_us = grid_start_us + _offset_us(j, detection, bucket_us)
    starts = tuple(
        _us_to_datetime(grid_start_us + round((j / SUB_BUCKETS + st) * bucket_us))
        for st in detection.starts
    )
    # The first window: the earliest start on the detected phase (cycles before the detected
    # phase too) in the range. At the data's first sample it may begin a little (under a
    # bucket) early: on 1 Hz data the chosen phase sits about half a second before the cycle's
    # first sample, and a log that starts at a cycle start must not lose that cycle.
    earliest_us = window_start_us
    if window_start_us <= data_first_us:
        earliest_us = data_first_us - (bucket_us // 2 + bucket_us // SUB_BUCKETS)
    first_us = origin_us + math.ceil((earliest_us - origin_us) / period_us) * period_us
    cycles = (end_us - first_us) // period_us
    if cycles < 1:
        return CycleAlignment(
            aligned=False,
            message=f"{detection.reason}, but {where} hold no whole cycle; "
            "diagnose a longer window.",
            detection=detection,
            period_s=template.period_s,
            starts=starts,
        )
    # The windows are laid at the phase most cycles agree on; those without a detected cycle
    # start within a second of their own start (a restart shifted the phase, an outage) are
    # counted, so that the caller can say so.
    laid = first_us + np.arange(cycles) * period_us
    detected_us = grid_start_us + np.round(
        (j / SUB_BUCKETS + np.asarray(detection.starts)) * bucket_us
    ).astype(np.int64)
    nearest = np.abs(laid[:, None] - detected_us[None, :]).min(axis=1)
    # Only windows whose whole cycle lies on the detection's (shifted) grid could have been
    # detected: one laid half a second before a log's first sample, or one ending exactly at
    # the range's end (the shifted grid is a bucket shorter), is not counted.
    grid_lo = grid_start_us + round(j * bucket_us / SUB_BUCKETS)
    grid_hi = grid_lo + n * bucket_us
    checkable = (laid >= grid_lo) & (laid + period_us <= grid_hi)
    unmatched = int(((nearest > 1e6 * max(1.0, 1.0 / rate)) & checkable).sum())
    return CycleAlignment(
        aligned=True,
        message=f"{cycles} whole load cycles in the window; {detection.reason}",
        start=_us_to_datetime(first_us),
        end=_us_to_datetime(first_us + cycles * period_us),
        cycles=cycles,
        unmatched=unmatched,
        period_s=template.period_s,
        detection=detection,
        starts=starts,
    )


def _offset_us(shift: int, detection: CycleDetection, bucket_us: int) -> int:
    """Where a detection on the grid shifted by ``shift`` sub-buckets puts its phase (µs from
    the unshifted grid's start)."""
    assert detection.phase is not None
    return round((shift / SUB_BUCKETS + detection.phase) * bucket_us)


def _us_to_datetime(us: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=us)


def _datetime_to_us(t: datetime) -> int:
    """Naive UTC (the workspace's convention) to µs since the epoch."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return (t - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def _lookback(seconds: float, end_us: int, recent: bool) -> str:
    """Where detection looked, for messages (the rolling diagnosis's wording: "last N s")."""
    if recent:
        return f"last {seconds:g} s"
    return f"{seconds:g} s up to {_us_to_datetime(end_us):%Y-%m-%d %H:%M:%S}"


def _stack(values: Mapping[str, npt.ArrayLike]) -> FloatArray | None:
    arrays = [np.asarray(v, dtype=np.float64).ravel() for v in values.values()]
    if not arrays:
        return None
    n = min(a.size for a in arrays)
    return np.stack([a[:n] for a in arrays])


def _standardise(x: FloatArray) -> FloatArray | None:
    """Per sensor zero mean, unit spread; flat or empty sensors dropped (None if none left)."""
    with _quiet_nan_warnings():
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
    with _quiet_nan_warnings():
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
def _quiet_nan_warnings() -> Iterator[None]:
    """Silences "mean of empty slice" for all-NaN rows; the NaN result is what we want."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
