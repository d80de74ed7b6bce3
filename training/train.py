"""The training loop: labelled windows in, a trained :class:`~gnn.model.TemporalGNN` out.

Deterministic on CPU for a given seed (one seeded generator for initialisation, shuffling
and dropout; deterministic algorithms on). Early stopping watches the grade loss on whole
held-out blocks of windows; the best epoch's weights are kept. Several processes started by
``torchrun`` (env ``RANK``/``WORLD_SIZE``) train data-parallel through
``torch.nn.parallel.DistributedDataParallel``: NCCL on GPUs, gloo on CPU. Each rank takes an
equal share of every epoch's permutation, so ``world`` ranks with batch ``b`` take the same
steps as one process with batch ``world * b`` (tests/training/test_distributed.py checks this on CPU
with gloo; the GPU path has not run here, this machine has none).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F  # noqa: N812

from gnn.graph import GraphSpec, build_inputs
from gnn.model import TemporalGNN
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from training import checkpoint
from training.config import TrainConfig
from training.datasets import (
    LabelledWindows,
    batches,
    fault_matrix,
    grade_matrix,
    validation_blocks,
)
from training.discriminant import FittedDiscriminant, fit_discriminants

log = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: dict[str, float]
    seconds: float


@dataclass
class TrainResult:
    """A trained model with everything needed to export it and write its card."""

    model: TemporalGNN
    spec: GraphSpec
    fault_types: tuple[str, ...]
    graded_components: tuple[str, ...]
    config: TrainConfig
    history: list[EpochRecord]
    best_epoch: int
    seconds: float
    n_train: int
    n_val: int
    hardware: dict[str, Any]
    forecast_reference: dict[str, float] = field(default_factory=dict)
    discriminants: list[FittedDiscriminant] = field(default_factory=list)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "world_size": distributed_rank()[1],
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    torch.use_deterministic_algorithms(True, warn_only=True)


@dataclass
class Tensors:
    """The whole data set as model inputs (kept on CPU; batches are moved to the device)."""

    x: Tensor  # [W, N, T, F]
    mask: Tensor
    grades: Tensor  # [W, N] int64, -1 unlabelled
    faults: Tensor  # [W, N, K]
    node_type: Tensor
    edge_index: Tensor
    edge_type: Tensor


def make_tensors(spec: GraphSpec, windows: LabelledWindows, fault_types: Sequence[str]) -> Tensors:
    x, mask = build_inputs(spec, windows.values)
    return Tensors(
        x=torch.from_numpy(x),
        mask=torch.from_numpy(mask),
        grades=torch.from_numpy(grade_matrix(windows, spec.node_ids)),
        faults=torch.from_numpy(fault_matrix(windows, spec.node_ids, fault_types)),
        node_type=torch.from_numpy(spec.node_type()),
        edge_index=torch.from_numpy(spec.edge_index()),
        edge_type=torch.from_numpy(spec.edge_type()),
    )


def _losses(
    model: torch.nn.Module,
    data: Tensors,
    idx: np.ndarray,
    config: TrainConfig,
    device: torch.device,
) -> tuple[Tensor, Tensor, Tensor]:
    """(total loss, grade loss, grade logits) of a batch."""
    i = torch.from_numpy(idx)
    x, mask = data.x[i].to(device), data.mask[i].to(device)
    grades, faults = data.grades[i].to(device), data.faults[i].to(device)
    out = model(
        x, mask, data.node_type.to(device), data.edge_index.to(device), data.edge_type.to(device)
    )
    labelled = grades >= 0
    grade_loss = F.cross_entropy(
        out.grade_logits[labelled], grades[labelled], label_smoothing=config.label_smoothing
    )
    total = grade_loss
    if config.fault_weight > 0 and out.fault_logits.shape[-1] > 0:
        total = total + config.fault_weight * F.binary_cross_entropy_with_logits(
            out.fault_logits, faults
        )
    if config.forecast_weight > 0 and x.shape[2] > 1:
        target_mask = mask[:, :, 1:]
        err = (out.forecast[:, :, :-1] - x[:, :, 1:]) ** 2 * target_mask
        total = total + config.forecast_weight * err.sum() / target_mask.sum().clamp_min(1.0)
    return total, grade_loss, out.grade_logits


@torch.no_grad()
def predict_grades(
    model: TemporalGNN, data: Tensors, idx: np.ndarray, batch_size: int = 128
) -> np.ndarray:
    """int64 [len(idx), N] most likely grade per node."""
    model.eval()
    out = []
    for part in batches(len(idx), batch_size):
        j = torch.from_numpy(idx[part])
        logits = model(
            data.x[j], data.mask[j], data.node_type, data.edge_index, data.edge_type
        ).grade_logits
        out.append(logits.argmax(-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, data.x.shape[1]), dtype=np.int64)


DEPENDENCE_WINDOWS = 600


@torch.no_grad()
def sensor_dependence(
    model: TemporalGNN, spec: GraphSpec, data: Tensors, graded: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Grade accuracy of every graded component on ``data`` with all sensors, and with each
    sensor masked out alone (as the engine sees a sensor missing from a window).

    On the training windows this is in-sample, so it shows what the model leans on rather
    than how well it generalises; a sensor whose absence costs a component more than
    ``gnn.contract.REQUIRED_SENSOR_DROP`` is one that component's grade needs.

    Returns:
        ``{component: {"all": accuracy, sensor id: accuracy without it, ...}}``.
    """
    # every k-th window, at most about DEPENDENCE_WINDOWS: (1 + sensors) passes over them
    idx = np.arange(0, data.x.shape[0], max(1, data.x.shape[0] // DEPENDENCE_WINDOWS))
    truth = data.grades.numpy()[idx]
    nodes = {c: spec.node_ids.index(c) for c in graded}

    def accuracy(x: Tensor, mask: Tensor) -> dict[str, float]:
        pred = predict_grades(model, replace(data, x=x, mask=mask), idx)
        out = {}
        for c, j in nodes.items():
            known = truth[:, j] >= 0
            out[c] = float((pred[known, j] == truth[known, j]).mean()) if known.any() else 0.0
        return out

    table: dict[str, dict[str, float]] = {
        c: {"all": a} for c, a in accuracy(data.x, data.mask).items()
    }
    for sensor in spec.sensors:
        channels = spec.feature_channels(sensor.slot)
        x, mask = data.x.clone(), data.mask.clone()
        x[:, sensor.node, :, channels] = 0.0
        mask[:, sensor.node, :, channels] = 0.0
        for c, a in accuracy(x, mask).items():
            table[c][sensor.id] = a
    return table


def required_sensors(
    dependence: Mapping[str, Mapping[str, float]], drop: float
) -> dict[str, dict[str, float]]:
    """The sensors each component's grade needs: those whose absence costs more than ``drop``
    of its accuracy, with the accuracy without them."""
    needs = {
        c: {s: a for s, a in row.items() if s != "all" and row["all"] - a > drop}
        for c, row in dependence.items()
    }
    return {c: sensors for c, sensors in needs.items() if sensors}


@torch.no_grad()
def forecast_reference(
    model: TemporalGNN, spec: GraphSpec, data: Tensors, idx: np.ndarray, batch_size: int = 128
) -> dict[str, float]:
    """Mean squared one-step forecast error per node with sensors (normalised units).

    The engine divides a window's forecast error by this to get an anomaly score where
    1.0 is typical of the training data.
    """
    model.eval()
    total = torch.zeros(spec.num_nodes, dtype=torch.float64)
    count = torch.zeros(spec.num_nodes, dtype=torch.float64)
    for part in batches(len(idx), batch_size):
        j = torch.from_numpy(idx[part])
        x, mask = data.x[j], data.mask[j]
        fc = model(x, mask, data.node_type, data.edge_index, data.edge_type).forecast
        m = mask[:, :, 1:]
        err = (fc[:, :, :-1] - x[:, :, 1:]) ** 2 * m
        total += err.sum(dim=(0, 2, 3)).double()
        count += m.sum(dim=(0, 2, 3)).double()
    return {
        node: float(total[k] / count[k]) for k, node in enumerate(spec.node_ids) if count[k] > 0
    }


def _device(choice: str) -> torch.device:
    """The device to train on; under torchrun each rank takes its LOCAL_RANK's GPU."""
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {choice!r}: use auto, cpu or cuda")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        from ingestion.errors import HydroDiagError

        raise HydroDiagError(
            "--device cuda: torch sees no CUDA GPU here (a CPU build of torch, or no driver); "
            "use --device auto or cpu, or install a CUDA build of torch."
        )
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) when started by torchrun, else (0, 1)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def rank_share(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's equal share of an epoch's ``order`` of windows.

    Padded by wrapping around (as torch's ``DistributedSampler`` does) so that every rank runs
    the same number of batches: DDP's gradient all-reduce would otherwise wait forever for the
    rank that ran out first.
    """
    padded = np.resize(order, len(order) + (-len(order)) % world)  # np.resize repeats
    return padded[rank::world]


def _sum_over_ranks(*values: float) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64, so counts stay exact)."""
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return [float(v) for v in t]


def _from_rank0(value: float | None) -> float | None:
    """Rank 0's value on every rank, so that all ranks stop at the same epoch."""
    if value is None:
        return None
    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.broadcast(t, src=0)
    return float(t[0])


def train_model(
    spec: GraphSpec,
    windows: LabelledWindows,
    config: TrainConfig,
    *,
    val_windows: LabelledWindows | None = None,
    progress: Progress = NO_PROGRESS,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    device: str = "auto",
) -> TrainResult:
    """Fit normalisation and a model on ``windows``; early-stop on held-out blocks.

    Args:
        spec: the graph (normalisation statistics are refitted on the training part).
        windows: labelled windows in time order.
        config: hyper-parameters.
        val_windows: explicit validation windows; by default whole blocks of ``windows``
            (``config.val_fraction``) are held out. With ``val_fraction`` 0 and no
            ``val_windows`` the model trains for exactly ``config.epochs`` epochs.
        progress: reports batches; cancelling raises ``CancelledError``.
        on_epoch: called after every epoch (the CLI prints a line).
        checkpoint_dir: if given, the resumable state (:mod:`training.checkpoint`) is written
            there after every epoch.
        resume: continue from the state in ``checkpoint_dir``: the same steps, bit for bit on
            CPU, as the run that was interrupted (refused for other options or data).
        device: "auto" (this rank's GPU when torch sees one, else CPU), "cpu" or "cuda".
    """
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    _seed_everything(config.seed)
    rank, world = distributed_rank()
    torch_device = _device(device)
    own_group = world > 1 and not torch.distributed.is_initialized()
    if own_group:
        torch.distributed.init_process_group("nccl" if torch_device.type == "cuda" else "gloo")
    if rank != 0:
        progress = NO_PROGRESS  # one progress bar, rank 0's

    if val_windows is not None:
        train_part, val_part = windows, val_windows
    elif config.val_fraction > 0:
        tr, va = validation_blocks(windows.n_windows, config.val_fraction, seed=config.seed)
        train_part, val_part = windows.subset(tr), windows.subset(va)
    else:
        train_part, val_part = windows, None

    spec = spec.fit_normalisation(train_part.values).fit_phase_normalisation(
        train_part.values, config.normalisation
    )
    graded = tuple(c for c in spec.node_ids if c in train_part.grades)
    fault_types = tuple(
        sorted({train_part.fault_types[c] for c in graded if c in train_part.fault_types})
    )
    train_data = make_tensors(spec, train_part, fault_types)
    val_data = make_tensors(spec, val_part, fault_types) if val_part is not None else None

    model = TemporalGNN(
        num_features=spec.num_features,
        num_fault_types=len(fault_types),
        hidden_channels=config.hidden_channels,
        heads=config.heads,
        num_layers=config.num_layers,
        lstm_layers=config.lstm_layers,
        dropout=config.dropout,
        time_frequencies=config.time_frequencies,
        readout_layers=config.readout_layers,
        moment_frequencies=config.moment_frequencies,
        num_nodes=spec.num_nodes if config.discriminant_frequencies else 0,
        discriminant_frequencies=config.discriminant_frequencies,
        discriminant_variation=config.discriminant_variation,
    ).to(torch_device)
    net: torch.nn.Module = model
    if world > 1:
        # DDP copies rank 0's initial weights to every rank; dropout differs per rank
        torch.manual_seed(config.seed + rank)
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[torch_device.index] if torch_device.type == "cuda" else None
        )
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps_per_epoch = -(-train_part.n_windows // (config.batch_size * world))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    rng = np.random.default_rng(config.seed)
    state_file = checkpoint_dir / checkpoint.FILE if checkpoint_dir is not None else None
    digest = ""
    if state_file is not None:
        tensors = (train_data.x, train_data.mask, train_data.grades, train_data.faults)
        digest = checkpoint.data_digest(*tensors)
    run = checkpoint.RunState(0, 0, False, float("inf"), 0, copy.deepcopy(model.state_dict()), [])
    if resume:
        if state_file is None:
            raise ValueError("resume needs the checkpoint_dir of the interrupted run")
        run = checkpoint.load(
            state_file,
            model=model,
            optimiser=optimiser,
            scheduler=scheduler,
            rng=rng,
            config=config.model_dump(),
            digest=digest,
            rank=rank,
            world=world,
        )
        log.info("resuming after epoch %d (step %d)", run.epoch, run.step)
    history = [EpochRecord(**r) for r in run.history]
    best_loss, best_epoch, best_state = run.best_loss, run.best_epoch, run.best_state
    progress.start("training", total=config.epochs * steps_per_epoch, unit="batches")
    step = run.step
    progress.update(step)
    for epoch in range(run.epoch + 1, 1 if run.stopped else config.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        # every rank draws the same permutation and takes its own share of it
        order = rank_share(rng.permutation(train_part.n_windows), rank, world)
        running, seen = 0.0, 0
        for lo in range(0, len(order), config.batch_size):
            check_cancelled(progress)
            idx = order[lo : lo + config.batch_size]
            loss, _, _ = _losses(net, train_data, idx, config, torch_device)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            if step < config.epochs * steps_per_epoch - 1:
                scheduler.step()
            step += 1
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
            progress.update(step)
        val_loss: float | None = None
        val_acc: dict[str, float] = {}
        if val_data is not None and val_part is not None and val_part.n_windows:
            val_loss, val_acc = _validate(model, val_data, spec, graded, config, torch_device)
        if world > 1:
            running, seen_all = _sum_over_ranks(running, seen)
            seen = int(seen_all)
            val_loss = _from_rank0(val_loss)
        record = EpochRecord(
            epoch, running / max(seen, 1), val_loss, val_acc, time.perf_counter() - t0
        )
        history.append(record)
        if on_epoch is not None and rank == 0:
            on_epoch(record)
        score = val_loss if val_loss is not None else -epoch
        if score < best_loss - 1e-5:
            best_loss, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        stop = val_loss is not None and epoch - best_epoch >= config.patience
        if state_file is not None:
            checkpoint.save(
                state_file,
                model=model,
                optimiser=optimiser,
                scheduler=scheduler,
                rng=rng,
                state=checkpoint.RunState(
                    epoch,
                    step,
                    stop,
                    best_loss,
                    best_epoch,
                    best_state,
                    [r.__dict__ for r in history],
                ),
                config=config.model_dump(),
                digest=digest,
                hparams=model.hparams(),
                rank=rank,
                world=world,
            )
        if stop:
            log.info("early stop at epoch %d (best %d)", epoch, best_epoch)
            break
    progress.finish()
    if own_group:
        torch.distributed.destroy_process_group()
    model.load_state_dict(best_state)
    model.eval()
    all_idx = np.arange(train_part.n_windows)
    discriminants: list[FittedDiscriminant] = []
    if config.discriminant_frequencies:
        discriminants = fit_discriminants(
            model.cpu(),
            spec,
            train_data.x,
            train_data.mask,
            train_data.grades.numpy(),
            fault_types,
            train_part.fault_types,
            hops=config.discriminant_hops,
            nodes=config.discriminant_nodes,
            offset_floor=config.discriminant_offset,
            noise_floor=config.discriminant_noise,
            scale=config.discriminant_scale,
        )
    reference = forecast_reference(model.cpu(), spec, train_data, all_idx)
    return TrainResult(
        model=model.cpu(),
        spec=spec,
        fault_types=fault_types,
        graded_components=graded,
        config=config,
        history=history,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - started,
        n_train=train_part.n_windows,
        n_val=val_part.n_windows if val_part is not None else 0,
        hardware=hardware_info(torch_device),
        forecast_reference=reference,
        discriminants=discriminants,
    )


@torch.no_grad()
def _validate(
    model: TemporalGNN,
    data: Tensors,
    spec: GraphSpec,
    graded: Sequence[str],
    config: TrainConfig,
    device: torch.device,
) -> tuple[float, dict[str, float]]:
    model.eval()
    total, n = 0.0, 0
    preds = []
    for idx in batches(data.x.shape[0], 128):
        _, grade_loss, logits = _losses(model, data, idx, config, device)
        total += float(grade_loss) * len(idx)
        n += len(idx)
        preds.append(logits.argmax(-1).cpu().numpy())
    pred = np.concatenate(preds)
    truth = data.grades.numpy()
    acc = {}
    for c in graded:
        j = spec.node_ids.index(c)
        known = truth[:, j] >= 0
        if known.any():
            acc[c] = float((pred[known, j] == truth[known, j]).mean())
    return total / max(n, 1), acc


def history_json(history: Sequence[EpochRecord]) -> str:
    return json.dumps([r.__dict__ for r in history])
