"""Score a model that learned a machine's normal against the labels that came in its log
(``ingest csv --label-column``): ``hydrodiag evaluate anomalies``. Numpy only.

The model runs exactly as ``diagnose`` runs it (:func:`gnn.anomaly.assess_series`); a sample is
an alarm when it lies in one of the machine's anomaly episodes. Point by point, over the
labelled samples: precision, recall, F1, the false-alarm rate (alarms among normal samples)
and the missed-alarm rate (no alarm among anomalous samples). Per event (a run of anomalous
labels): detected or not, and the detection delay (first alarm inside it minus its start);
alarms that touch no event are false-alarm episodes. Figures are given over all labelled
samples and over those outside the model's own fit stretch (in-sample there).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from gnn.anomaly import (
    AnomalyCalibration,
    Assessed,
    Series,
    assess_series,
    calibration_of,
    read_series,
    runs,
    selected_span,
)
from gnn.model_cache import cached_model
from gnn.quality import check_quality
from gnn.registry import resolve_model
from gnn.runtime import LoadedModel, ProviderChoice
from gnn.selection import EngineError, Selection
from ingestion.catalog import EQUIPMENT_LABEL, equipment_profile
from ingestion.progress import NO_PROGRESS, Progress
from ingestion.workspace import Store

BoolArray = npt.NDArray[np.bool_]


class PointFigures(BaseModel):
    """Point-wise figures over a set of labelled samples."""

    model_config = ConfigDict(frozen=True)

    samples: int
    anomalous: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    precision: float | None
    recall: float | None
    f1: float | None
    false_alarm_rate: float | None  # alarms among normal samples
    missed_alarm_rate: float | None  # no alarm among anomalous samples


class EventResult(BaseModel):
    """One labelled anomalous stretch and whether (and how soon) the model flagged it."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    label: str
    detected: bool
    delay_s: float | None  # first alarm inside it minus its start
    covered: float  # share of its samples under an alarm


class AnomalyEvaluation(BaseModel):
    """``hydrodiag evaluate anomalies``: the active model against the log's labels."""

    model_config = ConfigDict(frozen=True)

    equipment_id: str
    model: str
    start: datetime
    end: datetime
    rate_hz: float
    points: PointFigures  # every labelled sample
    points_outside_fit: PointFigures | None  # the labelled samples outside the fit stretch
    events: tuple[EventResult, ...]
    events_detected: int
    mean_delay_s: float | None
    false_alarm_episodes: int  # alarm episodes touching no labelled anomaly
    false_alarm_episodes_per_hour: float | None  # per hour of normal labelled time
    alarm_episodes: int
    notes: tuple[str, ...] = ()


def point_figures(alarm: BoolArray, truth: npt.NDArray[np.int8]) -> PointFigures:
    """Figures over the samples with a label (``truth`` 1 anomalous, 0 normal, -1 none)."""
    labelled = truth >= 0
    a, t = alarm[labelled], truth[labelled] == 1
    tp, fp = int((a & t).sum()), int((a & ~t).sum())
    fn, tn = int((~a & t).sum()), int((~a & ~t).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if tp + fn else None)
    )
    return PointFigures(
        samples=int(labelled.sum()),
        anomalous=int(t.sum()),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        precision=precision,
        recall=recall,
        f1=f1,
        false_alarm_rate=fp / (fp + tn) if fp + tn else None,
        missed_alarm_rate=fn / (fn + tp) if fn + tp else None,
    )


def label_truth(
    store: Store, equipment_id: str, series: Series
) -> tuple[npt.NDArray[np.int8], list[str]]:
    """Per sample of ``series``: 1 under an anomalous log label, 0 under a normal one, -1
    unlabelled; and the text of each anomalous range, by sample (for the event list)."""
    rows = (
        store.cursor()
        .execute(
            "SELECT start_ts, end_ts, grade, coalesce(raw_value, '') FROM labels "
            "WHERE equipment_id = ? AND component_id = ? AND end_ts > ? AND start_ts < ? "
            "ORDER BY start_ts, id",
            [equipment_id, EQUIPMENT_LABEL, series.start, series.time(series.length)],
        )
        .fetchall()
    )
    truth = np.full(series.length, -1, dtype=np.int8)
    text = [""] * series.length
    for start, end, grade, raw in rows:
        lo, hi = series.index(start), series.index(end)
        truth[lo:hi] = 1 if grade > 0 else 0
        if grade > 0:
            text[lo:hi] = [raw] * (hi - lo)
    return truth, text


def _fit_mask(calibration: AnomalyCalibration, model: LoadedModel, series: Series) -> BoolArray:
    """Samples of ``series`` inside the model's own fit stretch (its card's data ranges)."""
    mask = np.zeros(series.length, dtype=bool)
    ranges = ((model.card or {}).get("data") or {}).get("ranges") or []
    for r in ranges:
        try:
            a, b = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
        except (KeyError, TypeError, ValueError):
            continue
        mask[series.index(a) : series.index(b)] = True
    return mask


def evaluate_anomalies(
    store: Store,
    equipment_id: str,
    *,
    selection: Selection | None = None,
    model: LoadedModel | None = None,
    model_path: Path | None = None,
    provider: ProviderChoice = "auto",
    progress: Progress = NO_PROGRESS,
) -> AnomalyEvaluation:
    """Run the equipment's active model (or ``model``) over its labelled data and score it.

    Raises:
        EngineError: no log labels, or the model is not one that learned the machine's normal.
    """
    profile = equipment_profile(store.cursor(), equipment_id)
    if model is None:
        model = (
            cached_model(model_path, provider=provider)
            if model_path is not None
            else resolve_model(store, equipment_id, profile, provider=provider)
        )
    model.check_profile(profile, equipment=equipment_id)
    calibration = calibration_of(model)
    if calibration is None:
        raise EngineError(
            f"model {model.model_id} {model.model_version} grades conditions; `evaluate "
            "anomalies` scores a model that learned the machine's normal (`hydrodiag fit "
            f"--equipment {equipment_id} ... --activate`)."
        )
    span = (
        store.cursor()
        .execute(
            "SELECT min(start_ts), max(end_ts), count(*) FILTER (WHERE grade > 0) FROM labels "
            "WHERE equipment_id = ? AND component_id = ?",
            [equipment_id, EQUIPMENT_LABEL],
        )
        .fetchone()
    )
    if span is None or span[0] is None:
        raise EngineError(
            f"equipment {equipment_id!r} has no labels from a log's label column to score "
            "against; import the log with `hydrodiag ingest csv FILE --equipment "
            f"{equipment_id} --label-column COLUMN`."
        )
    if selection is None or selection == Selection():
        selection = Selection(start=span[0], end=span[1])
    start, end = selected_span(store, equipment_id, selection, calibration.rate_hz)
    assessed = assess_range(store, equipment_id, model, start, end, progress=progress)
    series = assessed.series
    truth, texts = label_truth(store, equipment_id, series)
    return _evaluation(
        equipment_id,
        model,
        calibration,
        assessed,
        truth,
        texts,
        _fit_mask(calibration, model, series),
    )


def assess_range(
    store: Store,
    equipment_id: str,
    model: LoadedModel,
    start: datetime,
    end: datetime,
    *,
    progress: Progress = NO_PROGRESS,
) -> Assessed:
    """Run an anomaly model over ``[start, end)`` of the equipment's data as ``diagnose`` does
    (read at the model's rate, cleaned by the data-quality checks, scored, episodes found).

    Raises:
        EngineError: the model learned no machine's normal (it grades conditions).
    """
    calibration = calibration_of(model)
    if calibration is None:
        raise EngineError(f"model {model.model_id} {model.model_version} grades conditions.")
    profile = equipment_profile(store.cursor(), equipment_id)
    series = read_series(
        store,
        equipment_id,
        model.graph_spec.sensor_ids,
        start=start,
        end=end,
        rate_hz=calibration.rate_hz,
    )
    quality = check_quality(
        {k: v[None, :] for k, v in series.values.items()},
        starts=[series.start],
        ends=[series.time(series.length)],
        rate_hz=calibration.rate_hz,
        profile=profile,
        spec=model.graph_spec,
        min_window_valid=0.0,
    )
    cleaned = Series(series.start, series.rate_hz, {k: v[0] for k, v in quality.values.items()})

    def run(x: Any, mask: Any) -> Any:
        return model.run(x, mask).forecast

    return assess_series(run, model.graph_spec, calibration, cleaned, progress=progress)


def _evaluation(
    equipment_id: str,
    model: LoadedModel,
    calibration: AnomalyCalibration,
    assessed: Assessed,
    truth: npt.NDArray[np.int8],
    texts: Sequence[str],
    fit: BoolArray,
) -> AnomalyEvaluation:
    series = assessed.series
    alarm = assessed.alarm_mask()
    points = point_figures(alarm, truth)
    outside = None
    notes = []
    if fit.any():
        outside_truth = np.where(fit, -1, truth).astype(np.int8)
        outside = point_figures(alarm, outside_truth)
        notes.append(
            f"{int((fit & (truth >= 0)).sum())} labelled samples lie in the model's own fit "
            "stretch (in-sample there); points_outside_fit leaves them out"
        )
    events = []
    for a, b in runs(truth == 1):
        hit = np.flatnonzero(alarm[a:b])
        events.append(
            EventResult(
                start=series.time(a),
                end=series.time(b),
                label=texts[a] or "anomalous",
                detected=bool(hit.size),
                delay_s=float(hit[0] / series.rate_hz) if hit.size else None,
                covered=float(alarm[a:b].mean()),
            )
        )
    anomalous = truth == 1
    false_episodes = sum(1 for a, b in assessed.alarms if not anomalous[a:b].any())
    normal_hours = float((truth == 0).sum()) / series.rate_hz / 3600
    delays = [e.delay_s for e in events if e.delay_s is not None]
    return AnomalyEvaluation(
        equipment_id=equipment_id,
        model=f"{model.model_id}@{model.model_version}",
        start=series.start,
        end=series.time(series.length),
        rate_hz=series.rate_hz,
        points=points,
        points_outside_fit=outside,
        events=tuple(events),
        events_detected=sum(e.detected for e in events),
        mean_delay_s=float(np.mean(delays)) if delays else None,
        false_alarm_episodes=false_episodes,
        false_alarm_episodes_per_hour=false_episodes / normal_hours if normal_hours > 0 else None,
        alarm_episodes=len(assessed.alarms),
        notes=tuple(notes),
    )


def pooled(evaluations: Sequence[AnomalyEvaluation]) -> PointFigures:
    """Point figures of several evaluations pooled (sums of the counts), as benchmarks report."""
    tp = sum(e.points.true_positives for e in evaluations)
    fp = sum(e.points.false_positives for e in evaluations)
    fn = sum(e.points.false_negatives for e in evaluations)
    tn = sum(e.points.true_negatives for e in evaluations)
    alarm = np.array([True] * (tp + fp) + [False] * (fn + tn))
    truth = np.array([1] * tp + [0] * fp + [1] * fn + [0] * tn, dtype=np.int8)
    return point_figures(alarm, truth)


def describe(evaluation: AnomalyEvaluation) -> list[str]:
    """The evaluation as lines for the terminal."""

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.1f} %"

    def num(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    p = evaluation.points
    lines = [
        f"{evaluation.equipment_id}: model {evaluation.model} against the log's labels, "
        f"{evaluation.start:%Y-%m-%d %H:%M:%S} – {evaluation.end:%Y-%m-%d %H:%M:%S} UTC "
        f"({p.samples:,} labelled samples at {evaluation.rate_hz:g} Hz, {p.anomalous:,} anomalous)",
        f"point-wise: F1 {num(p.f1)}  precision {num(p.precision)}  recall {num(p.recall)}  "
        f"false alarms {pct(p.false_alarm_rate)}  missed alarms {pct(p.missed_alarm_rate)}",
    ]
    o = evaluation.points_outside_fit
    if o is not None:
        lines.append(
            f"  outside the fit stretch: F1 {num(o.f1)}  false alarms {pct(o.false_alarm_rate)}  "
            f"missed alarms {pct(o.missed_alarm_rate)} ({o.samples:,} samples)"
        )
    delay = evaluation.mean_delay_s
    lines.append(
        f"events: {evaluation.events_detected} of {len(evaluation.events)} detected"
        + (f", mean detection delay {delay:.0f} s" if delay is not None else "")
        + f"; {evaluation.false_alarm_episodes} of {evaluation.alarm_episodes} alarm episodes "
        "touch no labelled anomaly"
        + (
            f" ({evaluation.false_alarm_episodes_per_hour:.2f} per hour of normal time)"
            if evaluation.false_alarm_episodes_per_hour is not None
            else ""
        )
    )
    for e in evaluation.events:
        when = f"{e.start:%Y-%m-%d %H:%M:%S}–{e.end:%H:%M:%S}"
        seen = (
            f"detected after {e.delay_s:.0f} s, {100 * e.covered:.0f} % covered"
            if e.detected
            else "missed"
        )
        lines.append(
            f"  {when} ({e.label}, {(e.end - e.start) / timedelta(seconds=1):.0f} s): {seen}"
        )
    lines += [f"note: {n}" for n in evaluation.notes]
    return lines
