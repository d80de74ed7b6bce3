"""Learn a machine's normal without labels: ``hydrodiag fit`` and the retraining tab's "learn
normal" mode.

:func:`fit_normal` reads a stretch of an equipment's data known to be normal, masks what
cannot be learned (gaps, constant sensors, labelled faults), trains a
:class:`gnn.model.NormalGNN` to predict every sensor one step ahead from its own past and its
graph neighbours (its linear part in closed form, then the network on what that misses),
exports it to ONNX under the model I/O contract, and calibrates its anomaly score on the
held-out end of the stretch (:mod:`training.normal_calibration`). It returns the model's bytes and
card; :func:`register_fit` stores them in the workspace's registry. Nothing is written before
that, so a cancelled or failed fit leaves the registry unchanged.

Qt-free; progress and cancel through ``ingestion.progress``. Under ``torchrun`` the network
trains data-parallel (:mod:`training.distributed`); every rank returns the same result.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gnn import contract
from gnn.anomaly import AnomalyCalibration, Series, read_series
from gnn.graph import EDGE_TYPES, NODE_TYPES, GraphSpec, build_inputs, profile_sha256
from gnn.quality import check_quality
from gnn.results import DataQualityWarning
from ingestion.catalog import equipment_profile
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.queries import equipment_time_range
from ingestion.workspace import Store
from training.normal_calibration import HeldOut, WindowChoice, calibrate, choose_window

if TYPE_CHECKING:
    import torch

    from gnn.model import NormalGNN
    from gnn.registry import Registration

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

MAX_FIT_SAMPLES = 2_000_000  # per sensor: beyond, fit a shorter stretch or a lower rate
MIN_TRAIN_WINDOWS = 4  # the training part holds at least this many windows
MIN_WINDOW = 8
CONSTANT_SPREAD = 1e-9  # a sensor whose values spread less than this (relative) is constant
GAP_WARNING = 0.01  # warn about a sensor missing more than this share of the fit stretch
META_HPARAMS = "hydrodiag.hparams"
META_NODE_TYPES = "hydrodiag.node_types"
META_EDGE_TYPES = "hydrodiag.edge_types"
PARITY_TOLERANCE = 1e-4


class FitSelection(BaseModel):
    """The stretch of an equipment's data known to be normal: a time range, some imported
    sources, everything before a date, or (all empty) everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime | None = None
    end: datetime | None = None
    before: datetime | None = None
    sources: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> FitSelection:
        kinds = [self.start is not None or self.end is not None, self.before is not None]
        kinds.append(bool(self.sources))
        if sum(kinds) > 1:
            raise ValueError("choose one of: a from/to range, --before, or --sources")
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"from {self.start} is not before to {self.end}")
        return self

    def describe(self) -> str:
        if self.sources:
            return "sources " + ", ".join(str(s) for s in self.sources)
        if self.before is not None:
            return f"everything before {self.before:%Y-%m-%d %H:%M:%S} UTC"
        if self.start or self.end:
            a = f"{self.start:%Y-%m-%d %H:%M:%S}" if self.start else "the start"
            b = f"{self.end:%Y-%m-%d %H:%M:%S}" if self.end else "the end"
            return f"{a} to {b} UTC"
        return "all data"


class FitOptions(BaseModel):
    """How to learn a machine's normal (stored in the model's card)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str | None = Field(default=None, description="default: EQUIPMENT-normal")
    model_version: str | None = Field(default=None, description="default: the next free one")
    rate_hz: float = Field(default=1.0, gt=0, description="samples per second the model reads")
    window_s: float | None = Field(
        default=None, gt=0, description="window length; default from the data (its period)"
    )
    stride_s: float | None = Field(
        default=None, gt=0, description="training window stride; default a quarter window"
    )
    holdout: float = Field(
        default=0.25, gt=0, lt=0.9, description="share held out at the end to calibrate"
    )
    budget: float = Field(
        default=0.01, gt=0, lt=0.5, description="false-alarm budget on held-out normal data"
    )
    margin: float = Field(default=1.5, ge=1, description="threshold safety factor")
    smoothing_s: float | None = Field(
        default=None, gt=0, description="moving-median span of |z|; default a quarter window"
    )
    debounce_s: float | None = Field(
        default=None, gt=0, description="shortest episode; default two thirds of the smoothing"
    )
    epochs: int = Field(default=30, ge=0, description="network epochs (0: linear part only)")
    max_steps: int = Field(
        default=1200,
        ge=1,
        description="at most this many batches in all: fewer epochs on long stretches, so an "
        "8 h log fits in minutes (deterministic, unlike a time budget)",
    )
    time_budget_s: float | None = Field(
        default=None, gt=0, description="stop training the network after this long"
    )
    hidden_channels: int = Field(default=16, ge=2)
    heads: int = Field(default=2, ge=1)
    num_layers: int = Field(default=2, ge=1)
    context_hops: int = Field(default=2, ge=1)
    own_lags: int = Field(default=3, ge=1)
    own_means: tuple[int, ...] = Field(
        default=(10, 30), description="spans of each sensor's recent means the linear part reads"
    )
    dropout: float = Field(default=0.1, ge=0, lt=1)
    sensor_dropout: float = Field(default=0.1, ge=0, lt=1)
    lr: float = Field(default=3e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    batch_size: int = Field(default=16, ge=1)
    ridge: float = Field(default=0.003, ge=0, description="ridge of the linear part, per row")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(default=1, description="torch CPU threads (None: torch's own)")
    labelled_faults: Literal["exclude", "refuse"] = Field(
        default="exclude", description="labelled faults inside the stretch: left out, or refused"
    )


@dataclass(frozen=True)
class FitEpoch:
    """One epoch's figures (what ``on_epoch`` receives; the card's history)."""

    epoch: int
    loss: float  # training loss (Huber, per sensor scaled by its linear-part error)
    val_loss: float | None  # the same on the held-out stretch
    seconds: float


@dataclass
class FitResult:
    """A fitted model of a machine's normal: its ONNX bytes and card, not yet stored."""

    equipment_id: str
    model_id: str
    model_version: str
    onnx: bytes
    card: dict[str, Any]
    calibration: AnomalyCalibration
    history: list[FitEpoch] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def write(self, out_dir: Path) -> None:
        """``model.onnx``, ``card.json`` and ``card.md`` into ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model.onnx").write_bytes(self.onnx)
        (out_dir / "card.json").write_text(
            json.dumps(self.card, indent=2, default=float), encoding="utf-8"
        )
        (out_dir / "card.md").write_text(card_markdown(self.card), encoding="utf-8")


# --------------------------------------------------------------------------- the data


@dataclass
class _Stretch:
    """One contiguous piece of the fit stretch, cleaned, split into training and held-out."""

    series: Series
    split: int  # samples before it train, from it on are held out (== length: none held out)


@dataclass
class _FitData:
    stretches: list[_Stretch]
    masked: list[str]
    warnings: list[str]
    excluded: list[str]
    spans: list[tuple[datetime, datetime]]


def _spans(
    store: Store, equipment_id: str, selection: FitSelection, rate_hz: float
) -> list[tuple[datetime, datetime]]:
    """The selected stretch as [start, end) pieces inside the equipment's data."""
    span = equipment_time_range(store, equipment_id)
    if span is None:
        raise HydroDiagError(
            f"equipment {equipment_id!r} has no measurements in this workspace; import its "
            "normal data first (`hydrodiag ingest csv ...`)."
        )
    first, last = (v.astype("datetime64[us]").tolist() for v in span)
    data_end = last + timedelta(seconds=1.0 / rate_hz)
    if selection.sources:
        rows = (
            store.cursor()
            .execute(
                "SELECT id, equipment_id, kind, first_ts, last_ts FROM sources "
                "WHERE id IN (SELECT unnest(?::INTEGER[])) ORDER BY first_ts",
                [list(selection.sources)],
            )
            .fetchall()
        )
        found = {r[0] for r in rows}
        missing = [s for s in selection.sources if s not in found]
        wrong = [r[0] for r in rows if r[1] != equipment_id or r[2] == "labels" or r[3] is None]
        if missing or wrong:
            raise HydroDiagError(
                f"--sources: {', '.join(str(s) for s in missing + wrong)} "
                f"{'is' if len(missing + wrong) == 1 else 'are'} not a data import of "
                f"equipment {equipment_id!r}; see `hydrodiag workspace info` for its sources."
            )
        pieces = [(r[3], r[4] + timedelta(seconds=1.0 / rate_hz)) for r in rows]
    else:
        lo, hi = (
            (first, selection.before)
            if selection.before is not None
            else (
                selection.start or first,
                selection.end or data_end,
            )
        )
        # the equipment's imports, so that days between two recordings are not read as gaps
        rows = (
            store.cursor()
            .execute(
                "SELECT first_ts, last_ts FROM sources WHERE equipment_id = ? AND kind <> "
                "'labels' AND first_ts IS NOT NULL AND last_ts IS NOT NULL ORDER BY first_ts",
                [equipment_id],
            )
            .fetchall()
        )
        step = timedelta(seconds=1.0 / rate_hz)
        merged: list[tuple[datetime, datetime]] = []
        for a, b in rows or [(first, last)]:
            if merged and a <= merged[-1][1] + step:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b + step))
            else:
                merged.append((a, b + step))
        pieces = [(max(a, lo), min(b, hi)) for a, b in merged]
    out = []
    for a, b in pieces:
        a, b = max(a, first), min(b, data_end)
        if b > a:
            out.append((a, b))
    if not out:
        raise HydroDiagError(
            f"equipment {equipment_id!r} has no data in {selection.describe()}: its "
            f"measurements span {first:%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} UTC."
        )
    return out


def _labelled_faults(
    store: Store, equipment_id: str, spans: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime, str]]:
    """Labels of a fault (grade above 0, or an anomalous stretch of a log's label column)
    that overlap the stretch: (start, end, what)."""
    out = []
    for a, b in spans:
        rows = (
            store.cursor()
            .execute(
                "SELECT start_ts, end_ts, component_id, grade, coalesce(raw_value, '') FROM labels "
                "WHERE equipment_id = ? AND grade > 0 AND start_ts < ? AND end_ts > ? "
                "ORDER BY start_ts",
                [equipment_id, b, a],
            )
            .fetchall()
        )
        for start, end, comp, grade, raw in rows:
            what = f"log label {raw or 'anomalous'}" if comp == "*" else f"{comp} grade {grade}"
            out.append((max(start, a), min(end, b), what))
    return out


def _fit_data(
    store: Store,
    equipment_id: str,
    profile: EquipmentProfile,
    spec: GraphSpec,
    selection: FitSelection,
    options: FitOptions,
) -> _FitData:
    """Read, clean and mask the fit stretch."""
    rate = options.rate_hz
    spans = _spans(store, equipment_id, selection, rate)
    total = sum(math.floor((b - a).total_seconds() * rate) for a, b in spans)
    if total > MAX_FIT_SAMPLES:
        raise HydroDiagError(
            f"{selection.describe()} holds {total:,} samples per sensor at {rate:g} Hz, more "
            f"than the {MAX_FIT_SAMPLES:,} a fit reads: choose a shorter stretch (--from/--to) "
            "or a lower --rate."
        )
    faults = _labelled_faults(store, equipment_id, spans)
    if faults and options.labelled_faults == "refuse":
        listed = "; ".join(f"{w} {a:%Y-%m-%d %H:%M}–{b:%H:%M}" for a, b, w in faults[:5])
        raise HydroDiagError(
            f"the fit stretch ({selection.describe()}) holds labelled faults ({listed}"
            f"{' …' if len(faults) > 5 else ''}): it is not all normal. Choose a stretch "
            "without them, or let the fit leave them out (--labelled-faults exclude)."
        )
    warnings_: list[str] = []
    excluded = [f"{w} {a:%Y-%m-%d %H:%M:%S}–{b:%H:%M:%S} UTC" for a, b, w in faults]
    series_list: list[Series] = []
    raw_list: list[Series] = []
    quality_warnings: list[DataQualityWarning] = []
    for a, b in spans:
        raw = read_series(store, equipment_id, spec.sensor_ids, start=a, end=b, rate_hz=rate)
        if raw.length < 2:
            continue
        values = {k: v.copy() for k, v in raw.values.items()}
        for fa, fb, _ in faults:
            lo, hi = raw.index(fa), raw.index(fb)
            for v in values.values():
                v[lo : max(hi, lo + 1)] = np.nan
        quality = check_quality(
            {k: v[None, :] for k, v in values.items()},
            starts=[raw.start],
            ends=[raw.time(raw.length)],
            rate_hz=rate,
            profile=profile,
            spec=spec,
            min_window_valid=0.0,
        )
        quality_warnings += [
            w
            for w in quality.warnings
            if w.kind not in ("insufficient_data", "missing_sensor", "gap")
        ]
        raw_list.append(raw)
        series_list.append(Series(raw.start, rate, {k: v[0] for k, v in quality.values.items()}))
    if not series_list:
        raise HydroDiagError(f"{selection.describe()} holds no samples at {rate:g} Hz.")
    masked: list[str] = []
    constant: set[str] = set()
    n_all = sum(s.length for s in series_list)
    for sensor in spec.sensor_ids:
        raw_values = np.concatenate([r.values[sensor] for r in raw_list])
        raw_finite = raw_values[np.isfinite(raw_values)]
        spread = float(raw_finite.max() - raw_finite.min()) if raw_finite.size else 0.0
        if raw_finite.size and spread <= CONSTANT_SPREAD * max(
            1.0, float(np.abs(raw_finite).max())
        ):
            masked.append(sensor)
            constant.add(sensor)
            warnings_.append(
                f"{sensor}: constant ({raw_finite[0]:.6g}) over the fit stretch; not learned, not "
                "scored, and any other value is reported as outside the learned range"
            )
            continue
        joined = np.concatenate([s.values[sensor] for s in series_list])
        finite = joined[np.isfinite(joined)]
        if not finite.size:
            masked.append(sensor)
            warnings_.append(
                f"{sensor}: no usable data in the fit stretch; not learned, and not scored"
            )
            continue
        missing = 1.0 - finite.size / max(n_all, 1)
        if missing > GAP_WARNING:
            warnings_.append(
                f"{sensor}: {100 * missing:.1f} % of the fit stretch missing (gaps"
                f"{' and excluded labelled faults' if faults else ''}); masked there, learned "
                "from the rest"
            )
    # a constant sensor's "frozen reading" warning says less than "constant"
    warnings_ = [w.message for w in quality_warnings if w.sensor_id not in constant] + warnings_
    if len(masked) == len(spec.sensor_ids):
        raise HydroDiagError(
            f"no sensor of equipment {equipment_id!r} has usable data in {selection.describe()}."
        )
    split = [_Stretch(s, s.length - round(s.length * options.holdout)) for s in series_list]
    return _FitData(split, masked, warnings_, excluded, spans)


def _present(series: Series, lo: int, hi: int, masked: Sequence[str]) -> int:
    """Samples in [lo, hi) where at least one learned sensor has data."""
    rows = np.zeros(max(hi - lo, 0), dtype=bool)
    for k, v in series.values.items():
        if k not in masked:
            rows |= np.isfinite(v[lo:hi])
    return int(rows.sum())


def _check_amount(data: _FitData, window: int, rate: float, options: FitOptions) -> None:
    """Enough normal data to train on windows and calibrate on what is held out; else say
    how much is needed."""
    train = sum(_present(s.series, 0, s.split, data.masked) for s in data.stretches)
    held = sum(_present(s.series, s.split, s.series.length, data.masked) for s in data.stretches)
    need_train = MIN_TRAIN_WINDOWS * window
    need_held = window
    if train >= need_train and held >= need_held:
        return
    need = math.ceil(max(need_train / (1 - options.holdout), need_held / options.holdout))
    have = train + held
    raise HydroDiagError(
        f"too little normal data to learn from: the fit stretch holds {have:,} samples with "
        f"data ({_duration(have / rate)} at {rate:g} Hz); learning this machine's normal needs "
        f"at least {need:,} ({_duration(need / rate)}): {MIN_TRAIN_WINDOWS} windows of "
        f"{window} samples to train on and {options.holdout:.0%} of the stretch held out to "
        "calibrate the threshold. Choose a longer stretch, or a shorter --window."
    )


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


# --------------------------------------------------------------------------- the model


def hop_reach(spec: GraphSpec, hops: int) -> npt.NDArray[np.bool_]:
    """[N, N]: node j within ``hops`` steps of node i (itself included)."""
    n = spec.num_nodes
    adjacency = np.zeros((n, n), dtype=np.int64)
    for e in spec.edges:
        if e.source != e.target:
            adjacency[e.source, e.target] = adjacency[e.target, e.source] = 1
    reach = np.eye(n, dtype=bool)
    frontier = np.eye(n, dtype=np.int64)
    for _ in range(hops):
        frontier = ((frontier @ adjacency) > 0).astype(np.int64)
        reach |= frontier > 0
    return reach


def recent_means(x: F32, m: F32, span: int) -> F64:
    """[N, L, F] mean of each slot's present values among its last ``span`` samples (fewer at
    the start), 0 where none: what ``NormalGNN.linear_part`` computes inside a window."""
    sums = np.cumsum(np.pad(x * m, ((0, 0), (1, 0), (0, 0))), axis=1, dtype=np.float64)
    counts = np.cumsum(np.pad(m, ((0, 0), (1, 0), (0, 0))), axis=1, dtype=np.float64)
    steps = np.arange(x.shape[1])
    first = np.maximum(steps + 1 - span, 0)
    total = sums[:, 1:] - sums[:, first]
    seen = counts[:, 1:] - counts[:, first]
    return np.asarray(total / np.maximum(seen, 1.0))


def fit_linear(
    spec: GraphSpec,
    parts: Sequence[tuple[F32, F32]],
    *,
    hops: int,
    lags: int,
    means: Sequence[int] = (),
    ridge: float,
    masked: Sequence[str] = (),
) -> tuple[F64, F64, F64, F64, F64]:
    """The closed-form linear part of :class:`gnn.model.NormalGNN`: per sensor, a ridge
    regression of its value at ``t + 1`` on its own last ``lags`` values and its means over
    the last ``means`` samples, and on the values at ``t + 1`` and ``t`` of every other sensor
    within ``hops`` of its node.

    Args:
        spec: the graph (with its normalisation).
        parts: (x, mask) [N, L, F] per contiguous piece of training data, normalised as the
            model sees them (``build_inputs``: 0 where absent).
        hops: graph radius of the neighbourhood read.
        lags: own past values read.
        ridge: ridge penalty per row (the penalty is ``ridge * rows``; no penalty on the bias).
        masked: sensors the model never sees (left at persistence, read by none).

    Returns:
        ``own [N, F, lags], mean [N, F, len(means)], now [N, F, N, F], prev [N, F, N, F],
        bias [N, F]``.
    """
    n, f = spec.num_nodes, spec.num_features
    own = np.zeros((n, f, lags))
    own[:, :, 0] = 1.0
    mean = np.zeros((n, f, len(means)))
    level = [[recent_means(x, m, span) for span in means] for x, m in parts]
    now = np.zeros((n, f, n, f))
    prev = np.zeros((n, f, n, f))
    bias = np.zeros((n, f))
    reach = hop_reach(spec, hops)
    sensors = [(s.node, s.slot) for s in spec.sensors if s.id not in masked]
    for i, slot in sensors:
        neighbours = [(j, g) for j, g in sensors if (j, g) != (i, slot) and reach[i, j]]
        rows, targets = [], []
        for (x, m), lv in zip(parts, level, strict=True):
            length = x.shape[1]
            t = np.arange(lags - 1, length - 1)
            if not t.size:
                continue
            ok = m[i, t + 1, slot] > 0
            cols = [x[i, t - k, slot] for k in range(lags)]
            cols += [a[i, t, slot] for a in lv]
            cols += [x[j, t + 1, g] for j, g in neighbours] + [x[j, t, g] for j, g in neighbours]
            rows.append(np.stack(cols, axis=1)[ok])
            targets.append(x[i, t + 1, slot][ok])
        if not rows or not sum(len(r) for r in rows):
            continue
        a = np.concatenate(rows).astype(np.float64)
        y = np.concatenate(targets).astype(np.float64)
        a1 = np.concatenate([a, np.ones((len(a), 1))], axis=1)
        penalty = ridge * len(a) * np.eye(a1.shape[1])
        penalty[-1, -1] = 0.0
        w = np.linalg.solve(a1.T @ a1 + penalty, a1.T @ y)
        own[i, slot] = w[:lags]
        mean[i, slot] = w[lags : lags + len(means)]
        base, k = lags + len(means), len(neighbours)
        for c, (j, g) in enumerate(neighbours):
            now[i, slot, j, g] = w[base + c]
            prev[i, slot, j, g] = w[base + k + c]
        bias[i, slot] = w[-1]
    return own, mean, now, prev, bias


@dataclass
class _Tensors:
    x: torch.Tensor  # [W, N, T, F]
    mask: torch.Tensor
    node_type: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor


def _windows(
    spec: GraphSpec,
    pieces: Sequence[Mapping[str, F32]],
    window: int,
    stride: int,
    masked: Sequence[str],
) -> tuple[F32, F32]:
    """Model inputs of every window (``window`` samples every ``stride``) of the pieces that
    holds at least half its samples."""
    from gnn.anomaly import window_starts

    xs, ms = [], []
    for piece in pieces:
        length = len(next(iter(piece.values())))
        if length < window:
            continue
        starts = np.asarray(window_starts(length, window, stride))
        index = starts[:, None] + np.arange(window)[None, :]
        values = {k: v[index] for k, v in piece.items() if k not in masked}
        x, m = build_inputs(spec, values)
        keep = m.reshape(m.shape[0], -1).mean(axis=1) > 0
        learned = [s for s in spec.sensors if s.id not in masked]
        if learned:
            share = np.mean([m[:, s.node, :, s.slot].mean(axis=1) for s in learned], axis=0)
            keep &= share >= 0.5
        xs.append(x[keep])
        ms.append(m[keep])
    if not xs:
        shape = (0, spec.num_nodes, window, spec.num_features)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    return np.concatenate(xs), np.concatenate(ms)


def _build_model(spec: GraphSpec, options: FitOptions) -> NormalGNN:
    from gnn.model import NormalGNN

    return NormalGNN(
        num_nodes=spec.num_nodes,
        num_features=spec.num_features,
        hidden_channels=options.hidden_channels,
        heads=options.heads,
        num_layers=options.num_layers,
        context_hops=options.context_hops,
        own_lags=options.own_lags,
        own_means=options.own_means,
        dropout=options.dropout,
    )


def _train(
    model: NormalGNN,
    spec: GraphSpec,
    train: tuple[F32, F32],
    val: tuple[F32, F32],
    options: FitOptions,
    progress: Progress,
    on_epoch: Callable[[FitEpoch], None] | None,
) -> tuple[list[FitEpoch], str, dict[str, Any]]:
    """Train the network part on the training windows (the linear part stays as fitted):
    Huber loss per sensor scaled by its linear part's error, whole sensors dropped at random
    from a window's inputs. Returns the history, how training stopped and the hardware."""
    import torch
    from torch.nn import functional as F  # noqa: N812

    from training.distributed import from_rank0, hardware_info, join, leave, rank_share

    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    process = join(options.device)
    device = process.device
    model.to(device)
    static = [
        torch.from_numpy(a).to(device)
        for a in (spec.node_type(), spec.edge_index(), spec.edge_type())
    ]
    x_all, m_all = (torch.from_numpy(a) for a in train)
    xv, mv = (torch.from_numpy(a) for a in val)
    with torch.no_grad():
        scale = _loss_scale(model, x_all, m_all)
    scale = scale.to(device)
    history: list[FitEpoch] = []
    stopped = "no network training (--epochs 0)" if options.epochs == 0 else ""
    if options.epochs == 0 or not len(x_all):
        leave(process)
        return history, stopped or "no training windows", hardware_info(device)
    net: torch.nn.Module = model
    if process.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    per_epoch = -(-len(x_all) // (options.batch_size * process.world))
    epochs = max(1, min(options.epochs, options.max_steps // per_epoch))
    total = epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=options.lr, total_steps=total, pct_start=0.15
    )
    rng = np.random.default_rng(options.seed)
    generator = torch.Generator().manual_seed(options.seed + process.rank)
    started = time.perf_counter()
    progress.start("learning normal", total=total, unit="batches")
    step = 0

    def loss_of(out: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        target_mask = m[:, :, 1:]
        s = scale.view(1, scale.shape[0], 1, scale.shape[1])
        err = F.huber_loss(out[:, :, :-1] / s, x[:, :, 1:] / s, reduction="none", delta=1.0)
        return (err * target_mask).sum() / target_mask.sum().clamp_min(1.0)

    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        net.train()
        order = rank_share(rng.permutation(len(x_all)), process.rank, process.world)
        running, seen = 0.0, 0
        for lo in range(0, len(order), options.batch_size):
            check_cancelled(progress)
            idx = torch.from_numpy(order[lo : lo + options.batch_size])
            x, m = x_all[idx].to(device), m_all[idx].to(device)
            if options.sensor_dropout > 0:
                keep = torch.rand(x.shape[0], x.shape[1], 1, x.shape[3], generator=generator).to(
                    device
                )
                keep = (keep >= options.sensor_dropout).float()
                out, _ = net(x * keep, m * keep, *static)
            else:
                out, _ = net(x, m, *static)
            loss = loss_of(out, x, m)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optimiser.step()
            if step < total - 1:
                scheduler.step()
            step += 1
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
            progress.update(step)
        val_loss = None
        if len(xv) and process.rank == 0:
            model.eval()
            with torch.no_grad():
                parts = []
                for lo in range(0, len(xv), 64):
                    xb, mb = xv[lo : lo + 64].to(device), mv[lo : lo + 64].to(device)
                    parts.append(float(loss_of(model(xb, mb, *static)[0], xb, mb)) * len(xb))
                val_loss = sum(parts) / len(xv)
        if process.world > 1:
            val_loss = from_rank0(val_loss)
        record = FitEpoch(epoch, running / max(seen, 1), val_loss, time.perf_counter() - t0)
        history.append(record)
        if on_epoch is not None and process.rank == 0:
            on_epoch(record)
        budget = options.time_budget_s
        over = budget is not None and time.perf_counter() - started > budget
        if process.world > 1:
            over = bool(from_rank0(1.0 if over else 0.0))
        if over and epoch < epochs:
            stopped = f"stopped by the time budget ({budget:g} s) after epoch {epoch}"
            break
    progress.finish()
    leave(process)
    model.cpu().eval()
    if not stopped:
        stopped = (
            f"{epochs} epochs"
            if epochs == options.epochs
            else f"{epochs} epochs of {per_epoch} batches ({options.max_steps} batches at most)"
        )
    return history, stopped, hardware_info(device)


def _loss_scale(model: NormalGNN, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """[N, F] root mean square error of the linear part per slot on the training windows
    (1 where a slot has no data): the network's loss weighs each sensor by what it has left
    to learn, so that a smooth sensor counts as much as a noisy one."""
    import torch

    total = torch.zeros(x.shape[1], x.shape[3])
    count = torch.zeros_like(total)
    for lo in range(0, len(x), 256):
        xb, mb = x[lo : lo + 256], m[lo : lo + 256]
        pred = model.linear_part(xb * mb, mb)
        target = mb[:, :, 1:]
        total += (((pred[:, :, :-1] - xb[:, :, 1:]) ** 2) * target).sum(dim=(0, 2))
        count += target.sum(dim=(0, 2))
    rms = torch.sqrt(total / count.clamp_min(1.0))
    return torch.where(count > 0, rms.clamp_min(1e-3), torch.ones_like(rms))


# --------------------------------------------------------------------------- export


def _metadata(
    model: NormalGNN, spec: GraphSpec, model_id: str, model_version: str
) -> dict[str, str]:
    return {
        contract.META_CONTRACT_VERSION: str(contract.CONTRACT_VERSION),
        contract.META_MODEL_ID: model_id,
        contract.META_MODEL_VERSION: model_version,
        contract.META_PROFILE_ID: spec.profile_id,
        contract.META_PROFILE_SHA256: profile_sha256(spec),
        contract.META_GRAPH_SPEC: spec.to_json(),
        contract.META_FAULT_TYPES: "[]",
        contract.META_GRADED_COMPONENTS: "[]",
        META_HPARAMS: json.dumps(model.hparams(), sort_keys=True),
        META_NODE_TYPES: json.dumps(list(NODE_TYPES)),
        META_EDGE_TYPES: json.dumps(list(EDGE_TYPES)),
    }


def export_normal(
    model: NormalGNN, spec: GraphSpec, metadata: Mapping[str, str], window: int
) -> tuple[bytes, float]:
    """The model as ONNX bytes (contract names and opset, dynamic B and T) with ``metadata``,
    and the largest difference from torch on its own graph at several batch sizes and
    lengths (ONNX Runtime, CPU).

    Raises:
        RuntimeError: ONNX Runtime and torch differ by more than ``PARITY_TOLERANCE``.
    """
    import onnxruntime as ort
    import torch

    from gnn.model import NormalInference
    from training.export import contract_proto, example_inputs

    wrapped = NormalInference(model).eval()
    args = tuple(torch.from_numpy(a) for a in example_inputs(spec, batch=2, length=12))
    doc = f"HydroDiag {metadata[contract.META_MODEL_ID]} (learned normal)"
    proto = contract_proto(wrapped, args, metadata, doc)
    data = proto.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch, length, seed in ((3, window, 1), (1, 7, 2), (2, 2 * window + 3, 3)):
        case = example_inputs(spec, batch=batch, length=length, seed=seed)
        got = session.run([contract.OUTPUT_FORECAST], dict(zip(contract.INPUTS, case, strict=True)))
        with torch.no_grad():
            want = wrapped(*(torch.from_numpy(a) for a in case))[3].numpy()
        worst = max(worst, float(np.max(np.abs(got[0] - want))))
    if worst > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export differs from torch by {worst:.2e}")
    return data, worst


def with_metadata(data: bytes, extra: Mapping[str, str]) -> bytes:
    """ONNX bytes with ``extra`` metadata entries added (or replaced)."""
    import onnx

    proto = onnx.load_from_string(data)
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in extra]
    del proto.metadata_props[:]
    for key, value in [*kept, *extra.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return bytes(proto.SerializeToString())


# --------------------------------------------------------------------------- the fit


def _names(store: Store, equipment_id: str, options: FitOptions) -> tuple[str, str]:
    from gnn.registry import get_model, next_version
    from ingestion.model_registry import ModelKey, RegistryError

    model_id = options.model_id or f"{equipment_id}-normal"
    if options.model_version is None:
        return model_id, next_version(store, model_id)
    try:
        held = get_model(store, ModelKey(model_id, options.model_version))
    except RegistryError:
        return model_id, options.model_version
    raise HydroDiagError(
        f"this workspace already holds model {held.label}: give another --model-version (or "
        "another --model-id), so that the fitted model can be registered beside it."
    )


def fit_normal(
    store: Store,
    equipment_id: str,
    selection: FitSelection,
    options: FitOptions,
    *,
    progress: Progress = NO_PROGRESS,
    on_epoch: Callable[[FitEpoch], None] | None = None,
) -> FitResult:
    """Learn ``equipment_id``'s normal from ``selection`` (see the module docstring).

    Raises:
        HydroDiagError: unknown equipment, no or too little data (the message says how much
            is needed), labelled faults in the stretch with ``labelled_faults="refuse"``, a
            model id and version the workspace already holds.
        CancelledError: ``progress.cancelled`` was set; nothing was stored.
    """
    started = time.perf_counter()
    profile = equipment_profile(store.cursor(), equipment_id)
    model_id, model_version = _names(store, equipment_id, options)
    spec = GraphSpec.from_profile(profile)
    progress.start("reading the fit stretch", total=None, unit="steps")
    data = _fit_data(store, equipment_id, profile, spec, selection, options)
    check_cancelled(progress)
    rate = options.rate_hz
    train_parts = [{k: v[: s.split] for k, v in s.series.values.items()} for s in data.stretches]
    train_samples = sum(_present(s.series, 0, s.split, data.masked) for s in data.stretches)
    given = round(options.window_s * rate) if options.window_s else None
    if given is not None and given < 2:
        raise HydroDiagError(
            f"--window {options.window_s:g} s is under two samples at {rate:g} Hz."
        )
    choice: WindowChoice = choose_window(
        [{k: v for k, v in p.items() if k not in data.masked} for p in train_parts],
        given=given,
        limit=max(train_samples // MIN_TRAIN_WINDOWS, MIN_WINDOW) if given is None else None,
    )
    warm = max((*options.own_means, options.own_lags), default=1)
    if given is None and choice.samples < 2 * warm:  # room for the recent means to fill up
        k = math.ceil(2 * warm / choice.samples)
        choice = WindowChoice(
            k * choice.samples,
            choice.how + (f", × {k} to hold the {warm}-sample means" if k > 1 else ""),
            choice.period,
        )
    window = choice.samples
    _check_amount(data, window, rate, options)
    diag_stride = max(1, min(window // 2, window - warm))
    stride = max(1, round(options.stride_s * rate)) if options.stride_s else max(1, window // 4)
    smoothing = (
        max(1, round(options.smoothing_s * rate))
        if options.smoothing_s
        else int(min(max(round(window / 4), 15), 31))
    )
    smoothing += 1 - smoothing % 2  # odd: centred
    debounce = (
        max(1, round(options.debounce_s * rate))
        if options.debounce_s
        else max(2, round(2 * smoothing / 3))
    )
    learned = {
        s.id: np.concatenate([p[s.id] for p in train_parts])
        for s in spec.sensors
        if s.id not in data.masked
    }
    spec = spec.fit_normalisation(learned)
    # the linear part, in closed form
    pieces = []
    for p in train_parts:
        x, m = build_inputs(spec, {k: v[None, :] for k, v in p.items() if k not in data.masked})
        pieces.append((x[0], m[0]))
    linear = fit_linear(
        spec,
        pieces,
        hops=options.context_hops,
        lags=options.own_lags,
        means=options.own_means,
        ridge=options.ridge,
        masked=data.masked,
    )
    import torch

    model = _build_model(spec, options)
    model.set_linear(*(torch.tensor(a, dtype=torch.float32) for a in linear))
    check_cancelled(progress)
    held_parts = [
        HeldOut(
            Series(
                s.series.time(max(0, s.split - window)),
                rate,
                {k: v[max(0, s.split - window) :] for k, v in s.series.values.items()},
            ),
            warmup=s.split - max(0, s.split - window),
        )
        for s in data.stretches
        if s.split < s.series.length
    ]
    train_windows = _windows(spec, train_parts, window, stride, data.masked)
    val_windows = _windows(
        spec, [h.series.values for h in held_parts], window, diag_stride, data.masked
    )
    history, stopped, hardware = _train(
        model, spec, train_windows, val_windows, options, progress, on_epoch
    )
    check_cancelled(progress)
    metadata = _metadata(model, spec, model_id, model_version)
    onnx_bytes, parity = export_normal(model, spec, metadata, window)
    check_cancelled(progress)
    session = _session(onnx_bytes)

    def run(x: F32, mask: F32) -> F32:
        feeds = {
            contract.INPUT_X: x,
            contract.INPUT_MASK: mask,
            contract.INPUT_NODE_TYPE: spec.node_type(),
            contract.INPUT_EDGE_INDEX: spec.edge_index(),
            contract.INPUT_EDGE_TYPE: spec.edge_type(),
        }
        return np.asarray(session.run([contract.OUTPUT_FORECAST], feeds)[0])

    fitted = _fitted_text(data.spans)
    calibrated = calibrate(
        run,
        spec,
        held_parts,
        train_parts,
        rate_hz=rate,
        window=window,
        stride=diag_stride,
        smoothing=smoothing,
        debounce=debounce,
        gap=debounce,
        budget=options.budget,
        margin=options.margin,
        masked=data.masked,
        fitted=fitted,
    )
    calibration = calibrated.calibration
    onnx_bytes = with_metadata(onnx_bytes, {contract.META_ANOMALY: calibration.model_dump_json()})
    linear_only = _linear_only_error(model, val_windows)
    seconds = time.perf_counter() - started
    card = _card(
        equipment_id=equipment_id,
        profile=profile,
        spec=spec,
        model_id=model_id,
        model_version=model_version,
        selection=selection,
        options=options,
        data=data,
        choice=choice,
        calibration=calibration,
        figures=calibrated.figures,
        history=history,
        stopped=stopped,
        hardware=hardware,
        parity=parity,
        linear_only=linear_only,
        n_windows=len(train_windows[0]),
        seconds=seconds,
    )
    return FitResult(
        equipment_id=equipment_id,
        model_id=model_id,
        model_version=model_version,
        onnx=onnx_bytes,
        card=card,
        calibration=calibration,
        history=history,
        warnings=list(data.warnings) + [f"left out: {e}" for e in data.excluded],
        seconds=seconds,
    )


def _session(data: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _linear_only_error(model: NormalGNN, val: tuple[F32, F32]) -> dict[str, float] | None:
    """Mean squared one-step error on the held-out windows of the whole model and of its
    linear part alone: what the network adds."""
    import torch

    x, m = (torch.from_numpy(a) for a in val)
    if not len(x):
        return None
    with torch.no_grad():
        lin = model.linear_part(x * m, m)
        target = m[:, :, 1:]
        lin_err = (((lin[:, :, :-1] - x[:, :, 1:]) ** 2) * target).sum() / target.sum().clamp_min(1)
    return {"linear_part_mse": float(lin_err)}


def _fitted_text(spans: Sequence[tuple[datetime, datetime]]) -> str:
    parts = [f"{a:%Y-%m-%d %H:%M}–{b:%Y-%m-%d %H:%M} UTC" for a, b in spans[:3]]
    return ", ".join(parts) + (f" and {len(spans) - 3} more" if len(spans) > 3 else "")


def _data_digest(data: _FitData) -> str:
    """sha256 of the samples the fit read (float32, in sensor and time order)."""
    digest = hashlib.sha256()
    for s in data.stretches:
        digest.update(s.series.start.isoformat().encode())
        for k in sorted(s.series.values):
            digest.update(k.encode())
            digest.update(np.ascontiguousarray(s.series.values[k]).tobytes())
    return digest.hexdigest()


def _card(
    *,
    equipment_id: str,
    profile: EquipmentProfile,
    spec: GraphSpec,
    model_id: str,
    model_version: str,
    selection: FitSelection,
    options: FitOptions,
    data: _FitData,
    choice: WindowChoice,
    calibration: AnomalyCalibration,
    figures: dict[str, Any],
    history: Sequence[FitEpoch],
    stopped: str,
    hardware: dict[str, Any],
    parity: float,
    linear_only: dict[str, float] | None,
    n_windows: int,
    seconds: float,
) -> dict[str, Any]:
    rate = options.rate_hz
    # samples with data: gaps and left-out labelled faults do not count
    train_samples = sum(_present(s.series, 0, s.split, data.masked) for s in data.stretches)
    held_samples = sum(
        _present(s.series, s.split, s.series.length, data.masked) for s in data.stretches
    )
    last_val = next((h.val_loss for h in reversed(history) if h.val_loss is not None), None)
    metrics: dict[str, Any] = {"held_out": figures}
    if linear_only is not None:
        metrics["held_out"]["linear_part_mse"] = round(linear_only["linear_part_mse"], 6)
    if last_val is not None:
        metrics["held_out"]["final_val_loss"] = round(last_val, 6)
    return {
        "card_version": 1,
        "kind": "anomaly",
        "model_id": model_id,
        "model_version": model_version,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "equipment_id": equipment_id,
        "profile_id": profile.id,
        "profile_sha256": profile_sha256(spec),
        "architecture": "learned normal: every sensor predicted one step ahead from its own "
        "past and its graph neighbours' present and past values — a closed-form linear part "
        "plus a temporal GNN (GATv2 over the component graph per step, LSTM per node, a GATv2 "
        "layer over the neighbours' present values); anomaly score = whitened prediction "
        "error, smoothed, against thresholds calibrated on held-out normal data",
        "grades": "nothing: components are healthy / warning / critical from their calibrated "
        "anomaly score; components without sensors are not assessed",
        "data": {
            "selection": selection.describe(),
            "ranges": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in data.spans],
            "digest": _data_digest(data),
            "digest_of": "the samples read (float32 per sensor at the model's rate), sha256",
            "rate_hz": rate,
            "train_samples": int(train_samples),
            "held_out_samples": int(held_samples),
            "train_windows": int(n_windows),
            "excluded": list(data.excluded),
            "masked_sensors": list(data.masked),
            "warnings": list(data.warnings),
        },
        "window": {
            "kind": "sliding",
            "rate_hz": rate,
            "length_s": calibration.window / rate,
            "stride_s": calibration.stride / rate,
            "train_stride_s": (
                max(1, round(options.stride_s * rate))
                if options.stride_s
                else max(1, calibration.window // 4)
            )
            / rate,
            "how": choice.how,
        },
        "hyperparameters": options.model_dump(mode="json"),
        "calibration": {
            "budget": calibration.budget,
            "margin": calibration.margin,
            "smoothing_samples": calibration.smoothing,
            "debounce_samples": calibration.debounce,
            "thresholds": calibration.thresholds,
            "learned_ranges": {k: list(v) for k, v in calibration.ranges.items()},
        },
        "metrics": metrics,
        "training": {
            "seconds": round(seconds, 2),
            "epochs_run": len(history),
            "stopped": stopped,
            "history": [h.__dict__ for h in history],
            "hardware": hardware,
            "onnx_parity_max_abs_diff": parity,
        },
        "notes": [
            "Learned without labels from data said to be normal: it flags what differs from "
            "that data, whatever the cause; it names no fault type.",
            f"Thresholds are the {100 * (1 - calibration.budget):g} % quantile of the score on "
            f"the last {options.holdout:.0%} of the fit stretch (never on labels), times "
            f"{calibration.margin:g} for what lies beyond it.",
        ],
    }


def card_markdown(card: Mapping[str, Any]) -> str:
    """The card of a fitted model in words (card.md)."""
    data, window, cal = card["data"], card["window"], card["calibration"]
    lines = [
        f"# {card['model_id']} {card['model_version']} — learned normal of {card['equipment_id']}",
        "",
        f"Profile `{card['profile_id']}` (graph sha256 {card['profile_sha256'][:12]}…), created "
        f"{card['created_utc']}.",
        "",
        card["architecture"] + ".",
        "",
        "## Data",
        f"- {data['selection']}: {data['train_samples']:,} samples to train on, "
        f"{data['held_out_samples']:,} held out to calibrate, at {data['rate_hz']:g} Hz",
        f"- digest {data['digest'][:16]}… ({data['digest_of']})",
        *(f"- left out: {e}" for e in data["excluded"]),
        *(f"- warning: {w}" for w in data["warnings"]),
        "",
        "## Window and calibration",
        f"- window {window['length_s']:g} s ({window['how']}), diagnosis stride "
        f"{window['stride_s']:g} s",
        f"- false-alarm budget {100 * cal['budget']:g} % on held-out normal data, margin "
        f"×{cal['margin']:g}; smoothing {cal['smoothing_samples']} samples, debounce "
        f"{cal['debounce_samples']} samples",
        "",
        "## Training",
        f"- {card['training']['epochs_run']} epochs ({card['training']['stopped']}), "
        f"{card['training']['seconds']:.1f} s on {card['training']['hardware'].get('device')}",
        f"- ONNX parity {card['training']['onnx_parity_max_abs_diff']:.1e}",
        "",
        "## Notes",
        *(f"- {n}" for n in card["notes"]),
        "",
    ]
    return "\n".join(lines)


def register_fit(
    store: Store, result: FitResult, *, activate: bool = False, note: str = ""
) -> Registration:
    """Store a fitted model in the workspace's registry (kind anomaly, origin fitted) and, with
    ``activate``, make it its equipment's model — one transaction."""
    from gnn.registry import register_model

    return register_model(
        store,
        result.onnx,
        result.card,
        origin="fitted",
        kind="anomaly",
        note=note or f"fitted on {result.card['data']['selection']}",
        activate_for=result.equipment_id if activate else None,
    )
