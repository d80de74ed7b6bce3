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

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gnn import contract
from gnn.anomaly import AnomalyCalibration, Series
from gnn.graph import EDGE_TYPES, NODE_TYPES, GraphSpec, build_inputs, profile_sha256
from ingestion.catalog import equipment_profile
from ingestion.errors import HydroDiagError
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.workspace import Store
from training.normal_calibration import HeldOut, WindowChoice, calibrate, choose_window
from training.normal_card import card_markdown, fitted_text, normal_card
from training.normal_data import MIN_TRAIN_WINDOWS, check_amount, fit_data, present_samples

if TYPE_CHECKING:
    import torch

    from gnn.model import NormalGNN
    from gnn.registry import Registration

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

MIN_WINDOW = 8
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
    data = fit_data(store, equipment_id, profile, spec, selection, options)
    check_cancelled(progress)
    rate = options.rate_hz
    train_parts = [{k: v[: s.split] for k, v in s.series.values.items()} for s in data.stretches]
    train_samples = sum(present_samples(s.series, 0, s.split, data.masked) for s in data.stretches)
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
    check_amount(data, window, rate, options)
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

    fitted = fitted_text(data.spans)
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
    card = normal_card(
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
