"""The diagnosis engine: windows of an equipment in, a stored :class:`Diagnosis` out. Qt-free.

``diagnose(store, equipment_id, selection=...)`` checks the model against the equipment's
profile, reads cycle windows (or sliding windows for continuous logs), cleans them
(:mod:`gnn.quality`), runs ONNX Runtime (:mod:`gnn.runtime`), post-processes
(:mod:`gnn.postprocess`), adds trends (:mod:`gnn.trends`) and recommendations
(:mod:`gnn.recommend`), and stores everything in one transaction (:mod:`gnn.persist`).
Any error before the final write leaves the workspace as it was.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, model_validator

from gnn import contract
from gnn import postprocess as post
from gnn.graph import build_inputs, default_model_path
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
from gnn.runtime import LoadedModel, ModelError, ModelOutputs, ProviderChoice, load_model
from gnn.trends import fit_trend, make_history
from ingestion.catalog import equipment_profile
from ingestion.cycles import (
    PARTLY_ALIGNED_WARNING,
    UNALIGNED_WARNING,
    align_range,
    equipment_has_cycles,
)
from ingestion.errors import HydroDiagError
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.queries import (
    Windows,
    cycle_windows,
    equipment_time_range,
    sliding_windows,
)
from ingestion.workspace import Store, utc_now

log = logging.getLogger(__name__)

RECENT_WINDOWS = 10  # "now" = the last this many assessed windows of the selection
DEFAULT_RATE_HZ = 1.0
DEFAULT_WINDOW_S = 60.0
BATCH = 256
ALIGN_SEGMENT_S = 3600.0  # cycle phase detected per hour of a long log: the machine's clock drifts
PERIOD_TOLERANCE_S = 0.5  # detected cycle vs the model's window length


class EngineError(HydroDiagError):
    """A diagnosis cannot be made as asked (no data in the range, bad selection, ...)."""


class Selection(BaseModel):
    """Which windows to diagnose: cycles A..B, a time range, the last duration, or everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cycles: tuple[int, int] | None = None
    start: datetime | None = None
    end: datetime | None = None
    last: timedelta | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Selection:
        kinds = [self.cycles is not None, self.start is not None or self.end is not None]
        kinds.append(self.last is not None)
        if sum(kinds) > 1:
            raise ValueError("choose one of: cycles, a from/to range, or the last duration")
        if self.cycles is not None and self.cycles[0] > self.cycles[1]:
            raise ValueError(f"cycles {self.cycles[0]}:{self.cycles[1]}: first is after last")
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"from {self.start} is not before to {self.end}")
        if self.last is not None and self.last <= timedelta(0):
            raise ValueError("the last duration must be positive")
        return self

    def describe(self) -> str:
        if self.cycles is not None:
            return f"cycles {self.cycles[0]}-{self.cycles[1]}"
        if self.last is not None:
            return f"last {_fmt_duration(self.last)}"
        if self.start is not None or self.end is not None:
            return f"from {self.start or 'the beginning'} to {self.end or 'the end'}"
        return "all data"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '15min', '2h', '3d', '1w' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise EngineError(
            f"--last {text!r}: not a duration; write a number and a unit, e.g. 90s, 15min, 2h, 3d"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_cycles(text: str) -> tuple[int, int]:
    """'A:B' (inclusive) or 'A' -> (A, B)."""
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return int(parts[0]), int(parts[0])
        if len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
            if first > last:
                raise ValueError
            return first, last
    except ValueError:
        pass
    raise EngineError(f"--cycles {text!r}: write FIRST:LAST with FIRST ≤ LAST, e.g. 1:200")


def parse_time(text: str) -> datetime:
    """ISO 8601 date/time; naive means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise EngineError(
            f"{text!r} is not a date/time; use ISO 8601, e.g. 2026-11-30T08:00 (UTC)"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _fmt_duration(d: timedelta) -> str:
    s = d.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{s / size:g} {unit}"
    return f"{s:g} s"


def _py_times(a: npt.NDArray[Any]) -> list[datetime]:
    return list(np.asarray(a, dtype="datetime64[us]").tolist())


def _window_settings(model: LoadedModel) -> tuple[float, float]:
    """(rate_hz, window length s) the model was trained on, from its card; rig defaults."""
    card = model.card or {}
    window = card.get("window") if isinstance(card.get("window"), Mapping) else {}
    data = card.get("data") if isinstance(card.get("data"), Mapping) else {}
    assert isinstance(window, Mapping) and isinstance(data, Mapping)
    try:
        rate = float(window.get("rate_hz", card.get("rate_hz", DEFAULT_RATE_HZ)))
        if "length_s" in window:
            length = float(window["length_s"])
        elif isinstance(data.get("window_length"), int | float) and data["window_length"] > 0:
            length = float(data["window_length"]) / rate  # samples per window (training/card.py)
        else:
            length = DEFAULT_WINDOW_S
    except (TypeError, ValueError):
        return DEFAULT_RATE_HZ, DEFAULT_WINDOW_S
    if not (rate > 0 and length > 0):
        return DEFAULT_RATE_HZ, DEFAULT_WINDOW_S
    return rate, length


FORECAST_REFERENCE_META = "hydrodiag.forecast_error_reference"  # written by training/export.py


def _card_reference(model: LoadedModel) -> dict[str, float] | None:
    """Per-sensor typical forecast error on the training data, if the model carries it.

    The exporter writes it per node id into the metadata (``hydrodiag.forecast_error_reference``);
    a card may give it per sensor or per node. Node values apply to each sensor of the node.
    """
    import json

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


_MODEL_CACHE: dict[tuple[str, int, int, str, int | None], LoadedModel] = {}
_MODEL_CACHE_SIZE = 2


def cached_model(
    path: Path, *, provider: ProviderChoice = "auto", threads: int | None = None
) -> LoadedModel:
    """A loaded model, reused while the file is unchanged (the live view diagnoses every few
    seconds; opening an ONNX Runtime session each time would cost more than the inference).
    ORT sessions may be run from several threads at once."""
    file = Path(path).expanduser()
    try:
        stat = file.stat()
        key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size, provider, threads)
    except OSError:
        return load_model(file, provider=provider, threads=threads)  # raises the clear error
    model = _MODEL_CACHE.get(key)
    if model is None:
        model = load_model(file, provider=provider, threads=threads)
        while len(_MODEL_CACHE) >= _MODEL_CACHE_SIZE:
            _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
        _MODEL_CACHE[key] = model
    return model


def fault_components(store: Store, equipment_id: str, model: LoadedModel) -> dict[str, list[str]]:
    """{component: fault types the model was trained on for it}, in the model's fault order.

    From the model's metadata ``hydrodiag.fault_components`` (written by the exporter, checked
    by :func:`gnn.runtime.load_model` and against the profile). Only for a model exported
    before that key existed is the mapping inferred (:func:`_inferred_fault_components`), with
    a logged warning saying so.
    """
    if model.fault_components is not None:
        out: dict[str, list[str]] = {}
        for fault in model.fault_types:
            for comp in model.fault_components.get(fault, ()):
                out.setdefault(comp, []).append(fault)
        return out
    out, source = _inferred_fault_components(store, equipment_id, model)
    key = (str(model.path), model.model_version, source)
    if key not in _WARNED_INFERRED:  # once per model and source, not every live refresh
        _WARNED_INFERRED.add(key)
        log.warning(
            "%s: model %s %s has no %s metadata (exported before it existed); which "
            "component a fault type belongs to is inferred %s. Re-export it with `hydrodiag export-onnx` to "
            "make the mapping explicit.",
            model.path,
            model.model_id,
            model.model_version,
            contract.META_FAULT_COMPONENTS,
            source,
        )
    return out


_WARNED_INFERRED: set[tuple[str, str, str]] = set()


def _inferred_fault_components(
    store: Store, equipment_id: str, model: LoadedModel
) -> tuple[dict[str, list[str]], str]:
    """The pre-metadata inference: model card, else the equipment's labels, else everything."""
    raw = model.card.get("fault_components") if model.card else None
    trained = set(model.fault_types)
    out: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        # either {fault: [components]} or {component: [faults]}
        for key, values in raw.items():
            items = [values] if isinstance(values, str) else list(values or [])
            if key in trained:
                for comp in items:
                    out.setdefault(str(comp), []).append(str(key))
            else:
                out.setdefault(str(key), []).extend(str(v) for v in items if v in trained)
        return out, "from the model card's fault_components"
    rows = (
        store.cursor()
        .execute(
            "SELECT DISTINCT component_id, fault_type FROM labels "
            "WHERE equipment_id = ? AND fault_type IS NOT NULL ORDER BY 1, 2",
            [equipment_id],
        )
        .fetchall()
    )
    for comp, fault in rows:
        if fault in trained and comp in model.graded_components:
            out.setdefault(comp, []).append(fault)
    if out:
        return out, f"from equipment {equipment_id!r}'s labels"
    everything = {c: list(model.fault_types) for c in model.graded_components}
    return everything, "from nothing (no labels): every fault type on every graded component"


class _Span(NamedTuple):
    """An equipment's data and the part of it a selection asks for."""

    first: datetime  # first measurement
    last: datetime  # last measurement
    data_end: datetime  # the data end where the last sample's bucket does: last + 1/rate
    start: datetime | None  # the selection's start (None: from the first measurement)
    end: datetime | None  # its end (None: to the data's end)


def _selected_span(
    store: Store, equipment_id: str, selection: Selection, rate_hz: float
) -> _Span | None:
    """The data span of the equipment and the selection's start and end in it (``--last``
    counts back from the data's end); None when it has no measurements."""
    span = equipment_time_range(store, equipment_id)
    if span is None:
        return None
    first, last = (v.astype("datetime64[us]").tolist() for v in span)
    # The last sample stands for the bucket [last, last + 1/rate): the data end there.
    data_end = last + timedelta(seconds=1.0 / rate_hz)
    start, end = selection.start, selection.end
    if selection.last is not None:
        end = data_end
        start = end - selection.last
    return _Span(first, last, data_end, start, end)


def query_windows(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    selection: Selection,
    *,
    rate_hz: float,
    window_s: float,
) -> Windows:
    """The selected windows: one per cycle when the equipment has cycles, else sliding."""
    span = _selected_span(store, equipment_id, selection, rate_hz)
    if span is None:
        raise EngineError(
            f"equipment {equipment_id!r} has no measurements in this workspace; import data "
            "first (`hydrodiag ingest ...`)."
        )
    first, last, data_end, start, end = span
    if equipment_has_cycles(store, equipment_id):
        windows = cycle_windows(
            store,
            equipment_id,
            sensor_ids,
            rate_hz=rate_hz,
            cycles=selection.cycles,
            start=start,
            end=end,
        )
    else:
        if selection.cycles is not None:
            raise EngineError(
                f"equipment {equipment_id!r} has no load cycles (continuous data); select a "
                "time range with --from/--to or --last instead of --cycles."
            )
        windows = sliding_windows(
            store,
            equipment_id,
            sensor_ids,
            start=start or first,
            end=end or data_end,
            length_s=window_s,
            stride_s=window_s,
            rate_hz=rate_hz,
        )
    has_data = windows.count > 0 and any(
        v.size and not np.isnan(v).all() for v in windows.values.values()
    )
    if not has_data:
        raise EngineError(
            f"no data for equipment {equipment_id!r} in the selected range ({selection.describe()}): its "
            f"measurements span {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC"
            + _cycle_span(store, equipment_id)
            + ". Choose a range inside it."
        )
    return windows


class WindowAlignment(BaseModel):
    """How the windows of a diagnosis were laid on continuous data: what to add to its
    selection text and the data-quality warning to add (kind, message), if any."""

    model_config = ConfigDict(frozen=True)

    selection_suffix: str = ""
    warning: tuple[str, str] | None = None


def _unaligned(reason: str) -> WindowAlignment:
    return WindowAlignment(
        warning=(
            UNALIGNED_WARNING,
            f"windows cut on a fixed clock, not at the machine's load-cycle starts: {reason}. "
            "Cycle-sensitive grades (the pump's) may be wrong.",
        )
    )


def aligned_windows(
    store: Store,
    equipment_id: str,
    sensor_ids: Sequence[str],
    selection: Selection,
    *,
    rate_hz: float,
    window_s: float,
    align_cycles: bool = True,
    progress: Progress = NO_PROGRESS,
) -> tuple[Windows, WindowAlignment | None]:
    """:func:`query_windows`, but on continuous data (no cycle table) the windows begin at the
    machine's detected load-cycle starts (:func:`ingestion.cycles.align_range`), as the model
    was trained on whole cycles: a fixed clock that starts mid-cycle costs it most of its
    valve, pump and accumulator accuracy.

    Long ranges are aligned an hour (``ALIGN_SEGMENT_S``) at a time, each at the phase its
    cycles agree on. Where no cycle is found, or its period differs from the model's window
    length by more than ``PERIOD_TOLERANCE_S``, the windows are the fixed ones of
    :func:`query_windows` and the returned alignment carries an ``unaligned_windows`` warning
    saying why; windows that miss a detected start (restart, outage, an hour without cycles)
    give a ``partly_aligned_windows`` warning. Equipment with a cycle table: its cycles, None.
    """

    def fixed() -> Windows:  # raises the engine's errors (no data in the range, ...)
        return query_windows(
            store, equipment_id, sensor_ids, selection, rate_hz=rate_hz, window_s=window_s
        )

    if selection.cycles is not None or equipment_has_cycles(store, equipment_id):
        return fixed(), None
    if not align_cycles:
        return fixed(), _unaligned("cycle alignment switched off")
    span = _selected_span(store, equipment_id, selection, rate_hz)
    if span is None:
        return fixed(), None  # raises: no measurements
    first, _, data_end, start, end = span
    cursor = max(start or first, first)
    range_end = min(end or data_end, data_end)
    window = timedelta(seconds=window_s)
    segment = timedelta(seconds=ALIGN_SEGMENT_S)
    pieces: list[tuple[datetime, datetime]] = []
    cycles = missed = 0
    reason = ""
    while range_end - cursor >= window:
        check_cancelled(progress)
        seg_end = cursor + segment if range_end - cursor >= 1.5 * segment else range_end
        # after an aligned hour, the next may begin up to a second early: its phase, picked on
        # its own sub-second grid, can sit a tenth of a second before the previous hour's end
        lead = timedelta(seconds=1) if pieces and cursor == pieces[-1][1] and cycles else None
        alignment = align_range(
            store, equipment_id, start=cursor - lead if lead else cursor, end=seg_end
        )
        period = alignment.period_s
        matches = period is not None and abs(period - window_s) <= PERIOD_TOLERANCE_S
        if alignment.aligned and matches:
            assert alignment.start is not None and alignment.end is not None
            pieces.append((alignment.start, alignment.end))
            cycles += alignment.cycles
            missed += alignment.unmatched
            cursor = alignment.end
            continue
        if alignment.aligned:
            reason = reason or (
                f"the model's {window_s:g} s windows differ from the detected {period or 0:g} s "
                "load cycle"
            )
            if not pieces:
                break  # the machine's cycle is not the model's: fixed windows throughout
        reason = reason or alignment.message
        n = int((seg_end - cursor) / window)
        if n:
            pieces.append((cursor, cursor + n * window))
            missed += n
        cursor = seg_end
    if not cycles:
        return fixed(), _unaligned(reason or "no load cycle detected")
    parts = [
        sliding_windows(
            store,
            equipment_id,
            sensor_ids,
            start=a,
            end=b,
            length_s=window_s,
            stride_s=window_s,
            rate_hz=rate_hz,
        )
        for a, b in pieces
    ]
    parts = [w for w in parts if w.count]
    windows = Windows(
        starts=np.concatenate([w.starts for w in parts]),
        ends=np.concatenate([w.ends for w in parts]),
        cycle_numbers=None,
        values={k: np.concatenate([w.values[k] for w in parts]) for k in parts[0].values},
        rate_hz=rate_hz,
    )
    suffix = f", {cycles} detected load cycles"
    if not missed:
        return windows, WindowAlignment(selection_suffix=suffix)
    return windows, WindowAlignment(
        selection_suffix=f"{suffix} ({missed} not at a detected start)",
        # most windows begin at a cycle start, these do not
        warning=(
            PARTLY_ALIGNED_WARNING,
            f"{missed} of {windows.count} windows do not begin at a detected load-cycle "
            "start (the machine restarted its cycle, or data is missing there); their grades "
            "are less reliable.",
        ),
    )


def _cycle_span(store: Store, equipment_id: str) -> str:
    row = (
        store.cursor()
        .execute(
            "SELECT min(cycle_no), max(cycle_no), count(*) FROM cycles WHERE equipment_id = ?",
            [equipment_id],
        )
        .fetchone()
    )
    if not row or not row[2]:
        return ""
    return f" (cycles {row[0]}-{row[1]}, {row[2]} in all)"


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
    unless ``align_cycles`` is False (see :func:`aligned_windows`); where they do not, the
    diagnosis says so in a data-quality warning.
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
    rate_hz, window_s = _window_settings(model)
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


class LabelAgreement(BaseModel):
    """How a diagnosis's per-window grades agree with the workspace's condition labels."""

    model_config = ConfigDict(frozen=True)

    component_id: str
    n_windows: int  # windows with both a label and a grade
    accuracy: float | None  # share of exactly matching grades
    within_one: float | None  # share within one grade
    confusion: tuple[tuple[int, ...], ...]  # [label][grade] counts, 4 x 4


def compare_with_labels(store: Store, diagnosis: Diagnosis) -> dict[str, LabelAgreement]:
    """Per graded component, agreement of the window grades with the labels (``labels`` table)."""
    from ingestion.queries import cycle_labels

    windows = diagnosis.windows
    frame = Windows(
        starts=np.asarray([w.start for w in windows], dtype="datetime64[us]"),
        ends=np.asarray([w.end for w in windows], dtype="datetime64[us]"),
        cycle_numbers=None,
        values={},
        rate_hz=diagnosis.rate_hz or DEFAULT_RATE_HZ,
    )
    labels = cycle_labels(store, diagnosis.equipment_id, frame)
    out: dict[str, LabelAgreement] = {}
    for comp, truth in labels.items():
        confusion = np.zeros((4, 4), dtype=np.int64)
        for w, label in zip(windows, truth, strict=True):
            grade = w.grade.get(comp)
            if grade is not None and 0 <= label <= 3:
                confusion[int(label), grade] += 1
        n = int(confusion.sum())
        if n == 0:
            continue
        diff = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
        out[comp] = LabelAgreement(
            component_id=comp,
            n_windows=n,
            accuracy=float(np.trace(confusion) / n),
            within_one=float(confusion[diff <= 1].sum() / n),
            confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        )
    return out
