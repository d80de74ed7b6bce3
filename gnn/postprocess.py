"""From the model's raw outputs over many windows to per-component results.

Pure numpy on arrays the engine hands in: grade and health averages over the windows with
enough data, fault probabilities for the types the model was trained on, anomaly scores from
the one-step forecast error against a healthy reference, limit violations against the
profile with debounce, attention per edge, findings and the one-line verdict.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gnn.contract import GRADE_NAMES
from gnn.graph import GraphSpec
from gnn.recommend import earlier_lines, grade_label, grade_mix, selection_line
from gnn.results import (
    AnomalyResult,
    AttentionEdge,
    ComponentResult,
    ConditionEpisode,
    Finding,
    LimitViolation,
    ModelInfo,
    Priority,
    SensorContribution,
    Status,
    StatusThresholds,
)
from gnn.wording import health_text
from ingestion.profiles import EquipmentProfile, Sensor

if TYPE_CHECKING:
    from gnn.runtime import LoadedModel

ANOMALY_THRESHOLD = 3.0  # forecast error 3x the healthy reference
TOP_SENSORS = 3
MAX_EPISODES_PER_SENSOR = 20
# Floor of the selection-median reference, normalised units²: a sensor that sits still (a relief-valve
# outlet at 0 bar) has a median error near 0, and any movement would score in the thousands.
MIN_REFERENCE = 1e-2
REFERENCE_CARD = "model card"
REFERENCE_SELECTION = "selection median"

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


# --------------------------------------------------------------------------- forecast errors


def forecast_errors(x: F32, mask: F32, forecast: F32, spec: GraphSpec) -> F64:
    """[B, S] mean squared one-step forecast error per window and sensor, normalised units.

    ``forecast[..., t, :]`` predicts ``x[..., t + 1, :]``; only pairs where the target sample is
    valid count. NaN where a sensor has no valid pair in a window.
    """
    n_windows = x.shape[0]
    out = np.full((n_windows, len(spec.sensors)), np.nan, dtype=np.float64)
    if x.shape[2] < 2:
        return out
    for j, s in enumerate(spec.sensors):
        pred = forecast[:, s.node, :-1, s.slot].astype(np.float64)
        target = x[:, s.node, 1:, s.slot].astype(np.float64)
        valid = mask[:, s.node, 1:, s.slot] > 0
        count = valid.sum(axis=1)
        sq = np.where(valid, (pred - target) ** 2, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(count > 0, sq / np.maximum(count, 1), np.nan)
    return out


def error_reference(
    errors: F64, spec: GraphSpec, card_reference: Mapping[str, float] | None
) -> tuple[F64, str]:
    """Typical healthy error per sensor [S] and where it came from.

    The model card's per-sensor forecast error on healthy training windows when it ships one;
    otherwise the median window of this selection (then a score says "unusual for this
    selection", which is weaker; the diagnosis says which reference it used).
    """
    if card_reference:
        ref = np.asarray(
            [float(card_reference.get(s.id, np.nan)) for s in spec.sensors], dtype=np.float64
        )
        if np.isfinite(ref).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fallback = np.nanmedian(errors, axis=0) if errors.size else ref
            ref = np.where(np.isfinite(ref) & (ref > 0), ref, fallback)
            return np.maximum(np.nan_to_num(ref, nan=1.0), 1e-9), REFERENCE_CARD
    with warnings.catch_warnings():  # a sensor without data has an all-NaN column
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(errors, axis=0) if errors.size else np.ones(len(spec.sensors))
    return np.maximum(np.nan_to_num(ref, nan=1.0), MIN_REFERENCE), REFERENCE_SELECTION


def anomaly_ratios(errors: F64, reference: F64) -> F64:
    """[B, S] error relative to the reference (1.0 = typical)."""
    return errors / reference[None, :]


def node_scores(ratios: F64, spec: GraphSpec) -> F64:
    """[B, N] mean ratio over each node's sensors; NaN for nodes without sensors."""
    out = np.full((ratios.shape[0], spec.num_nodes), np.nan, dtype=np.float64)
    for node in range(spec.num_nodes):
        cols = [j for j, s in enumerate(spec.sensors) if s.node == node]
        if cols:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                sub = ratios[:, cols]
                has = np.isfinite(sub).any(axis=1)
                out[has, node] = np.nanmean(sub[has], axis=1)
    return out


def component_anomaly(
    node: int,
    ratios: F64,
    errors: F64,
    scores: F64,
    ok: BoolArray,
    spec: GraphSpec,
    *,
    threshold: float,
    reference: str,
) -> AnomalyResult | None:
    """The anomaly result of one node over its windows ``ok`` [B]; None without sensors."""
    cols = np.asarray([j for j, s in enumerate(spec.sensors) if s.node == node], dtype=np.intp)
    rows = ok & np.isfinite(scores[:, node])
    if not cols.size or not rows.any():
        return None
    score = float(np.mean(scores[rows, node]))
    with warnings.catch_warnings():  # a sensor without data in these windows: NaN, then 0
        warnings.simplefilter("ignore", RuntimeWarning)
        per_sensor = np.nanmean(ratios[np.ix_(rows, cols)], axis=0)
        per_error = np.nanmean(errors[np.ix_(rows, cols)], axis=0)
    per_sensor = np.nan_to_num(per_sensor, nan=0.0)
    total = float(per_sensor.sum())
    order = np.argsort(-per_sensor)[:TOP_SENSORS]
    tops = tuple(
        SensorContribution(
            sensor_id=spec.sensors[cols[k]].id,
            contribution=float(per_sensor[k] / total) if total > 0 else 0.0,
            error=float(np.nan_to_num(per_error[k])),
        )
        for k in order
        if per_sensor[k] > 0
    )
    return AnomalyResult(
        score=score,
        threshold=threshold,
        is_anomalous=score > threshold,
        top_sensors=tops,
        reference=reference,
        n_windows=int(rows.sum()),
    )


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class _Episode:
    kind: str
    limit: float
    start: datetime
    end: datetime
    worst: float


def _limit_checks(sensor: Sensor) -> list[tuple[str, float, int]]:
    """(kind, limit, direction) of every limit set on a sensor; direction +1 high, -1 low."""
    lim = sensor.limits
    if lim is None:
        return []
    checks = [
        ("alarm_high", lim.alarm_high, 1),
        ("warning_high", lim.warning_high, 1),
        ("alarm_low", lim.alarm_low, -1),
        ("warning_low", lim.warning_low, -1),
    ]
    return [(k, float(v), d) for k, v, d in checks if v is not None]


def limit_violations(
    values: Mapping[str, F32],
    *,
    starts: Sequence[datetime],
    rate_hz: float,
    profile: EquipmentProfile,
) -> dict[str, tuple[LimitViolation, ...]]:
    """Per component, the episodes in which a sensor stayed beyond a profile limit.

    A sample beyond the limit starts an episode; consecutive windows that touch are joined; an
    episode counts once it lasts at least the sensor's ``debounce_s``. A warning episode that
    contains an alarm episode is reported as the alarm only.
    """
    step = timedelta(seconds=1.0 / rate_hz)
    out: dict[str, list[LimitViolation]] = {}
    for sensor in profile.sensors:
        checks = _limit_checks(sensor)
        a = values.get(sensor.id)
        if not checks or a is None or a.size == 0:
            continue
        debounce = sensor.limits.debounce_s if sensor.limits else 0.0
        episodes: list[_Episode] = []
        for kind, limit, direction in checks:
            with np.errstate(invalid="ignore"):
                beyond = (a > limit) if direction > 0 else (a < limit)
            if not beyond.any():
                continue
            merged: list[_Episode] = []
            for b in (int(i) for i in np.flatnonzero(beyond.any(axis=1))):
                row = beyond[b]
                padded = np.concatenate(([False], row, [False]))
                edges = np.flatnonzero(padded[1:] != padded[:-1])
                for lo, hi in zip(edges[::2], edges[1::2], strict=True):
                    seg = a[b, lo:hi]
                    worst = float(seg.max() if direction > 0 else seg.min())
                    ep = _Episode(kind, limit, starts[b] + lo * step, starts[b] + hi * step, worst)
                    if merged and merged[-1].end == ep.start:
                        prev = merged[-1]
                        pick = max if direction > 0 else min
                        ep = _Episode(kind, limit, prev.start, ep.end, pick(prev.worst, ep.worst))
                        merged[-1] = ep
                    else:
                        merged.append(ep)
            episodes += [e for e in merged if (e.end - e.start).total_seconds() >= debounce]
        alarms = [e for e in episodes if e.kind.startswith("alarm")]
        kept = [
            e
            for e in episodes
            if e.kind.startswith("alarm")
            or not any(
                x.kind.endswith(e.kind.split("_")[1]) and x.start >= e.start and x.end <= e.end
                for x in alarms
            )
        ]
        kept.sort(key=lambda e: -(e.end - e.start).total_seconds())
        for e in sorted(kept[:MAX_EPISODES_PER_SENSOR], key=lambda e: e.start):
            out.setdefault(sensor.component, []).append(
                LimitViolation(
                    sensor_id=sensor.id,
                    kind=e.kind,
                    limit=e.limit,
                    worst_value=e.worst,
                    unit=sensor.unit,
                    start=e.start,
                    end=e.end,
                    duration_s=(e.end - e.start).total_seconds(),
                )
            )
    return {k: tuple(v) for k, v in out.items()}


# --------------------------------------------------------------------------- attention


def attention_edges(
    attention: F32, rows: BoolArray, spec: GraphSpec
) -> tuple[tuple[AttentionEdge, ...], F32]:
    """Edges with attention per layer and combined (mean over ``rows``), and per window [B, E]."""
    per_window = attention.mean(axis=1).astype(np.float32)  # [B, E] mean over layers
    if rows.any():
        per_layer = attention[rows].mean(axis=0)  # [L, E]
    else:
        per_layer = np.zeros(attention.shape[1:], dtype=np.float32)
    edges = tuple(
        AttentionEdge(
            source=spec.nodes[e.source].id,
            target=spec.nodes[e.target].id,
            kind=spec.edge_types[e.type_id],
            per_layer=tuple(float(v) for v in per_layer[:, k]),
            combined=float(per_layer[:, k].mean()) if per_layer.shape[0] else 0.0,
        )
        for k, e in enumerate(spec.edges)
    )
    return edges, per_window


def attention_neighbours(
    edges: Sequence[AttentionEdge], component_id: str, top: int = 3
) -> tuple[tuple[str, float], ...]:
    """The neighbours whose messages the component weighs most (incoming edges, no self loop)."""
    weights: dict[str, float] = {}
    for e in edges:
        if e.target == component_id and e.source != component_id:
            weights[e.source] = max(weights.get(e.source, 0.0), e.combined)
    ranked = sorted(weights.items(), key=lambda kv: -kv[1])[:top]
    return tuple((k, round(v, 4)) for k, v in ranked)


# --------------------------------------------------------------------------- earlier episodes

EPISODE_SMOOTHING = 5  # windows in the rolling median that decides a window's status
MIN_EPISODE_WINDOWS = 3  # shorter stretches are noise, not an episode
EPISODE_JOIN_GAP = 2  # flagged windows this close together are one episode
MAX_EPISODES = 3


def _rolling_median(values: F64, width: int) -> F64:
    n = values.size
    if n < 3 or width < 2:
        return values
    half = min(width, n) // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.asarray(np.median(windows, axis=1), dtype=np.float64)


def worse_episodes(
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    health: F64,
    *,
    now: Status,
    thresholds: StatusThresholds,
) -> tuple[ConditionEpisode, ...]:
    """The stretches of earlier windows (in time order) in which a component was worse than
    its current status ``now``: at least :data:`MIN_EPISODE_WINDOWS` windows whose smoothed
    health (rolling median) falls in a worse status band; the :data:`MAX_EPISODES` most severe,
    in time order."""
    if now not in _STATUS_RANK or health.size < MIN_EPISODE_WINDOWS:
        return ()
    smooth = _rolling_median(health, EPISODE_SMOOTHING)
    rank = np.asarray([_STATUS_RANK[thresholds.status(float(v))] for v in smooth])
    flagged = np.flatnonzero(rank < _STATUS_RANK[now])
    groups: list[list[int]] = []
    for i in (int(k) for k in flagged):
        if groups and i - groups[-1][-1] <= EPISODE_JOIN_GAP + 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    episodes = []
    for group in groups:
        if len(group) < MIN_EPISODE_WINDOWS:
            continue
        lo, hi = group[0], group[-1]
        worst = min(float(v) for v in smooth[lo : hi + 1])
        episodes.append(
            ConditionEpisode(
                start=starts[lo],
                end=ends[hi],
                status=thresholds.status(worst),
                lowest_health=round(float(np.min(health[lo : hi + 1])), 4),
                n_windows=hi - lo + 1,
            )
        )
    episodes.sort(key=lambda e: (_STATUS_RANK[e.status], e.lowest_health))
    return tuple(sorted(episodes[:MAX_EPISODES], key=lambda e: e.start))


# --------------------------------------------------------------------------- findings, verdict

_STATUS_RANK = {
    Status.CRITICAL: 0,
    Status.WARNING: 1,
    Status.INSUFFICIENT_DATA: 2,
    Status.HEALTHY: 3,
    Status.NOT_ASSESSED: 4,
}
_SEVERITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}


def findings(
    components: Sequence[ComponentResult],
    *,
    fault_threshold: float = 0.5,
    thresholds: StatusThresholds | None = None,
) -> tuple[Finding, ...]:
    """What was seen, component by component, most severe first."""
    thresholds = thresholds or StatusThresholds()
    out: list[Finding] = []
    for c in components:
        if c.status in (Status.CRITICAL, Status.WARNING) and c.grade is not None:
            evidence = [f"grade probabilities {', '.join(f'{p:.2f}' for p in c.grade_probs)}"]
            mix = grade_mix(c)
            if mix:
                evidence.append(mix)
            mean = selection_line(c, thresholds)
            if mean:
                evidence.append(mean)
            if c.trend is not None:
                evidence.append(f"trend: {c.trend.message}")
            over = f" over the latest {c.current_windows} windows" if c.current_windows else ""
            out.append(
                Finding(
                    component_id=c.component_id,
                    kind="grade",
                    severity=Priority.HIGH if c.status is Status.CRITICAL else Priority.MEDIUM,
                    summary=(
                        f"{c.name}: health {health_text(c.health)}{over} with a varying grade — "
                        f"{c.status.value}"
                        if mix and c.current_windows
                        else f"{c.name}: mean health {health_text(c.health)} over a varying grade — "
                        f"{c.status.value}"
                        if mix
                        else f"{c.name}: grade {c.grade} ({GRADE_NAMES[c.grade]}), health "
                        f"{health_text(c.health)}{over} — {c.status.value}"
                    ),
                    evidence=tuple(evidence),
                )
            )
        for episode, line in zip(c.worse_earlier, earlier_lines(c), strict=True):
            out.append(
                Finding(
                    component_id=c.component_id,
                    kind="earlier_episode",
                    severity=Priority.HIGH
                    if episode.status is Status.CRITICAL
                    else Priority.MEDIUM,
                    summary=(
                        f"{c.name}: {episode.status.value} earlier in the selection "
                        f"({episode.start:%H:%M}–{episode.end:%H:%M}, lowest health "
                        f"{health_text(episode.lowest_health)}); {c.status.label} now"
                    ),
                    evidence=(line,),
                )
            )
        if c.status is Status.INSUFFICIENT_DATA:
            out.append(
                Finding(
                    component_id=c.component_id,
                    kind="insufficient_data",
                    severity=Priority.MEDIUM,
                    summary=f"{c.name}: not enough valid sensor data around it to assess",
                )
            )
        faults = sorted(
            ((p, f) for f, p in c.fault_probs.items() if p >= fault_threshold), reverse=True
        )
        for p, f in faults:
            out.append(
                Finding(
                    component_id=c.component_id,
                    kind="fault",
                    severity=Priority.HIGH if p >= 0.8 else Priority.MEDIUM,
                    summary=f"{c.name}: {f.replace('_', ' ')} (probability {p:.2f})",
                )
            )
        if c.anomaly is not None and c.anomaly.is_anomalous:
            explained = bool(faults) or c.status in (Status.CRITICAL, Status.WARNING)
            tops = ", ".join(
                f"{s.sensor_id} {100 * s.contribution:.0f} %" for s in c.anomaly.top_sensors
            )
            out.append(
                Finding(
                    component_id=c.component_id,
                    kind="anomaly" if explained else "unexplained_anomaly",
                    severity=Priority.MEDIUM,
                    summary=(
                        f"{c.name}: sensor behaviour {c.anomaly.score:.1f}× the typical "
                        f"forecast error ({'consistent with the grade' if explained else 'no known fault type explains it'})"
                    ),
                    evidence=(f"sensors: {tops}", f"reference: {c.anomaly.reference}"),
                )
            )
        out.extend(limit_finding(c, v) for v in c.limit_violations)
    out.sort(key=lambda f: _SEVERITY_RANK[f.severity])
    return tuple(out)


def overall(
    components: Sequence[ComponentResult],
    found: Sequence[Finding],
    *,
    n_windows: int,
    n_valid: int,
) -> tuple[float | None, Status, str]:
    """Overall health (the weakest assessed component), status and the one-line verdict."""
    assessed = [c for c in components if c.assessed and c.health is not None]
    if n_valid == 0 or not assessed:
        graded = [c for c in components if c.assessed]
        why = (
            f"{n_valid} of {n_windows} window(s) had enough valid sensor data"
            if n_valid == 0 or not graded
            else "no graded component had enough valid data around it"
        )
        return None, Status.INSUFFICIENT_DATA, f"Insufficient data: {why}; nothing graded."
    worst = min(assessed, key=lambda c: c.health if c.health is not None else 1.0)
    health = float(worst.health) if worst.health is not None else None
    status = min((c.status for c in assessed), key=lambda s: _STATUS_RANK[s])
    bad = sorted(
        (c for c in assessed if c.status in (Status.CRITICAL, Status.WARNING)),
        key=lambda c: c.health if c.health is not None else 1.0,
    )
    others = [f for f in found if f.kind in ("unexplained_anomaly", "limit_violation")]
    thin = [c for c in components if c.status is Status.INSUFFICIENT_DATA]
    if bad:
        parts = [
            f"{c.name} {c.status.value} ({grade_label(c)}, health {health_text(c.health)}{_falling(c)})"
            for c in bad[:3]
        ]
        verdict = f"{status.value.upper()}: " + "; ".join(parts)
        if len(bad) > 3:
            verdict += f"; {len(bad) - 3} more"
    elif len(assessed) == 1:
        verdict = f"HEALTHY: {worst.name} healthy (health {health_text(worst.health)})"
    else:
        # "all" only when nothing graded was left out for lack of data
        which = f"the {len(assessed)} assessed" if thin else f"all {len(assessed)} graded"
        verdict = (
            f"HEALTHY: {which} components healthy (lowest {worst.name}, "
            f"health {health_text(worst.health)})"
        )
    extras = []
    if others:
        extras.append(f"{len(others)} limit/anomaly finding(s)")
    if thin:
        # named: "healthy" over one component of four must not read as the machine's health
        names = ", ".join(c.name for c in thin[:3]) + (
            f" and {len(thin) - 3} more" if len(thin) > 3 else ""
        )
        extras.append(f"not assessed for lack of data: {names}")
    earlier = [(c, e) for c in assessed for e in c.worse_earlier]
    if earlier:
        # the headline is the current state; what was worse before is named, never averaged in
        c, e = min(earlier, key=lambda ce: (_STATUS_RANK[ce[1].status], ce[1].lowest_health))
        more = f" and {len(earlier) - 1} more" if len(earlier) > 1 else ""
        extras.append(
            f"{c.name} was {e.status.value} earlier ({e.start:%H:%M}–{e.end:%H:%M}){more}"
        )
    if n_valid < n_windows:
        extras.append(f"{n_windows - n_valid} of {n_windows} windows skipped for data quality")
    if extras:
        verdict += " — " + ", ".join(extras)
    return health, status, verdict


def current_span(
    components: Sequence[ComponentResult],
) -> tuple[datetime | None, datetime | None]:
    """(start, end) of the stretch of latest windows the graded components' current states
    are taken from (a diagnosis' ``current_start`` / ``current_end``)."""
    starts = [c.current_start for c in components if c.current_start is not None]
    ends = [c.current_end for c in components if c.current_end is not None]
    return (min(starts) if starts else None, max(ends) if ends else None)


def _falling(c: ComponentResult) -> str:
    """', falling' when the component's health trend falls significantly."""
    t = c.trend
    if t is None or not t.enough_history or t.rate_low_per_100h is None:
        return ""
    return ", falling" if t.rate_low_per_100h > 0 else ""


def sort_components(
    components: Sequence[ComponentResult], order: Sequence[str]
) -> tuple[ComponentResult, ...]:
    """Components in profile order (the GUI and the report keep the machine's own order)."""
    index = {c: i for i, c in enumerate(order)}
    return tuple(sorted(components, key=lambda c: index.get(c.component_id, len(index))))


def limit_finding(c: ComponentResult, v: LimitViolation) -> Finding:
    """The finding of a sensor beyond one of its profile's limits (graded and anomaly models)."""
    return Finding(
        component_id=c.component_id,
        kind="limit_violation",
        severity=Priority.HIGH if v.kind.startswith("alarm") else Priority.MEDIUM,
        summary=(
            f"{c.name}: {v.sensor_id} beyond its {v.kind.replace('_', ' ')} limit "
            f"{v.limit:g} {v.unit} for {v.duration_s:.0f} s (worst {v.worst_value:.4g})"
        ),
        evidence=(f"from {v.start:%Y-%m-%d %H:%M:%S} to {v.end:%H:%M:%S}",),
    )


def model_info(model: LoadedModel) -> ModelInfo:
    """What a diagnosis records of the model that made it."""
    return ModelInfo(
        model_id=model.model_id,
        version=model.model_version,
        profile_id=model.profile_id,
        path=str(model.path),
        card_metrics=model.card_metrics,
        sha256=model.sha256,
        calibrated_on=model.calibrated_on,
    )
