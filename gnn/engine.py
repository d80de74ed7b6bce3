"""The diagnosis engine: windows of an equipment in, a stored :class:`Diagnosis` out. Qt-free.

``diagnose(store, equipment_id, selection=...)`` checks the model against the equipment's
profile, reads cycle windows (or aligned windows for continuous logs, :mod:`gnn.windowing`),
cleans them (:mod:`gnn.quality`), runs ONNX Runtime (:mod:`gnn.runtime`), post-processes
(:mod:`gnn.postprocess`), adds trends (:mod:`gnn.trends`) and recommendations
(:mod:`gnn.recommend`), and stores everything in one transaction (:mod:`gnn.persist`).
Any error before the final write leaves the workspace as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gnn import postprocess as post
from gnn.faults import fault_components
from gnn.graph import build_inputs, default_model_path
from gnn.model_cache import cached_model
from gnn.persist import HealthRows, load_health_history, store_diagnosis
from gnn.quality import MIN_NODE_SUPPORT, MIN_WINDOW_VALID, check_quality
from gnn.recommend import load_rules, recommend
from gnn.results import (
    ComponentResult,
    DataQualityWarning,
    Diagnosis,
    ModelInfo,
    Status,
    StatusThresholds,
    WindowResult,
)
from gnn.runtime import LoadedModel, ModelError, ModelOutputs, ProviderChoice
from gnn.selection import EngineError, Selection
from gnn.trends import fit_trend, make_history
from gnn.windowing import aligned_windows, window_settings
from ingestion.catalog import equipment_profile
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.workspace import Store, utc_now

# The engine's API; what to diagnose and the error it raises come with it.
__all__ = ["EngineError", "Selection", "diagnose"]

RECENT_WINDOWS = 10  # "now" = the last this many assessed windows of the selection
BATCH = 256  # windows per inference call


def _py_times(a: npt.NDArray[Any]) -> list[datetime]:
    return list(np.asarray(a, dtype="datetime64[us]").tolist())


FORECAST_REFERENCE_META = "hydrodiag.forecast_error_reference"  # written by training/export.py


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


def _run_batches(
    model: LoadedModel,
    x: npt.NDArray[np.float32],
    mask: npt.NDArray[np.float32],
    progress: Progress,
) -> ModelOutputs:
    parts: list[ModelOutputs] = []
    progress.start("diagnose", total=int(x.shape[0]), unit="windows")
    for lo in range(0, x.shape[0], BATCH):
        check_cancelled(progress)
        parts.append(model.run(x[lo : lo + BATCH], mask[lo : lo + BATCH], batch_size=BATCH))
        progress.update(min(lo + BATCH, x.shape[0]))
    progress.finish()
    return ModelOutputs(
        *(
            np.concatenate([getattr(p, f) for p in parts], axis=0)
            for f in ("grade_probs", "health", "fault_probs", "forecast", "attention")
        )
    )


def diagnose(
    store: Store,
    equipment_id: str,
    *,
    selection: Selection | None = None,
    model_path: Path | str | None = None,
    model: LoadedModel | None = None,
    thresholds: StatusThresholds | None = None,
    provider: ProviderChoice = "auto",
    progress: Progress = NO_PROGRESS,
    now: datetime | None = None,
    anomaly_threshold: float = post.ANOMALY_THRESHOLD,
    inspection_id: int | None = None,
    save: bool = True,
    threads: int | None = None,
    align_cycles: bool = True,
) -> Diagnosis:
    """Diagnose ``equipment_id`` over ``selection`` and store the result (unless ``save=False``).

    ``model`` reuses an already loaded model (the GUI keeps one); otherwise ``model_path`` or
    the shipped default is loaded with ``provider``. Raises :class:`HydroDiagError` subclasses
    for unknown equipment, a model for another profile, a corrupt model or no data — with
    nothing written.

    On continuous data (no cycle table) the windows begin at the detected load-cycle starts
    unless ``align_cycles`` is False (see :func:`gnn.windowing.aligned_windows`); where they do
    not, the diagnosis says so in a data-quality warning.
    """
    t_total = time.perf_counter()
    timings: dict[str, float] = {}
    selection = selection or Selection()
    thresholds = thresholds or StatusThresholds()
    if thresholds.critical > thresholds.healthy:
        raise EngineError(
            f"status thresholds: critical ({thresholds.critical}) must not be above healthy "
            f"({thresholds.healthy})"
        )
    created = now or utc_now()
    profile = equipment_profile(store.cursor(), equipment_id)

    t = time.perf_counter()
    if model is None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if model_path is None and not path.exists():
            raise ModelError(
                f"no shipped model found at {path}; train and export one "
                "(`hydrodiag train`, `hydrodiag export-onnx`) or pass --model PATH."
            )
        model = cached_model(path, provider=provider, threads=threads)
        model.check_profile(profile, equipment=equipment_id)
    else:
        model.check_profile(profile, equipment=equipment_id)
    timings["load_model"] = (time.perf_counter() - t) * 1000
    spec = model.graph_spec
    rate_hz, window_s = window_settings(model)
    rules = load_rules()  # a broken rule table fails here, before any work

    t = time.perf_counter()
    windows, alignment = aligned_windows(
        store,
        equipment_id,
        spec.sensor_ids,
        selection,
        rate_hz=rate_hz,
        window_s=window_s,
        align_cycles=align_cycles,
        progress=progress,
    )
    starts, ends = _py_times(windows.starts), _py_times(windows.ends)
    cycles = windows.cycle_numbers
    n_windows = windows.count
    timings["query"] = (time.perf_counter() - t) * 1000
    check_cancelled(progress)

    t = time.perf_counter()
    quality = check_quality(
        windows.values,
        starts=starts,
        ends=ends,
        rate_hz=rate_hz,
        profile=profile,
        spec=spec,
        min_window_valid=MIN_WINDOW_VALID,
    )
    quality.require_sensors(model.required_sensors, spec)
    valid_idx = np.flatnonzero(quality.window_valid)
    node_ok = quality.node_ok(MIN_NODE_SUPPORT)  # [B, N]
    timings["quality"] = (time.perf_counter() - t) * 1000

    n_nodes = spec.num_nodes
    grade_probs = np.full((n_windows, n_nodes, 4), np.nan, dtype=np.float32)
    health = np.full((n_windows, n_nodes), np.nan, dtype=np.float32)
    fault_probs = np.full((n_windows, n_nodes, len(model.fault_types)), np.nan, dtype=np.float32)
    errors = np.full((n_windows, len(spec.sensors)), np.nan, dtype=np.float64)
    attention: npt.NDArray[np.float32] | None = None
    if valid_idx.size:
        t = time.perf_counter()
        x, mask = build_inputs(spec, {k: v[valid_idx] for k, v in quality.values.items()})
        timings["build_inputs"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        out = _run_batches(model, x, mask, progress)
        timings["inference"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        grade_probs[valid_idx] = out.grade_probs
        health[valid_idx] = out.health
        fault_probs[valid_idx] = out.fault_probs
        errors[valid_idx] = post.forecast_errors(x, mask, out.forecast, spec)
        attention = np.zeros((n_windows, *out.attention.shape[1:]), dtype=np.float32)
        attention[valid_idx] = out.attention
    else:
        t = time.perf_counter()
    check_cancelled(progress)

    reference, reference_kind = post.error_reference(
        errors[valid_idx], spec, _card_reference(model)
    )
    ratios = post.anomaly_ratios(errors, reference)
    scores = post.node_scores(ratios, spec)
    limits = post.limit_violations(quality.values, starts=starts, rate_hz=rate_hz, profile=profile)
    if attention is None:
        attention = np.zeros((n_windows, 1, spec.num_edges), dtype=np.float32)
    edges, attention_per_window = post.attention_edges(attention, quality.window_valid, spec)
    faults_of = fault_components(store, equipment_id, model)
    graded = set(model.graded_components)
    timings["postprocess"] = (time.perf_counter() - t) * 1000

    t = time.perf_counter()
    history = load_health_history(
        store, equipment_id, component_ids=sorted(graded), model_id=model.model_id
    )
    components: list[ComponentResult] = []
    rows_comp: list[str] = []
    rows_start: list[datetime] = []
    rows_end: list[datetime] = []
    rows_health: list[float] = []
    rows_grade: list[int] = []
    rows_anomaly: list[float | None] = []
    for node, node_spec in enumerate(spec.nodes):
        comp = profile.component(node_spec.id)
        ok = node_ok[:, node]
        sensors = tuple(s.id for s in spec.sensors if s.node == node)
        anomaly = post.component_anomaly(
            node,
            ratios,
            errors,
            scores,
            ok,
            spec,
            threshold=anomaly_threshold,
            reference=reference_kind,
        )
        common: dict[str, Any] = {
            "component_id": comp.id,
            "name": comp.name,
            "type": comp.type.value,
            "anomaly": anomaly,
            "limit_violations": limits.get(comp.id, ()),
            "sensors": sensors,
            "n_windows": int(ok.sum()),
            "attention_neighbours": post.attention_neighbours(edges, comp.id),
        }
        if comp.id not in graded:
            components.append(
                ComponentResult(
                    assessed=False, status=Status.NOT_ASSESSED, health=None, grade=None, **common
                )
            )
            continue
        if not ok.any():
            components.append(
                ComponentResult(
                    assessed=True,
                    status=Status.INSUFFICIENT_DATA,
                    health=None,
                    grade=None,
                    **common,
                )
            )
            continue
        probs = grade_probs[ok, node].mean(axis=0)
        probs = probs / max(float(probs.sum()), 1e-9)
        grade = int(np.argmax(probs))
        h = float(np.mean(health[ok, node]))
        trained = [f for f in faults_of.get(comp.id, []) if f in model.fault_types]
        fp = {f: float(np.mean(fault_probs[ok, node, model.fault_types.index(f)])) for f in trained}
        idx = np.flatnonzero(ok)
        node_anomaly = scores[idx, node]
        window_grades = grade_probs[idx, node].argmax(axis=1)
        share = np.bincount(window_grades, minlength=4)[:4] / max(idx.size, 1)
        recent = idx[-RECENT_WINDOWS:]
        recent_probs = grade_probs[recent, node].mean(axis=0)
        rows_comp += [comp.id] * idx.size
        rows_start += [starts[i] for i in idx]
        rows_end += [ends[i] for i in idx]
        rows_health += health[idx, node].astype(float).tolist()
        rows_grade += window_grades.astype(int).tolist()
        rows_anomaly += [float(v) if np.isfinite(v) else None for v in node_anomaly]
        past = history.get(comp.id)
        hist = make_history(
            comp.id,
            [*(past.starts if past else ()), *(starts[i] for i in idx)],
            [*(past.ends if past else ()), *(ends[i] for i in idx)],
            [*(past.health.tolist() if past else ()), *health[idx, node].astype(float).tolist()],
        )
        components.append(
            ComponentResult(
                assessed=True,
                status=thresholds.status(h),
                health=h,
                grade=grade,
                grade_probs=tuple(float(p) for p in probs),
                confidence=float(np.mean(grade_probs[ok, node, grade])),
                fault_probs=fp,
                trend=fit_trend(hist, thresholds),
                grade_share=tuple(round(float(v), 4) for v in share),
                recent_health=float(np.mean(health[recent, node])),
                recent_grade=int(np.argmax(recent_probs)),
                **common,
            )
        )
    timings["trends"] = (time.perf_counter() - t) * 1000

    t = time.perf_counter()
    spec_neighbour_sensors = _neighbour_sensors(spec)
    recommendations = recommend(
        components,
        now=created,
        thresholds=thresholds,
        n_windows=int(valid_idx.size),
        neighbours={c.component_id: c.attention_neighbours for c in components},
        neighbour_sensors=spec_neighbour_sensors,
        data_notes=quality.notes,
        rules=rules,
    )
    found = post.findings(components, fault_threshold=rules.fault_threshold)
    overall_health, overall_status, verdict = post.overall(
        components, found, n_windows=n_windows, n_valid=int(valid_idx.size)
    )
    window_results = _window_results(
        starts,
        ends,
        cycles,
        quality.window_valid,
        node_ok,
        spec.node_ids,
        graded,
        health,
        grade_probs,
        scores,
        attention_per_window,
    )
    timings["recommend"] = (time.perf_counter() - t) * 1000

    diagnosis = Diagnosis(
        equipment_id=equipment_id,
        created_at=created,
        window_start=starts[0],
        window_end=ends[-1],
        n_windows=n_windows,
        n_valid_windows=int(valid_idx.size),
        overall_health=overall_health,
        overall_status=overall_status,
        verdict=verdict,
        model=ModelInfo(
            model_id=model.model_id,
            version=model.model_version,
            profile_id=model.profile_id,
            path=str(model.path),
            card_metrics=model.card_metrics,
        ),
        provider=model.provider,
        provider_note=model.provider_note,
        timings_ms={},
        components=post.sort_components(components, profile.component_ids),
        edges=edges,
        windows=window_results,
        findings=found,
        recommendations=recommendations,
        data_quality=(
            *quality.warnings,
            *(
                [
                    DataQualityWarning(
                        kind=alignment.warning[0],
                        message=alignment.warning[1],
                        start=starts[0],
                        end=ends[-1],
                    )
                ]
                if alignment is not None and alignment.warning is not None
                else []
            ),
        ),
        thresholds=thresholds,
        inspection_id=inspection_id,
        selection=selection.describe() + (alignment.selection_suffix if alignment else ""),
        rate_hz=rate_hz,
    )
    check_cancelled(progress)
    t = time.perf_counter()
    if save:
        rows = HealthRows(rows_comp, rows_start, rows_end, rows_health, rows_grade, rows_anomaly)
        # Timings go into the stored body too; "store" is the only one measured after it.
        timings["total_before_store"] = (time.perf_counter() - t_total) * 1000
        diagnosis = diagnosis.model_copy(update={"timings_ms": _round(timings)})
        diagnosis = store_diagnosis(store, diagnosis, rows)
    timings["store"] = (time.perf_counter() - t) * 1000
    timings["total"] = (time.perf_counter() - t_total) * 1000
    return diagnosis.model_copy(update={"timings_ms": _round(timings)})


def _round(timings: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in timings.items()}


def _neighbour_sensors(spec: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for node in spec.nodes:
        out[node.id] = []
    for e in spec.edges:
        src, dst = spec.nodes[e.source].id, spec.nodes[e.target].id
        for s in spec.sensors:
            if s.node == e.source and s.id not in out[dst]:
                out[dst].append(s.id)
            if s.node == e.target and s.id not in out[src]:
                out[src].append(s.id)
    return out


def _window_results(
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    cycles: npt.NDArray[np.int64] | None,
    valid: npt.NDArray[np.bool_],
    node_ok: npt.NDArray[np.bool_],
    node_ids: Sequence[str],
    graded: set[str],
    health: npt.NDArray[np.float32],
    grade_probs: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float64],
    attention: npt.NDArray[np.float32],
) -> tuple[WindowResult, ...]:
    out = []
    grades = np.nan_to_num(grade_probs, nan=-1.0).argmax(axis=2)
    for b in range(len(starts)):
        h: dict[str, float] = {}
        g: dict[str, int] = {}
        a: dict[str, float] = {}
        if valid[b]:
            for n, comp in enumerate(node_ids):
                if not node_ok[b, n]:
                    continue
                if comp in graded:
                    h[comp] = round(float(health[b, n]), 4)
                    g[comp] = int(grades[b, n])
                if np.isfinite(scores[b, n]):
                    a[comp] = round(float(scores[b, n]), 3)
        out.append(
            WindowResult(
                start=starts[b],
                end=ends[b],
                cycle=int(cycles[b]) if cycles is not None else None,
                valid=bool(valid[b]),
                health=h,
                grade=g,
                anomaly=a,
                attention=tuple(round(float(v), 4) for v in attention[b]) if valid[b] else (),
            )
        )
    return tuple(out)
