"""The model's outputs over a diagnosis's windows turned into results: one
:class:`ComponentResult` per component, one :class:`WindowResult` per window, and the rows of
the workspace's health history."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from gnn import postprocess as post
from gnn.contract import grade_range
from gnn.faults import fault_components
from gnn.graph import GraphSpec
from gnn.persist import HealthRows, load_health_history
from gnn.quality import QualityReport
from gnn.results import (
    AnomalyResult,
    AttentionEdge,
    ComponentResult,
    LimitViolation,
    Status,
    StatusThresholds,
    WindowResult,
)
from gnn.runtime import LoadedModel, ModelOutputs
from gnn.trends import HealthHistory, fit_trend, make_history
from ingestion.profiles import EquipmentProfile
from ingestion.queries import Windows
from ingestion.workspace import Store

RECENT_WINDOWS = 10  # "now" = the last this many assessed windows of the selection
FORECAST_REFERENCE_META = "hydrodiag.forecast_error_reference"  # written by training/export.py

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DiagnosisJob:
    """What every step of one diagnosis reads: the equipment, the model and how strict."""

    store: Store
    equipment_id: str
    profile: EquipmentProfile
    model: LoadedModel
    thresholds: StatusThresholds
    rate_hz: float  # the model's sampling rate and window length (its card)
    window_s: float

    @property
    def spec(self) -> GraphSpec:
        return self.model.graph_spec


@dataclass(frozen=True)
class WindowFrame:
    """The selected windows in time: start, end and load-cycle number (None without cycles)."""

    starts: list[datetime]
    ends: list[datetime]
    cycles: npt.NDArray[np.int64] | None

    @classmethod
    def of(cls, windows: Windows) -> WindowFrame:
        return cls(_py_times(windows.starts), _py_times(windows.ends), windows.cycle_numbers)

    @property
    def count(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class ModelRun:
    """The model's inputs and outputs on the valid windows."""

    x: F32
    mask: F32
    outputs: ModelOutputs


@dataclass(frozen=True)
class Assessment:
    """The model's outputs laid over all B windows: NaN where a window was not assessed."""

    valid_idx: npt.NDArray[np.intp]  # the windows the model ran on
    node_ok: BoolArray  # [B, N] enough data around the node (gnn.quality)
    grade_probs: F32  # [B, N, 4]
    health: F32  # [B, N]
    fault_probs: F32  # [B, N, K]
    errors: F64  # [B, S] one-step forecast error per sensor
    attention: F32  # [B, L, E], 0 where not assessed ([B, 1, E] when no window was)


def lay_out(
    job: DiagnosisJob,
    run: ModelRun | None,
    valid_idx: npt.NDArray[np.intp],
    node_ok: BoolArray,
    n_windows: int,
) -> Assessment:
    """The model's outputs at their windows' places among all ``n_windows``."""
    spec = job.spec
    n_nodes = spec.num_nodes
    grade_probs = np.full((n_windows, n_nodes, 4), np.nan, dtype=np.float32)
    health = np.full((n_windows, n_nodes), np.nan, dtype=np.float32)
    fault_probs = np.full((n_windows, n_nodes, len(job.model.fault_types)), np.nan, np.float32)
    errors = np.full((n_windows, len(spec.sensors)), np.nan, dtype=np.float64)
    if run is None:
        attention = np.zeros((n_windows, 1, spec.num_edges), dtype=np.float32)
    else:
        out = run.outputs
        grade_probs[valid_idx] = out.grade_probs
        health[valid_idx] = out.health
        fault_probs[valid_idx] = out.fault_probs
        errors[valid_idx] = post.forecast_errors(run.x, run.mask, out.forecast, spec)
        attention = np.zeros((n_windows, *out.attention.shape[1:]), dtype=np.float32)
        attention[valid_idx] = out.attention
    return Assessment(valid_idx, node_ok, grade_probs, health, fault_probs, errors, attention)


@dataclass(frozen=True)
class Evidence:
    """What post-processing reads from the outputs: anomalies, limits, attention, faults."""

    reference_kind: str  # where the typical forecast error came from
    ratios: F64  # [B, S] forecast error over its reference
    scores: F64  # [B, N] anomaly score per node
    limits: Mapping[str, tuple[LimitViolation, ...]]  # component -> limit violations
    edges: tuple[AttentionEdge, ...]
    attention_per_window: F32  # [B, E]
    faults_of: Mapping[str, list[str]]  # component -> fault types trained for it


def gather_evidence(
    job: DiagnosisJob, frame: WindowFrame, quality: QualityReport, assessed: Assessment
) -> Evidence:
    """Anomaly scores against the typical forecast error, limit violations, attention per edge
    and the fault types of each component."""
    spec = job.spec
    reference, reference_kind = post.error_reference(
        assessed.errors[assessed.valid_idx], spec, _card_reference(job.model)
    )
    ratios = post.anomaly_ratios(assessed.errors, reference)
    edges, per_window = post.attention_edges(assessed.attention, quality.window_valid, spec)
    return Evidence(
        reference_kind=reference_kind,
        ratios=ratios,
        scores=post.node_scores(ratios, spec),
        limits=post.limit_violations(
            quality.values, starts=frame.starts, rate_hz=job.rate_hz, profile=job.profile
        ),
        edges=edges,
        attention_per_window=per_window,
        faults_of=fault_components(job.store, job.equipment_id, job.model),
    )


def _card_reference(model: LoadedModel) -> dict[str, float] | None:
    """Per-sensor typical forecast error on the training data, if the model carries it.

    The exporter writes it per node id into the metadata (``hydrodiag.forecast_error_reference``);
    a card may give it per sensor or per node. Node values apply to each sensor of the node.
    """
    raw: Any = None
    if model.metadata.get(FORECAST_REFERENCE_META):
        try:
            raw = json.loads(model.metadata[FORECAST_REFERENCE_META])
        except json.JSONDecodeError:
            raw = None
    if not raw and model.card:
        raw = model.card.get("forecast_error_reference")
    if not isinstance(raw, Mapping) or not raw:
        return None
    values = {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)}
    spec = model.graph_spec
    out: dict[str, float] = {}
    for s in spec.sensors:
        node_id = spec.nodes[s.node].id
        if s.id in values:
            out[s.id] = values[s.id]
        elif node_id in values:
            out[s.id] = values[node_id]
    return out or None


@dataclass
class _HealthRowsBuilder:
    """The ``health_history`` rows of one diagnosis, added component by component."""

    component_id: list[str] = field(default_factory=list)
    window_start: list[datetime] = field(default_factory=list)
    window_end: list[datetime] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    grade: list[int] = field(default_factory=list)
    anomaly: list[float | None] = field(default_factory=list)

    def add(
        self,
        component_id: str,
        frame: WindowFrame,
        idx: npt.NDArray[np.intp],
        health: F32,
        grades: npt.NDArray[np.intp],
        anomaly: F64,
    ) -> None:
        self.component_id += [component_id] * idx.size
        self.window_start += [frame.starts[i] for i in idx]
        self.window_end += [frame.ends[i] for i in idx]
        self.health += health.astype(float).tolist()
        self.grade += grades.astype(int).tolist()
        self.anomaly += [float(v) if np.isfinite(v) else None for v in anomaly]

    def rows(self) -> HealthRows:
        return HealthRows(
            self.component_id,
            self.window_start,
            self.window_end,
            self.health,
            self.grade,
            self.anomaly,
        )


class _ComponentBasics(TypedDict):
    """What every component's result holds, graded or not."""

    component_id: str
    name: str
    type: str
    anomaly: AnomalyResult | None
    limit_violations: tuple[LimitViolation, ...]
    sensors: tuple[str, ...]
    n_windows: int
    attention_neighbours: tuple[tuple[str, float], ...]


def component_results(
    job: DiagnosisJob,
    frame: WindowFrame,
    assessed: Assessment,
    evidence: Evidence,
    anomaly_threshold: float,
) -> tuple[list[ComponentResult], HealthRows]:
    """One result per component of the model's graph (graded, not assessed or without enough
    data) and the ``health_history`` rows of the graded ones."""
    graded = set(job.model.graded_components)
    history = load_health_history(
        job.store, job.equipment_id, component_ids=sorted(graded), model_id=job.model.model_id
    )
    components: list[ComponentResult] = []
    rows = _HealthRowsBuilder()
    for node, node_spec in enumerate(job.spec.nodes):
        comp = job.profile.component(node_spec.id)
        ok = assessed.node_ok[:, node]
        common: _ComponentBasics = {
            "component_id": comp.id,
            "name": comp.name,
            "type": comp.type.value,
            "anomaly": post.component_anomaly(
                node,
                evidence.ratios,
                assessed.errors,
                evidence.scores,
                ok,
                job.spec,
                threshold=anomaly_threshold,
                reference=evidence.reference_kind,
            ),
            "limit_violations": evidence.limits.get(comp.id, ()),
            "sensors": tuple(s.id for s in job.spec.sensors if s.node == node),
            "n_windows": int(ok.sum()),
            "attention_neighbours": post.attention_neighbours(evidence.edges, comp.id),
        }
        if comp.id not in graded or not ok.any():  # not the model's to grade, or too little data
            is_graded = comp.id in graded
            status = Status.INSUFFICIENT_DATA if is_graded else Status.NOT_ASSESSED
            components.append(
                ComponentResult(
                    assessed=is_graded, status=status, health=None, grade=None, **common
                )
            )
            continue
        idx = np.flatnonzero(ok)
        window_grades = assessed.grade_probs[idx, node].argmax(axis=1)
        rows.add(
            comp.id,
            frame,
            idx,
            assessed.health[idx, node],
            window_grades,
            evidence.scores[idx, node],
        )
        past = history.get(comp.id)
        components.append(
            _graded_result(job, node, idx, window_grades, assessed, evidence, past, frame, common)
        )
    return components, rows.rows()


def _graded_result(
    job: DiagnosisJob,
    node: int,
    idx: npt.NDArray[np.intp],
    window_grades: npt.NDArray[np.intp],
    assessed: Assessment,
    evidence: Evidence,
    past: HealthHistory | None,
    frame: WindowFrame,
    common: _ComponentBasics,
) -> ComponentResult:
    """A graded component's condition: its current state over the latest of its windows
    ``idx`` (grade, health, status, confidence, fault probabilities), the mean over all of
    them, the stretches it was worse earlier, and the health trend (over its ``past`` stored
    health and these windows)."""
    comp_id = job.spec.nodes[node].id
    fault_types = job.model.fault_types
    grade_probs, health = assessed.grade_probs, assessed.health
    # The current state: the latest assessed windows. A long selection's mean would let hours
    # of healthy windows dilute a critical now (docs/diagnosis.md, "Current state").
    current = idx[-RECENT_WINDOWS:]
    probs = _mean_probs(grade_probs[current, node])
    grade = int(np.argmax(probs))
    lowest, highest = grade_range([float(p) for p in probs])
    h = float(np.mean(health[current, node]))
    status = job.thresholds.status(h)
    selection_probs = _mean_probs(grade_probs[idx, node])
    trained = [f for f in evidence.faults_of.get(comp_id, []) if f in fault_types]
    current_grades = window_grades[-current.size :]
    hist = make_history(
        comp_id,
        [*(past.starts if past else ()), *(frame.starts[i] for i in idx)],
        [*(past.ends if past else ()), *(frame.ends[i] for i in idx)],
        [*(past.health.tolist() if past else ()), *health[idx, node].astype(float).tolist()],
    )
    earlier = idx[: idx.size - current.size]
    return ComponentResult(
        assessed=True,
        status=status,
        health=h,
        grade=grade,
        grade_probs=tuple(float(p) for p in probs),
        confidence=float(np.mean(grade_probs[current, node, grade])),
        grade_range=(lowest, highest),
        grade_range_probability=float(probs[lowest : highest + 1].sum()),
        fault_probs={
            f: float(np.mean(assessed.fault_probs[current, node, fault_types.index(f)]))
            for f in trained
        },
        trend=fit_trend(hist, job.thresholds),
        grade_share=_share(current_grades),
        recent_health=h,
        recent_grade=grade,
        current_windows=int(current.size),
        current_start=frame.starts[int(current[0])],
        current_end=frame.ends[int(current[-1])],
        selection_health=float(np.mean(health[idx, node])),
        selection_grade=int(np.argmax(selection_probs)),
        selection_grade_share=_share(window_grades),
        worse_earlier=post.worse_episodes(
            [frame.starts[i] for i in earlier],
            [frame.ends[i] for i in earlier],
            health[earlier, node].astype(np.float64),
            now=status,
            thresholds=job.thresholds,
        ),
        **common,
    )


def _mean_probs(probs: F32) -> F64:
    """[W, 4] grade probabilities of some windows -> their mean, renormalised."""
    mean = probs.astype(np.float64).mean(axis=0)
    return np.asarray(mean / max(float(mean.sum()), 1e-9), dtype=np.float64)


def _share(window_grades: npt.NDArray[np.intp]) -> tuple[float, ...]:
    """Share of windows per grade (4 values, rounded)."""
    share = np.bincount(window_grades, minlength=4)[:4] / max(window_grades.size, 1)
    return tuple(round(float(v), 4) for v in share)


def window_results(
    job: DiagnosisJob,
    frame: WindowFrame,
    quality: QualityReport,
    assessed: Assessment,
    evidence: Evidence,
) -> tuple[WindowResult, ...]:
    """Per window: health, grade and anomaly score of each component with enough data, and the
    attention per edge."""
    graded = set(job.model.graded_components)
    valid, node_ok, scores = quality.window_valid, assessed.node_ok, evidence.scores
    grades = np.nan_to_num(assessed.grade_probs, nan=-1.0).argmax(axis=2)
    out = []
    for b in range(frame.count):
        h: dict[str, float] = {}
        g: dict[str, int] = {}
        a: dict[str, float] = {}
        if valid[b]:
            for n, comp in enumerate(job.spec.node_ids):
                if not node_ok[b, n]:
                    continue
                if comp in graded:
                    h[comp] = round(float(assessed.health[b, n]), 4)
                    g[comp] = int(grades[b, n])
                if np.isfinite(scores[b, n]):
                    a[comp] = round(float(scores[b, n]), 3)
        attention = evidence.attention_per_window[b]
        out.append(
            WindowResult(
                start=frame.starts[b],
                end=frame.ends[b],
                cycle=int(frame.cycles[b]) if frame.cycles is not None else None,
                valid=bool(valid[b]),
                health=h,
                grade=g,
                anomaly=a,
                attention=tuple(round(float(v), 4) for v in attention) if valid[b] else (),
            )
        )
    return tuple(out)


def _py_times(a: npt.NDArray[Any]) -> list[datetime]:
    return list(np.asarray(a, dtype="datetime64[us]").tolist())
