"""Models that learned a machine's normal: from their predictions to calibrated anomaly scores,
episodes located to the sample and excursions outside the learned operating range (the
headline of a diagnosis that grades nothing is :mod:`gnn.anomaly_headline`). Numpy only.

A model fitted by ``hydrodiag fit`` (``training.normal``) predicts every sensor one step
ahead from its own past and its graph neighbours (``gnn.model.NormalGNN``). Here:

1. The equipment's data over the selection is read as one series per sensor at the model's
   rate and cut into overlapping windows (every ``stride`` samples); each sample is predicted
   once, from the window in which it has at least ``window - stride`` samples of context.
2. Residual = value (normalised as in training, never clipped) − prediction, whitened per
   sensor by the median and MAD of its residuals on the held-out normal stretch:
   ``z = (r - median) / (1.4826 MAD)``.
3. Per sensor, the moving median of ``|z|`` over ``smoothing`` samples (centred; one outlier
   sample does not make an alarm, a lasting shift does); per component, the root mean square
   of its sensors'; for the machine, of all sensors'.
4. Each score is divided by its threshold: the (1 - budget) quantile of the same score on the
   held-out normal stretch (the larger of the empirical quantile and a robust normal one,
   median + z·1.4826 MAD), times ``margin`` for what lies beyond that stretch. 1.0 is the
   threshold.
5. Episodes: runs above 1.0, shorter gaps than ``gap`` closed, shorter runs than
   ``debounce`` dropped (as the profile's limits are debounced).

A component without sensors is "not assessed"; a component is healthy without episodes,
warning with episodes, critical when one peaks at ``critical`` times its threshold.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gnn import contract
from gnn.graph import GraphSpec, build_inputs
from gnn.results import (
    AnomalyEpisode,
    RangeExcursion,
)
from gnn.runtime import LoadedModel, ModelError
from gnn.selection import EngineError, Selection
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.queries import equipment_time_range, sliding_windows
from ingestion.workspace import Store

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

EQUIPMENT = "*"  # the key of the machine-wide score among the component thresholds
MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation
MIN_SCALE = 1e-3  # floor of a residual scale, normalised units (a sensor predicted exactly)
MAX_SERIES = 4_000_000  # samples per sensor one diagnosis reads (memory: ~16 MB per sensor)
BATCH = 256  # windows per inference call
CONTRIBUTOR_LEVEL = 2.0  # smoothed |z| above which a sensor "deviates" in an episode
MAX_EPISODE_SENSORS = 4
EXCURSION_JOIN_S = 60.0  # excursions outside the learned range this close are one


class SensorResidual(BaseModel):
    """How a sensor's prediction error is spread on held-out normal data (normalised units)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    median: float
    scale: float = Field(gt=0, description="1.4826 × MAD")


class AnomalyCalibration(BaseModel):
    """What turns an anomaly model's predictions into calibrated scores; written by
    ``training.normal`` into the model's metadata (``hydrodiag.anomaly``) and its card."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    rate_hz: float = Field(gt=0)
    window: int = Field(ge=2, description="samples per model window")
    stride: int = Field(ge=1, description="samples between the diagnosis's windows")
    smoothing: int = Field(ge=1, description="samples in the moving median of |z|")
    debounce: int = Field(ge=1, description="an episode lasts at least this many samples")
    gap: int = Field(ge=0, description="episodes this close (samples) are one")
    budget: float = Field(gt=0, lt=1, description="false-alarm budget on held-out normal data")
    margin: float = Field(ge=1, description="threshold safety factor beyond the held-out data")
    critical: float = Field(default=2.0, gt=1, description="peak ratio from which critical")
    residuals: dict[str, SensorResidual]
    thresholds: dict[str, float] = Field(
        description="score quantile on held-out data per component id and '*' (machine)"
    )
    ranges: dict[str, tuple[float, float]] = Field(
        description="learned operating range per sensor, in its unit"
    )
    range_tolerance: float = Field(
        default=0.05, ge=0, description="share of a range's width allowed beyond it"
    )
    range_slack: dict[str, float] = Field(
        default_factory=dict,
        description="per sensor, how far (in its unit) beyond its learned range a value may lie "
        "before it is outside: the width tolerance or three times the sensor's sample-to-sample "
        "noise, whichever is larger",
    )
    masked_sensors: tuple[str, ...] = Field(
        default=(), description="sensors not learned (constant or missing in the fit stretch)"
    )
    fitted: str = Field(default="", description="the fit stretch in words, for the verdict")

    @property
    def sensors(self) -> tuple[str, ...]:
        """The sensors scored: those with a residual scale."""
        return tuple(self.residuals)

    def seconds(self, samples: int) -> float:
        return samples / self.rate_hz


def calibration_of(model: LoadedModel) -> AnomalyCalibration | None:
    """The model's calibration (``hydrodiag.anomaly``); None for a graded model.

    Raises:
        ModelError: the key is there but not a valid calibration.
    """
    raw = model.metadata.get(contract.META_ANOMALY)
    if not raw:
        return None
    try:
        return AnomalyCalibration.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(
            f"{model.path}: metadata {contract.META_ANOMALY} is not a valid calibration "
            f"({first}). Fit the model again (`hydrodiag fit`)."
        ) from None


def is_anomaly_model(model: LoadedModel) -> bool:
    """Whether the model learned a machine's normal (and grades nothing)."""
    return contract.META_ANOMALY in model.metadata


# --------------------------------------------------------------------------- reading data


@dataclass(frozen=True)
class Series:
    """Every sensor on one grid: ``values[s][k]`` is the mean of sensor ``s``'s samples in
    ``[start + k / rate_hz, start + (k + 1) / rate_hz)``, NaN where there is none."""

    start: datetime
    rate_hz: float
    values: dict[str, F32]

    @property
    def length(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0

    def time(self, k: int) -> datetime:
        return self.start + timedelta(seconds=k / self.rate_hz)

    def index(self, when: datetime) -> int:
        """The sample holding ``when`` (clamped to the series)."""
        k = math.floor((when - self.start).total_seconds() * self.rate_hz + 1e-9)
        return min(max(k, 0), self.length)


def read_series(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    rate_hz: float,
) -> Series:
    """The sensors' data in ``[start, end)`` on a grid of ``rate_hz`` (an empty series when
    the range holds less than one sample).

    Raises:
        EngineError: the range would hold more than ``MAX_SERIES`` samples per sensor.
    """
    total = math.floor((end - start).total_seconds() * rate_hz + 1e-9)
    if total > MAX_SERIES:
        raise EngineError(
            f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC holds {total:,} samples per "
            f"sensor at {rate_hz:g} Hz, more than {MAX_SERIES:,} read at once: choose a "
            "shorter range (--from/--to or --last)."
        )
    if total < 1:
        return Series(start, rate_hz, {s: np.empty(0, dtype=np.float32) for s in sensor_ids})
    windows = sliding_windows(
        store,
        equipment_id,
        list(sensor_ids),
        start=start,
        end=end,
        length_s=total / rate_hz,
        stride_s=total / rate_hz,
        rate_hz=rate_hz,
    )
    return Series(start, rate_hz, {s: windows.values[s][0] for s in sensor_ids})


def selected_span(
    store: Store, equipment_id: str, selection: Selection, rate_hz: float
) -> tuple[datetime, datetime]:
    """``[start, end)`` of a selection over the equipment's data (cycles by their times).

    Raises:
        EngineError: no data, or the selection lies outside it.
    """
    span = equipment_time_range(store, equipment_id)
    if span is None:
        raise EngineError(
            f"equipment {equipment_id!r} has no measurements in this workspace; import data "
            "first (`hydrodiag ingest ...`)."
        )
    first, last = (v.astype("datetime64[us]").tolist() for v in span)
    data_end = last + timedelta(seconds=1.0 / rate_hz)
    start, end = selection.start or first, selection.end or data_end
    if selection.last is not None:
        start, end = data_end - selection.last, data_end
    if selection.cycles is not None:
        row = (
            store.cursor()
            .execute(
                "SELECT min(start_ts), max(end_ts) FROM cycles WHERE equipment_id = ? "
                "AND cycle_no BETWEEN ? AND ?",
                [equipment_id, *selection.cycles],
            )
            .fetchone()
        )
        if row is None or row[0] is None:
            raise EngineError(
                f"equipment {equipment_id!r} has no cycles {selection.cycles[0]}-"
                f"{selection.cycles[1]}; select a time range with --from/--to instead."
            )
        start, end = row[0], row[1]
    start, end = max(start, first), min(end, data_end)
    if end <= start:
        raise EngineError(
            f"no data for equipment {equipment_id!r} in the selected range "
            f"({selection.describe()}): its measurements span {first:%Y-%m-%d %H:%M:%S} to "
            f"{last:%Y-%m-%d %H:%M:%S} UTC. Choose a range inside it."
        )
    return start, end


# --------------------------------------------------------------------------- predicting


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Starts of windows of ``window`` samples every ``stride`` over ``length`` samples, the
    last one ending at the end (one window of the whole series when it is shorter)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def predict_series(
    run: Callable[[F32, F32], F32],
    spec: GraphSpec,
    values: Mapping[str, F32],
    *,
    window: int,
    stride: int,
    progress: Progress = NO_PROGRESS,
) -> dict[str, F64]:
    """Each sensor's one-step prediction over the series, in normalised units (NaN at the
    first sample, and where a window had nothing to run).

    ``run(x, mask)`` returns the model's ``forecast`` for windows ``[B, N, T, F]``. Sample
    ``a + tau`` of window ``a`` is predicted by ``forecast[tau - 1]``; every sample is taken
    from the latest window in which it has ``window - stride`` samples before it (the first
    window's samples from 1 on), so the LSTM has warmed up.
    """
    length = len(next(iter(values.values())))
    out = {s.id: np.full(length, np.nan) for s in spec.sensors}
    if length < 2:
        return out
    size = min(window, length)
    starts = window_starts(length, size, stride)
    warm = max(1, size - stride)
    progress.start("predicting", total=len(starts), unit="windows")
    index = np.asarray(starts)[:, None] + np.arange(size)[None, :]
    for lo in range(0, len(starts), BATCH):
        check_cancelled(progress)
        rows = index[lo : lo + BATCH]
        x, mask = build_inputs(spec, {k: v[rows] for k, v in values.items()})
        if not mask.any():
            continue
        forecast = run(x, mask)
        for w in range(rows.shape[0]):
            first = 1 if lo + w == 0 else warm
            for s in spec.sensors:
                out[s.id][rows[w, first:]] = forecast[w, s.node, first - 1 : size - 1, s.slot]
        progress.update(min(lo + BATCH, len(starts)))
    progress.finish()
    return out


def normalised(spec: GraphSpec, values: Mapping[str, F32]) -> dict[str, F64]:
    """Values in the model's normalised units, unclipped (NaN stays NaN)."""
    out = {}
    for s in spec.sensors:
        if s.id in values:
            out[s.id] = (np.asarray(values[s.id], dtype=np.float64) - s.mean) / s.std
    return out


# --------------------------------------------------------------------------- scoring


def moving_median(a: F64, k: int) -> F64:
    """Centred moving median of ``a`` [L] over ``k`` samples, ignoring NaN (NaN where fewer
    than half the samples of a stretch are present)."""
    n = a.size
    if k <= 1 or n == 0:
        return a.copy()
    half = k // 2
    padded = np.concatenate([np.full(half, np.nan), a, np.full(k - 1 - half, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(padded, k)
    out = np.full(n, np.nan)
    for lo in range(0, n, 65536):
        block = view[lo : lo + 65536]
        enough = np.isfinite(block).sum(axis=1) * 2 >= min(k, n)
        with warnings.catch_warnings():  # all-NaN stretches
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(block, axis=1)
        out[lo : lo + 65536] = np.where(enough, med, np.nan)
    return out


@dataclass(frozen=True)
class Scores:
    """The scores of a series (sample axis first)."""

    sensors: tuple[str, ...]
    deviation: F64  # [L, S] smoothed |z| per sensor
    groups: dict[str, F64]  # component id and "*" -> [L] root mean square of its sensors'


def residual_z(
    calibration: AnomalyCalibration, target: Mapping[str, F64], prediction: Mapping[str, F64]
) -> dict[str, F64]:
    """Whitened residuals per scored sensor: ``(value - prediction - median) / scale``."""
    out = {}
    for sensor, scale in calibration.residuals.items():
        if sensor in target and sensor in prediction:
            r = target[sensor] - prediction[sensor]
            out[sensor] = (r - scale.median) / max(scale.scale, MIN_SCALE)
    return out


def score_series(
    z: Mapping[str, F64], smoothing: int, groups: Mapping[str, Sequence[str]]
) -> Scores:
    """Smoothed |z| per sensor and the root mean square per group of sensors."""
    sensors = tuple(z)
    length = len(next(iter(z.values()))) if z else 0
    deviation = np.full((length, len(sensors)), np.nan)
    for j, s in enumerate(sensors):
        deviation[:, j] = moving_median(np.abs(z[s]), smoothing)
    col = {s: j for j, s in enumerate(sensors)}
    out: dict[str, F64] = {}
    for name, members in groups.items():
        cols = [col[s] for s in members if s in col]
        if not cols:
            continue
        sub = deviation[:, cols] ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[name] = np.sqrt(np.nanmean(sub, axis=1))
    return Scores(sensors, deviation, out)


def sensor_groups(spec: GraphSpec, sensors: Sequence[str]) -> dict[str, list[str]]:
    """Component id -> its scored sensors, and "*" -> all of them."""
    groups: dict[str, list[str]] = {EQUIPMENT: list(sensors)}
    for s in spec.sensors:
        if s.id in sensors:
            groups.setdefault(spec.nodes[s.node].id, []).append(s.id)
    return groups


def quantile_threshold(scores: F64, budget: float) -> float:
    """The (1 - budget) quantile of held-out scores: the larger of the empirical quantile and
    a robust normal one (median + z 1.4826 MAD), which is steadier on a short stretch."""
    a = scores[np.isfinite(scores)]
    if not a.size:
        return float("nan")
    med = float(np.median(a))
    mad = MAD_TO_SD * float(np.median(np.abs(a - med)))
    robust = med + NormalDist().inv_cdf(1 - budget) * mad
    return float(max(np.quantile(a, 1 - budget), robust, 1e-6))


def runs(flags: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, stop) of every run of True."""
    if not flags.size or not flags.any():
        return []
    padded = np.concatenate(([False], flags, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def alarm_runs(ratio: F64, *, debounce: int, gap: int) -> list[tuple[int, int]]:
    """Runs of ``ratio > 1``: runs closer than ``gap`` samples joined, then runs shorter than
    ``debounce`` samples dropped."""
    found = runs(np.nan_to_num(ratio, nan=0.0) > 1.0)
    merged: list[tuple[int, int]] = []
    for a, b in found:
        if merged and a - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return [(a, b) for a, b in merged if b - a >= debounce]


# --------------------------------------------------------------------------- the assessment


@dataclass(frozen=True)
class Assessed:
    """A series scored against a calibration: what a diagnosis and an evaluation read."""

    series: Series
    scores: Scores
    ratios: dict[str, F64]  # group -> [L] score / (threshold × margin)
    alarms: list[tuple[int, int]]  # the machine's episodes, sample ranges
    component_alarms: dict[str, list[tuple[int, int]]]
    predicted: npt.NDArray[np.bool_]  # [L] samples with a prediction of some scored sensor

    def alarm_mask(self) -> npt.NDArray[np.bool_]:
        mask = np.zeros(self.series.length, dtype=bool)
        for a, b in self.alarms:
            mask[a:b] = True
        return mask


def assess_series(
    run: Callable[[F32, F32], F32],
    spec: GraphSpec,
    calibration: AnomalyCalibration,
    series: Series,
    *,
    progress: Progress = NO_PROGRESS,
) -> Assessed:
    """Predict, whiten, smooth, divide by the thresholds and find the episodes of a series
    (its values already cleaned by the data-quality checks)."""
    values = {
        k: (np.full_like(v, np.nan) if k in calibration.masked_sensors else v)
        for k, v in series.values.items()
    }
    prediction = predict_series(
        run, spec, values, window=calibration.window, stride=calibration.stride, progress=progress
    )
    z = residual_z(calibration, normalised(spec, values), prediction)
    groups = sensor_groups(spec, list(z))
    scores = score_series(z, calibration.smoothing, groups)
    ratios = {
        g: s / (calibration.thresholds[g] * calibration.margin)
        for g, s in scores.groups.items()
        if calibration.thresholds.get(g, 0) > 0
    }
    found = {
        g: alarm_runs(r, debounce=calibration.debounce, gap=calibration.gap)
        for g, r in ratios.items()
    }
    predicted = np.zeros(series.length, dtype=bool)
    for p in prediction.values():
        predicted |= np.isfinite(p)
    return Assessed(
        series=series,
        scores=scores,
        ratios=ratios,
        alarms=found.pop(EQUIPMENT, []),
        component_alarms=found,
        predicted=predicted,
    )


def _deviating(scores: Scores, a: int, b: int, among: Sequence[str] | None = None) -> list[str]:
    """The sensors that deviate most in samples [a, b): mean smoothed |z| above
    ``CONTRIBUTOR_LEVEL``, most first (at least the top one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmean(scores.deviation[a:b], axis=0)
    level = np.nan_to_num(level, nan=0.0)
    order = [j for j in np.argsort(-level) if among is None or scores.sensors[j] in among]
    picked = [scores.sensors[j] for j in order if level[j] > CONTRIBUTOR_LEVEL]
    if not picked and order:
        picked = [scores.sensors[order[0]]]
    return picked[:MAX_EPISODE_SENSORS]


def _peak(ratio: F64, a: int, b: int) -> float:
    part = ratio[a:b]
    return float(np.nanmax(part)) if np.isfinite(part).any() else 0.0


def range_excursions(
    calibration: AnomalyCalibration,
    spec: GraphSpec,
    profile: EquipmentProfile,
    series: Series,
) -> list[RangeExcursion]:
    """Every run of a sensor's values outside its learned operating range (widened by
    ``range_tolerance`` of its width), debounced like the episodes."""
    out = []
    for sensor_id, (low, high) in calibration.ranges.items():
        if sensor_id not in series.values:
            continue
        a = np.asarray(series.values[sensor_id], dtype=np.float64)
        slack = calibration.range_slack.get(
            sensor_id, calibration.range_tolerance * max(high - low, abs(high) * 1e-3, 1e-9)
        )
        lo, hi = low - slack, high + slack
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(a) & ((a < lo) | (a > hi))
        # a value hovering at the edge is one excursion, not dozens: runs a minute apart join
        join = max(calibration.gap, round(EXCURSION_JOIN_S * series.rate_hz))
        for start, stop in alarm_runs(
            outside.astype(float) * 2.0, debounce=calibration.debounce, gap=join
        ):
            part = a[start:stop]
            part = part[np.isfinite(part)]
            below = np.abs(np.minimum(part - lo, 0.0))
            above = np.maximum(part - hi, 0.0)
            worst = float(part[np.argmax(np.maximum(below, above))]) if part.size else low
            node = spec.nodes[spec.sensor(sensor_id).node].id
            out.append(
                RangeExcursion(
                    sensor_id=sensor_id,
                    component_id=node,
                    unit=profile.sensor(sensor_id).unit,
                    learned_low=low,
                    learned_high=high,
                    worst_value=worst,
                    start=series.time(start),
                    end=series.time(stop),
                    duration_s=(stop - start) / series.rate_hz,
                    samples=int(outside[start:stop].sum()),
                )
            )
    out.sort(key=lambda e: e.start)
    return out


def _overlaps(e: RangeExcursion, start: datetime, end: datetime) -> bool:
    return e.start < end and e.end > start


def build_episodes(
    assessed: Assessed,
    spec: GraphSpec,
    excursions: Sequence[RangeExcursion],
) -> tuple[list[AnomalyEpisode], dict[str, list[AnomalyEpisode]]]:
    """The machine's episodes (the alarm) and each component's own, with the components and
    sensors that deviate in them."""
    series, scores = assessed.series, assessed.scores
    per_component: dict[str, list[AnomalyEpisode]] = {}
    for comp, found in assessed.component_alarms.items():
        members = [s.id for s in spec.sensors if spec.nodes[s.node].id == comp]
        for a, b in found:
            start, end = series.time(a), series.time(b)
            per_component.setdefault(comp, []).append(
                AnomalyEpisode(
                    start=start,
                    end=end,
                    duration_s=(b - a) / series.rate_hz,
                    peak=round(_peak(assessed.ratios[comp], a, b), 3),
                    components=(comp,),
                    sensors=tuple(_deviating(scores, a, b, members)),
                    outside_range=tuple(
                        sorted(
                            {e.sensor_id for e in excursions if _overlaps(e, start, end)}
                            & set(members)
                        )
                    ),
                )
            )
    machine = []
    for a, b in assessed.alarms:
        start, end = series.time(a), series.time(b)
        involved = sorted(
            (
                (_peak(assessed.ratios[c], a, b), c)
                for c, eps in per_component.items()
                if any(e.start < end and e.end > start for e in eps)
            ),
            reverse=True,
        )
        if not involved:  # no component beyond its own threshold: the strongest one
            means = []
            for c, r in assessed.ratios.items():
                if c != EQUIPMENT and np.isfinite(r[a:b]).any():
                    means.append((float(np.nanmean(r[a:b])), c))
            involved = sorted(means, reverse=True)[:1]
        machine.append(
            AnomalyEpisode(
                start=start,
                end=end,
                duration_s=(b - a) / series.rate_hz,
                peak=round(_peak(assessed.ratios[EQUIPMENT], a, b), 3),
                components=tuple(c for _, c in involved),
                sensors=tuple(_deviating(scores, a, b)),
                outside_range=tuple(
                    sorted({e.sensor_id for e in excursions if _overlaps(e, start, end)})
                ),
            )
        )
    return machine, per_component


def graded_episodes(
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    scores: F64,
    ratios: F64,
    spec: GraphSpec,
    threshold: float,
) -> tuple[list[AnomalyEpisode], dict[str, list[AnomalyEpisode]]]:
    """The anomaly episodes of a graded model's diagnosis, at its windows' resolution: runs of
    consecutive windows whose node score (forecast error over its reference, ``scores``
    [B, N]) is above ``threshold``; the machine's are the union over the components. Sensors
    are those with the highest error ratio (``ratios`` [B, S]) in the run."""
    n_windows = len(starts)
    own: dict[str, list[AnomalyEpisode]] = {}
    union = np.zeros(n_windows, dtype=bool)

    def sensors_in(rows: slice, cols: Sequence[int]) -> tuple[str, ...]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            level = np.nan_to_num(np.nanmean(ratios[rows][:, cols], axis=0), nan=0.0)
        order = np.argsort(-level)
        return tuple(
            spec.sensors[cols[k]].id for k in order[:MAX_EPISODE_SENSORS] if level[k] > threshold
        ) or tuple(spec.sensors[cols[k]].id for k in order[:1])

    for node, node_spec in enumerate(spec.nodes):
        cols = [j for j, s in enumerate(spec.sensors) if s.node == node]
        if not cols:
            continue
        above = np.nan_to_num(scores[:, node], nan=0.0) > threshold
        union |= above
        for a, b in runs(above):
            own.setdefault(node_spec.id, []).append(
                AnomalyEpisode(
                    start=starts[a],
                    end=ends[b - 1],
                    duration_s=(ends[b - 1] - starts[a]).total_seconds(),
                    peak=round(float(np.nanmax(scores[a:b, node])) / threshold, 3),
                    components=(node_spec.id,),
                    sensors=sensors_in(slice(a, b), cols),
                )
            )
    machine = []
    every = list(range(len(spec.sensors)))
    for a, b in runs(union):
        involved = sorted(
            (
                (e.peak, c)
                for c, eps in own.items()
                for e in eps
                if e.start < ends[b - 1] and e.end > starts[a]
            ),
            reverse=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            peak = float(np.nanmax(scores[a:b])) / threshold
        machine.append(
            AnomalyEpisode(
                start=starts[a],
                end=ends[b - 1],
                duration_s=(ends[b - 1] - starts[a]).total_seconds(),
                peak=round(peak, 3),
                components=tuple(dict.fromkeys(c for _, c in involved)),
                sensors=sensors_in(slice(a, b), every),
            )
        )
    return machine, own
