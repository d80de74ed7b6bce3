"""The diagnosis by a model that learned a machine's normal: components healthy / warning /
critical from their calibrated anomaly scores, "not assessed" without sensors, and a verdict
that names the anomalous components, the sensors that deviate and the time episodes
("Centrifugal pump P1 anomalous 10:42–10:57 UTC: PRESS, FLOW"). The engine's ``diagnose``
hands over here for such a model (:func:`diagnose_normal`); the scores come from
:mod:`gnn.anomaly`. Numpy only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gnn import postprocess as post
from gnn.anomaly import (
    BATCH,
    EQUIPMENT,
    AnomalyCalibration,
    Assessed,
    Scores,
    Series,
    assess_series,
    build_episodes,
    calibration_of,
    range_excursions,
    read_series,
    selected_span,
    window_starts,
)
from gnn.graph import GraphSpec
from gnn.persist import HealthRows
from gnn.quality import check_quality
from gnn.recommend import RuleTable, recommend
from gnn.results import (
    AnomalyEpisode,
    AnomalyResult,
    ComponentResult,
    Diagnosis,
    Finding,
    Priority,
    RangeExcursion,
    SensorContribution,
    Status,
    WindowResult,
)
from gnn.selection import EngineError, Selection
from ingestion.progress import Progress, check_cancelled

if TYPE_CHECKING:
    from gnn.assessment import DiagnosisJob

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def _when(start: datetime, end: datetime, *, with_date: bool) -> str:
    """``10:42–10:57 UTC`` (seconds for a stretch under two minutes, the date over days)."""
    clock = "%H:%M:%S" if (end - start) < timedelta(minutes=2) else "%H:%M"
    first = start.strftime(f"%Y-%m-%d {clock}" if with_date else clock)
    last = end.strftime(f"%Y-%m-%d {clock}" if with_date and end.date() != start.date() else clock)
    return f"{first}–{last} UTC"


def episode_text(
    name: str, episode: AnomalyEpisode, *, with_date: bool, what: str = "anomalous"
) -> str:
    """``"Centrifugal pump P1 anomalous 10:42–10:57 UTC: PRESS, FLOW"``."""
    sensors = ", ".join(episode.sensors) or "no single sensor"
    return f"{name} {what} {_when(episode.start, episode.end, with_date=with_date)}: {sensors}"


def excursion_text(e: RangeExcursion) -> str:
    return (
        f"{e.sensor_id} {e.worst_value:.4g} {e.unit} (learned {e.learned_low:.4g}–"
        f"{e.learned_high:.4g} {e.unit}) {_when(e.start, e.end, with_date=False)}"
    )


@dataclass(frozen=True)
class _Verdict:
    status: Status
    text: str
    findings: tuple[Finding, ...]


def unexplained_rules(rules: RuleTable) -> RuleTable:
    """The rules an anomaly model's diagnosis may fire: those triggered by an anomaly or a limit
    violation alone. Status, grade and fault rules speak of a condition (a pump's leakage, an
    accumulator's precharge) that a model which learned only the machine's normal cannot tell."""
    kept = tuple(
        r
        for r in rules.rules
        if not r.when.statuses
        and r.when.min_grade is None
        and r.when.fault is None
        and r.when.min_hours_to_critical_below is None
    )
    return rules.model_copy(update={"rules": kept})


def _component_status(episodes: Sequence[AnomalyEpisode], critical: float) -> Status:
    if not episodes:
        return Status.HEALTHY
    return Status.CRITICAL if max(e.peak for e in episodes) >= critical else Status.WARNING


def _verdict(
    components: Sequence[ComponentResult],
    machine: Sequence[AnomalyEpisode],
    excursions: Sequence[RangeExcursion],
    *,
    names: Mapping[str, str],
    with_date: bool,
    scored: bool,
) -> _Verdict:
    """Status, the one-line verdict and the findings of an anomaly model's diagnosis."""
    findings: list[Finding] = []
    not_assessed = [c for c in components if c.status is Status.NOT_ASSESSED]
    assessed = [c for c in components if c.assessed]
    if not scored or not assessed:
        return _Verdict(
            Status.INSUFFICIENT_DATA,
            "Insufficient data: no sensor the model learned had data to score in this range; "
            "nothing assessed.",
            (),
        )
    rank = {Status.CRITICAL: 0, Status.WARNING: 1, Status.HEALTHY: 2}
    status = min((c.status for c in assessed), key=lambda s: rank.get(s, 3))
    if machine and status is Status.HEALTHY:
        status = Status.WARNING  # the machine deviates, no one component beyond its own
    parts: list[str] = []
    for c in sorted(assessed, key=lambda c: rank.get(c.status, 3)):
        for e in c.episodes:
            findings.append(
                Finding(
                    component_id=c.component_id,
                    kind="anomaly_episode",
                    severity=Priority.HIGH if e.peak >= 2 else Priority.MEDIUM,
                    summary=episode_text(c.name, e, with_date=with_date)
                    + f" (peak {e.peak:.1f}× its threshold)",
                    evidence=(
                        f"{e.duration_s:.0f} s; the model learned this machine's normal, so "
                        "no fault type is named: an unexplained anomaly",
                        *(
                            (
                                f"outside the learned operating range then: {', '.join(e.outside_range)}",
                            )
                            if e.outside_range
                            else ()
                        ),
                    ),
                )
            )
        if c.episodes:
            longest = max(c.episodes, key=lambda e: e.duration_s)
            more = f" (+{len(c.episodes) - 1} more)" if len(c.episodes) > 1 else ""
            parts.append(episode_text(c.name, longest, with_date=with_date) + more)
    if not parts:  # the machine deviates, but no component beyond its own threshold
        parts = [episode_text("the machine", e, with_date=with_date) for e in machine]
    for x in excursions:
        findings.append(
            Finding(
                component_id=x.component_id,
                kind="outside_learned_range",
                severity=Priority.MEDIUM,
                summary=f"{names.get(x.component_id, x.component_id)}: outside the learned "
                f"operating range: {excursion_text(x)}",
                evidence=(
                    "the model never saw such values when it learned this machine's normal: "
                    "its judgement there is extrapolation (values are used as they are, not "
                    "clipped)",
                ),
            )
        )
    for c in assessed:
        findings.extend(post.limit_finding(c, v) for v in c.limit_violations)
    if parts:
        text = f"{status.value.upper()}: " + "; ".join(parts[:3])
        if len(parts) > 3:
            text += f"; {len(parts) - 3} more"
    else:
        text = (
            f"HEALTHY: no anomaly in the {len(assessed)} assessed component"
            f"{'s' if len(assessed) != 1 else ''}"
        )
    extras = []
    if excursions:
        sensors = sorted({e.sensor_id for e in excursions})
        extras.append("outside the learned operating range: " + ", ".join(sensors))
    if not_assessed:
        extras.append(
            "not assessed (no sensors): "
            + ", ".join(c.name for c in not_assessed[:3])
            + (f" and {len(not_assessed) - 3} more" if len(not_assessed) > 3 else "")
        )
    if extras:
        text += " — " + "; ".join(extras)
    order = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}
    findings.sort(key=lambda f: order[f.severity])
    return _Verdict(status, text, tuple(findings))


def _top_sensors(
    scores: Scores, members: Sequence[str], rows: F64
) -> tuple[SensorContribution, ...]:
    cols = [j for j, s in enumerate(scores.sensors) if s in members]
    if not cols or not np.isfinite(rows).any():
        return ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nan_to_num(np.nanmean(scores.deviation[:, cols] ** 2, axis=0), nan=0.0)
    total = float(level.sum())
    order = np.argsort(-level)[: post.TOP_SENSORS]
    return tuple(
        SensorContribution(
            sensor_id=scores.sensors[cols[k]],
            contribution=float(level[k] / total) if total > 0 else 0.0,
            error=float(level[k]),
        )
        for k in order
        if level[k] > 0
    )


def _windows(assessed: Assessed, spec: GraphSpec, stride: int) -> tuple[WindowResult, ...]:
    """One result per ``stride`` samples: each component's highest ratio in it (the time
    trace the GUI draws; 1.0 is the threshold)."""
    series = assessed.series
    out = []
    for a in range(0, series.length, stride):
        b = min(a + stride, series.length)
        scores: dict[str, float] = {}
        for comp, ratio in assessed.ratios.items():
            if comp == EQUIPMENT:
                continue
            part = ratio[a:b]
            if np.isfinite(part).any():
                scores[comp] = round(float(np.nanmax(part)), 3)
        out.append(
            WindowResult(
                start=series.time(a),
                end=series.time(b),
                valid=bool(assessed.predicted[a:b].any()),
                anomaly=scores,
            )
        )
    return tuple(out)


def diagnose_normal(
    job: DiagnosisJob,
    selection: Selection,
    *,
    created: datetime,
    inspection_id: int | None,
    rules: RuleTable,
    progress: Progress,
    stage: Callable[[str], AbstractContextManager[None]],
) -> tuple[Diagnosis, HealthRows]:
    """The diagnosis of ``job``'s equipment by a model that learned its normal (the engine's
    ``diagnose`` hands over here for such a model); nothing goes into the health history."""
    model, spec, profile = job.model, job.spec, job.profile
    calibration = calibration_of(model)
    assert calibration is not None
    with stage("query"):
        start, end = selected_span(job.store, job.equipment_id, selection, calibration.rate_hz)
        series = read_series(
            job.store,
            job.equipment_id,
            spec.sensor_ids,
            start=start,
            end=end,
            rate_hz=calibration.rate_hz,
        )
    if series.length < 2 or not any(np.isfinite(v).any() for v in series.values.values()):
        raise EngineError(
            f"no data for equipment {job.equipment_id!r} in the selected range "
            f"({selection.describe()}). Choose a range with measurements."
        )
    check_cancelled(progress)
    with stage("quality"):
        quality = check_quality(
            {k: v[None, :] for k, v in series.values.items()},
            starts=[series.start],
            ends=[series.time(series.length)],
            rate_hz=calibration.rate_hz,
            profile=profile,
            spec=spec,
            min_window_valid=0.0,
        )
        cleaned = Series(series.start, series.rate_hz, {k: v[0] for k, v in quality.values.items()})

    def run(x: F32, mask: F32) -> F32:
        return model.run(x, mask, batch_size=BATCH).forecast

    with stage("inference"):
        assessed = assess_series(run, spec, calibration, cleaned, progress=progress)
    check_cancelled(progress)
    with stage("postprocess"):
        excursions = range_excursions(calibration, spec, profile, series)
        machine, own = build_episodes(assessed, spec, excursions)
        limits = post.limit_violations(
            quality.values, starts=[series.start], rate_hz=calibration.rate_hz, profile=profile
        )
        components = _components(job, assessed, own, excursions, limits, calibration)
        with_date = (series.time(series.length) - series.start) > timedelta(hours=20)
        names = {c.id: c.name for c in profile.components}
        verdict = _verdict(
            components,
            machine,
            excursions,
            names=names,
            with_date=with_date,
            scored=bool(assessed.predicted.any()),
        )
    with stage("recommend"):
        recommendations = recommend(
            components,
            now=created,
            thresholds=job.thresholds,
            n_windows=len(window_starts(series.length, calibration.window, calibration.stride)),
            rules=unexplained_rules(rules),
        )
    n_windows = len(window_starts(series.length, calibration.window, calibration.stride))
    diagnosis = Diagnosis(
        equipment_id=job.equipment_id,
        created_at=created,
        window_start=series.start,
        window_end=series.time(series.length),
        n_windows=n_windows,
        n_valid_windows=n_windows if assessed.predicted.any() else 0,
        overall_health=None,
        overall_status=verdict.status,
        verdict=verdict.text,
        model=post.model_info(model),
        provider=model.provider,
        provider_note=model.provider_note,
        components=post.sort_components(components, profile.component_ids),
        windows=_windows(assessed, spec, calibration.stride),
        findings=verdict.findings,
        recommendations=recommendations,
        data_quality=tuple(quality.warnings),
        thresholds=job.thresholds,
        inspection_id=inspection_id,
        selection=selection.describe(),
        rate_hz=calibration.rate_hz,
        model_kind="anomaly",
        episodes=tuple(machine),
        out_of_range=tuple(excursions),
    )
    return diagnosis, HealthRows([], [], [], [], [], [])


def _components(
    job: DiagnosisJob,
    assessed: Assessed,
    own: Mapping[str, list[AnomalyEpisode]],
    excursions: Sequence[RangeExcursion],
    limits: Mapping[str, Any],
    calibration: AnomalyCalibration,
) -> list[ComponentResult]:
    spec, profile = job.spec, job.profile
    out = []
    reference = (
        f"calibrated on held-out normal data (false-alarm budget {100 * calibration.budget:g} %"
        f", margin ×{calibration.margin:g})"
    )
    for node, node_spec in enumerate(spec.nodes):
        comp = profile.component(node_spec.id)
        members = [s.id for s in spec.sensors if s.node == node and s.id in calibration.residuals]
        ratio = assessed.ratios.get(comp.id)
        common: dict[str, Any] = {
            "component_id": comp.id,
            "name": comp.name,
            "type": comp.type.value,
            "health": None,
            "grade": None,
            "limit_violations": limits.get(comp.id, ()),
            "sensors": tuple(s.id for s in spec.sensors if s.node == node),
            "out_of_range": tuple(e for e in excursions if e.component_id == comp.id),
        }
        if not members or ratio is None:
            out.append(ComponentResult(assessed=False, status=Status.NOT_ASSESSED, **common))
            continue
        if not np.isfinite(ratio).any():
            out.append(ComponentResult(assessed=True, status=Status.INSUFFICIENT_DATA, **common))
            continue
        episodes = own.get(comp.id, [])
        peak = float(np.nanmax(ratio))
        rows = int(np.isfinite(ratio[:: max(calibration.stride, 1)]).sum())  # windows with a score
        out.append(
            ComponentResult(
                assessed=True,
                status=_component_status(episodes, calibration.critical),
                anomaly=AnomalyResult(
                    score=round(peak, 3),
                    threshold=1.0,
                    is_anomalous=bool(episodes),
                    top_sensors=_top_sensors(assessed.scores, members, ratio),
                    reference=reference,
                    n_windows=rows,
                ),
                episodes=tuple(episodes),
                n_windows=rows,
                **common,
            )
        )
    return out
