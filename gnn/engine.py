"""The diagnosis engine: windows of an equipment in, a stored :class:`Diagnosis` out. Qt-free.

``diagnose(store, equipment_id, selection=...)`` checks the model against the equipment's
profile, reads cycle windows (or aligned windows for continuous logs, :mod:`gnn.windowing`),
cleans them (:mod:`gnn.quality`), runs ONNX Runtime (:mod:`gnn.runtime`), post-processes
(:mod:`gnn.postprocess`), adds trends (:mod:`gnn.trends`) and recommendations
(:mod:`gnn.recommend`), and stores everything in one transaction (:mod:`gnn.persist`).
Any error before the final write leaves the workspace as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from gnn import postprocess as post
from gnn.anomaly import graded_episodes, is_anomaly_model
from gnn.anomaly_headline import diagnose_normal
from gnn.assessment import (
    DiagnosisJob,
    ModelRun,
    WindowFrame,
    component_results,
    gather_evidence,
    lay_out,
    window_results,
)
from gnn.graph import GraphSpec, build_inputs
from gnn.model_cache import cached_model
from gnn.persist import HealthRows, store_diagnosis
from gnn.quality import MIN_NODE_SUPPORT, MIN_WINDOW_VALID, QualityReport, check_quality
from gnn.recommend import RuleTable, load_rules, recommend
from gnn.registry import resolve_model
from gnn.results import (
    ComponentResult,
    DataQualityWarning,
    Diagnosis,
    Finding,
    Recommendation,
    Status,
    StatusThresholds,
)
from gnn.runtime import LoadedModel, ModelOutputs, ProviderChoice
from gnn.selection import EngineError, Selection
from gnn.windowing import WindowAlignment, aligned_windows, window_settings
from ingestion.catalog import equipment_profile
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.queries import Windows
from ingestion.workspace import Store, utc_now

# The engine's API; what to diagnose and the error it raises come with it.
__all__ = [
    "EngineError",
    "Selection",
    "check_model",
    "diagnose",
    "diagnose_recent",
    "diagnose_slices",
]

BATCH = 256  # windows per inference call


class _Stopwatch:
    """Milliseconds per stage of one diagnosis, in the order measured (``timings_ms``)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.ms[name] = (time.perf_counter() - t) * 1000

    def total(self, name: str) -> None:
        """Record the time since the diagnosis started as ``name``."""
        self.ms[name] = (time.perf_counter() - self.started) * 1000

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.ms.items()}


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
    else the equipment's active model (:func:`gnn.registry.resolve_model`: the one activated
    for it, else the built-in model for its profile) is loaded with ``provider``. Raises :class:`HydroDiagError` subclasses
    for unknown equipment, a model for another profile, a corrupt model or no data — with
    nothing written.

    On continuous data (no cycle table) the windows begin at the detected load-cycle starts
    unless ``align_cycles`` is False (see :func:`gnn.windowing.aligned_windows`); where they do
    not, the diagnosis says so in a data-quality warning.
    """
    clock = _Stopwatch()
    selection = selection or Selection()
    thresholds = _checked_thresholds(thresholds or StatusThresholds())
    created = now or utc_now()
    profile = equipment_profile(store.cursor(), equipment_id)
    with clock.stage("load_model"):
        model = _checked_model(store, model, model_path, profile, equipment_id, provider, threads)
    job = DiagnosisJob(store, equipment_id, profile, model, thresholds, *window_settings(model))
    rules = load_rules()  # a broken rule table fails here, before any work
    if is_anomaly_model(model):  # learned the machine's normal: scores, episodes, no grades
        diagnosis, rows = diagnose_normal(
            job,
            selection,
            created=created,
            inspection_id=inspection_id,
            rules=rules,
            progress=progress,
            stage=clock.stage,
        )
        check_cancelled(progress)
        return _stored(store, diagnosis, rows, save=save, clock=clock)
    with clock.stage("query"):
        windows, alignment = _query(job, selection, align_cycles, progress)
        frame = WindowFrame.of(windows)
    check_cancelled(progress)
    with clock.stage("quality"):
        quality = _checked_quality(job, windows, frame)
        valid_idx = np.flatnonzero(quality.window_valid)
        node_ok = quality.node_ok(MIN_NODE_SUPPORT)  # [B, N]
    outputs = _run_model(job, quality, valid_idx, progress, clock)
    with clock.stage("postprocess"):
        assessed = lay_out(job, outputs, valid_idx, node_ok, frame.count)
        check_cancelled(progress)
        evidence = gather_evidence(job, frame, quality, assessed)
    with clock.stage("trends"):
        components, rows = component_results(job, frame, assessed, evidence, anomaly_threshold)
        episodes, own = graded_episodes(
            frame.starts, frame.ends, evidence.scores, evidence.ratios, job.spec, anomaly_threshold
        )
        components = [
            c.model_copy(update={"episodes": tuple(own.get(c.component_id, ()))})
            for c in components
        ]
    with clock.stage("recommend"):
        verdict = _conclusion(job, created, components, quality, frame.count, valid_idx.size, rules)
        per_window = window_results(job, frame, quality, assessed, evidence)
        current = post.current_span(components)
    diagnosis = Diagnosis(
        equipment_id=equipment_id,
        created_at=created,
        window_start=frame.starts[0],
        window_end=frame.ends[-1],
        n_windows=frame.count,
        n_valid_windows=int(valid_idx.size),
        overall_health=verdict.overall_health,
        overall_status=verdict.overall_status,
        verdict=verdict.text,
        model=post.model_info(model),
        provider=model.provider,
        provider_note=model.provider_note,
        timings_ms={},
        components=post.sort_components(components, profile.component_ids),
        edges=evidence.edges,
        windows=per_window,
        findings=verdict.findings,
        recommendations=verdict.recommendations,
        data_quality=(*quality.warnings, *_alignment_warnings(alignment, frame)),
        thresholds=thresholds,
        inspection_id=inspection_id,
        selection=selection.describe() + (alignment.selection_suffix if alignment else ""),
        rate_hz=job.rate_hz,
        episodes=tuple(episodes),
        current_start=current[0],
        current_end=current[1],
    )
    check_cancelled(progress)
    return _stored(store, diagnosis, rows, save=save, clock=clock)


def _checked_thresholds(thresholds: StatusThresholds) -> StatusThresholds:
    if thresholds.critical > thresholds.healthy:
        raise EngineError(
            f"status thresholds: critical ({thresholds.critical}) must not be above healthy "
            f"({thresholds.healthy})"
        )
    return thresholds


def _checked_model(
    store: Store,
    model: LoadedModel | None,
    model_path: Path | str | None,
    profile: EquipmentProfile,
    equipment_id: str,
    provider: ProviderChoice,
    threads: int | None,
) -> LoadedModel:
    """The caller's model, the one at ``model_path``, or the equipment's active model (from the
    workspace's registry), checked against the equipment's profile."""
    if model is None and model_path is not None:
        model = cached_model(Path(model_path), provider=provider, threads=threads)
    elif model is None:
        model = resolve_model(store, equipment_id, profile, provider=provider, threads=threads)
    model.check_profile(profile, equipment=equipment_id)
    return model


def check_model(
    store: Store,
    equipment_id: str,
    *,
    model_path: Path | str | None = None,
    provider: ProviderChoice = "auto",
    threads: int | None = None,
) -> LoadedModel:
    """The model :func:`diagnose` would use for ``equipment_id``, checked against its profile:
    raises :class:`ModelError` (no model, or none for this profile) before any data is read, so
    that a front end can say so instead of offering a diagnosis that cannot run."""
    profile = equipment_profile(store.cursor(), equipment_id)
    return _checked_model(store, None, model_path, profile, equipment_id, provider, threads)


def _query(
    job: DiagnosisJob, selection: Selection, align_cycles: bool, progress: Progress
) -> tuple[Windows, WindowAlignment | None]:
    """The selected windows of the model's sensors, at load-cycle starts where found."""
    return aligned_windows(
        job.store,
        job.equipment_id,
        job.spec.sensor_ids,
        selection,
        rate_hz=job.rate_hz,
        window_s=job.window_s,
        align_cycles=align_cycles,
        progress=progress,
    )


def _checked_quality(job: DiagnosisJob, windows: Windows, frame: WindowFrame) -> QualityReport:
    """The windows cleaned (:func:`gnn.quality.check_quality`), with each component's grade
    withheld where a sensor the model needs for it is missing."""
    quality = check_quality(
        windows.values,
        starts=frame.starts,
        ends=frame.ends,
        rate_hz=job.rate_hz,
        profile=job.profile,
        spec=job.spec,
        min_window_valid=MIN_WINDOW_VALID,
    )
    quality.require_sensors(job.model.required_sensors, job.spec)
    return quality


def _run_model(
    job: DiagnosisJob,
    quality: QualityReport,
    valid_idx: npt.NDArray[np.intp],
    progress: Progress,
    clock: _Stopwatch,
) -> ModelRun | None:
    """Run the model on the valid windows (None when there are none)."""
    if not valid_idx.size:
        return None
    with clock.stage("build_inputs"):
        x, mask = build_inputs(job.spec, {k: v[valid_idx] for k, v in quality.values.items()})
    with clock.stage("inference"):
        outputs = _run_batches(job.model, x, mask, progress)
    return ModelRun(x, mask, outputs)


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


class _Verdict(NamedTuple):
    """What the diagnosis concludes: recommendations, findings, overall health and status."""

    recommendations: tuple[Recommendation, ...]
    findings: tuple[Finding, ...]
    overall_health: float | None
    overall_status: Status
    text: str


def _conclusion(
    job: DiagnosisJob,
    now: datetime,
    components: Sequence[ComponentResult],
    quality: QualityReport,
    n_windows: int,
    n_valid: int,
    rules: RuleTable,
) -> _Verdict:
    """Recommendations (:mod:`gnn.recommend`), findings and the verdict over all components."""
    recommendations = recommend(
        components,
        now=now,
        thresholds=job.thresholds,
        n_windows=n_valid,
        neighbours={c.component_id: c.attention_neighbours for c in components},
        neighbour_sensors=_neighbour_sensors(job.spec),
        data_notes=quality.notes,
        rules=rules,
    )
    found = post.findings(
        components, fault_threshold=rules.fault_threshold, thresholds=job.thresholds
    )
    health, status, text = post.overall(components, found, n_windows=n_windows, n_valid=n_valid)
    return _Verdict(recommendations, found, health, status, text)


def _neighbour_sensors(spec: GraphSpec) -> dict[str, list[str]]:
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


def _alignment_warnings(
    alignment: WindowAlignment | None, frame: WindowFrame
) -> list[DataQualityWarning]:
    """The warning of windows not (all) at detected load-cycle starts, over the whole range."""
    if alignment is None or alignment.warning is None:
        return []
    kind, message = alignment.warning
    return [
        DataQualityWarning(kind=kind, message=message, start=frame.starts[0], end=frame.ends[-1])
    ]


def _stored(
    store: Store, diagnosis: Diagnosis, rows: HealthRows, *, save: bool, clock: _Stopwatch
) -> Diagnosis:
    """The diagnosis with its timings, stored in the workspace when ``save``."""
    with clock.stage("store"):
        if save:
            # Timings go into the stored body too; "store" is the only one measured after it.
            clock.total("total_before_store")
            diagnosis = diagnosis.model_copy(update={"timings_ms": clock.rounded()})
            diagnosis = store_diagnosis(store, diagnosis, rows)
    clock.total("total")
    return diagnosis.model_copy(update={"timings_ms": clock.rounded()})


def diagnose_recent(
    store: Store,
    equipment_id: str,
    window_s: float,
    *,
    save: bool = True,
    model: LoadedModel | None = None,
    align: bool = True,
) -> Diagnosis:
    """The rolling diagnosis of a live feed: the last ``window_s`` seconds, cut into the model's
    windows at the machine's detected load-cycle starts (``ingestion.cycles``).

    The model was trained on whole cycles; fixed-clock windows that start mid-cycle cost it
    most of its pump accuracy. The engine aligns continuous data itself
    (:func:`gnn.windowing.aligned_windows`): when no cycle is detected (or ``align`` is False)
    its fixed windows over the last ``window_s`` are used and the diagnosis carries an
    ``unaligned_windows`` data-quality warning saying why. Equipment with a cycle table is
    diagnosed by those cycles. Stored when ``save``.
    """
    if window_s <= 0:
        raise EngineError(f"the diagnosis window must be positive, not {window_s:g} s.")
    recent = Selection(last=timedelta(seconds=window_s))
    return diagnose(
        store, equipment_id, selection=recent, save=save, model=model, align_cycles=align
    )


def diagnose_slices(
    store: Store,
    equipment_id: str,
    *,
    start: datetime,
    end: datetime,
    every: timedelta,
    progress: Progress = NO_PROGRESS,
) -> Iterator[tuple[datetime, datetime, Diagnosis]]:
    """Diagnose [start, end) in consecutive slices of ``every``, each stored as of its end, so
    that the workspace holds a health history over time; yields (slice start, slice end,
    diagnosis). One slice's windows are in memory at a time: a week of 100 Hz data is
    diagnosed in the memory of an hour. A last piece shorter than a quarter of ``every`` joins
    the slice before it (a few seconds past the hour are no slice of their own: they may not
    hold one window). An error stops the slices where it happened."""
    bounds = slice_bounds(start, end, every)
    progress.start("diagnosing", len(bounds), "diagnoses")
    try:
        for done, (slice_start, slice_end) in enumerate(bounds, start=1):
            check_cancelled(progress)
            selection = Selection(start=slice_start, end=slice_end)
            diagnosis = diagnose(store, equipment_id, selection=selection, now=slice_end)
            yield slice_start, slice_end, diagnosis
            progress.update(done)
    finally:
        progress.finish()


def slice_bounds(
    start: datetime, end: datetime, every: timedelta
) -> list[tuple[datetime, datetime]]:
    """[start, end) cut every ``every``; a last piece under a quarter of ``every`` is merged."""
    if every <= timedelta(0):
        raise EngineError(f"the slice length must be positive, not {every}.")
    bounds: list[tuple[datetime, datetime]] = []
    at = start
    while at < end:
        bounds.append((at, min(at + every, end)))
        at += every
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < every / 4:
        bounds[-2:] = [(bounds[-2][0], end)]
    return bounds
