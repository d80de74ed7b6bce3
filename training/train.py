"""The training loop: labelled windows in, a trained :class:`~gnn.model.TemporalGNN` out.

Deterministic on CPU for a given seed (one seeded generator for initialisation, shuffling
and dropout; deterministic algorithms on). Early stopping watches the grade loss on whole
held-out blocks of windows; the best epoch's weights are kept. Under ``torchrun`` several
processes train data-parallel (:mod:`training.distributed`).
"""

from __future__ import annotations

import copy
import json
import logging
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
    blocked_folds,
    condition_runs,
    fault_matrix,
    grade_matrix,
    run_folds,
    runs_component,
    validation_blocks,
)
from training.discriminant import FittedDiscriminant, fit_discriminants
from training.distributed import (
    Process,
    from_rank0,
    hardware_info,
    join,
    leave,
    rank_share,
    sum_over_ranks,
)

log = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    """One epoch's figures: what ``on_epoch`` receives and the card's history lists."""

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


@torch.no_grad()
def predict_log_probs(
    model: TemporalGNN, data: Tensors, idx: np.ndarray, batch_size: int = 128
) -> np.ndarray:
    """float32 [len(idx), N, G] log-probabilities of the grades, as the exported model gives
    them (its ``grade_probs`` are their exponentials)."""
    model.eval()
    out = []
    for part in batches(len(idx), batch_size):
        j = torch.from_numpy(idx[part])
        logits = model(
            data.x[j], data.mask[j], data.node_type, data.edge_index, data.edge_type
        ).grade_logits
        out.append(torch.log_softmax(logits, dim=-1).numpy())
    if not out:
        return np.zeros((0, data.x.shape[1], model.num_grades), dtype=np.float32)
    return np.concatenate(out)


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
    dependence: Mapping[str, Mapping[str, float]],
    drop: float,
    discriminants: Sequence[FittedDiscriminant] = (),
) -> dict[str, dict[str, float]]:
    """The sensors each component's grade needs: those whose absence costs more than ``drop``
    of its accuracy, with the accuracy without them — on the training windows
    (``dependence``, :func:`sensor_dependence`), and for a component graded from its
    neighbours alone also on held-out blocks of them (``FittedDiscriminant.held_out_without``):
    in-sample its fit has memorised the windows and hardly notices a missing sensor, while on
    new runs of the rig a missing PS1 took the accumulator to 29 %."""
    needs = {
        c: {s: a for s, a in row.items() if s != "all" and row["all"] - a > drop}
        for c, row in dependence.items()
    }
    for d in discriminants:
        base = d.held_out_accuracy
        if not d.held_out_without or base != base:  # NaN: too few blocks to tell
            continue
        own = needs.setdefault(d.component, {})
        for sensor, accuracy in d.held_out_without.items():
            if base - accuracy > drop:
                own[sensor] = min(own.get(sensor, accuracy), accuracy)
    return {c: dict(sorted(sensors.items())) for c, sensors in needs.items() if sensors}


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


def _start_process(config: TrainConfig, device: str) -> Process:
    """Threads and seeds of this process, then its place in the run."""
    if config.threads:
        torch.set_num_threads(config.threads)
    _seed_everything(config.seed)
    return join(device)


def _split(
    windows: LabelledWindows, val_windows: LabelledWindows | None, config: TrainConfig
) -> tuple[LabelledWindows, LabelledWindows | None]:
    """(training part, validation part or None) per :func:`train_model`'s ``val_windows``."""
    if val_windows is not None:
        return windows, val_windows
    if config.val_fraction > 0:
        tr, va = validation_blocks(windows.n_windows, config.val_fraction, seed=config.seed)
        return windows.subset(tr), windows.subset(va)
    return windows, None


@dataclass
class _Data:
    """The windows as model inputs, normalised by statistics of the training part."""

    spec: GraphSpec
    graded: tuple[str, ...]
    fault_types: tuple[str, ...]
    train: Tensors
    val: Tensors | None


def _prepare_data(
    spec: GraphSpec,
    train_part: LabelledWindows,
    val_part: LabelledWindows | None,
    config: TrainConfig,
) -> _Data:
    spec = spec.fit_normalisation(train_part.values).fit_phase_normalisation(
        train_part.values, config.normalisation
    )
    graded = tuple(c for c in spec.node_ids if c in train_part.grades)
    fault_types = tuple(
        sorted({train_part.fault_types[c] for c in graded if c in train_part.fault_types})
    )
    train = make_tensors(spec, train_part, fault_types)
    val = make_tensors(spec, val_part, fault_types) if val_part is not None else None
    return _Data(spec, graded, fault_types, train, val)


def _build_model(spec: GraphSpec, num_fault_types: int, config: TrainConfig) -> TemporalGNN:
    return TemporalGNN(
        num_features=spec.num_features,
        num_fault_types=num_fault_types,
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
        # the temperatures stay 1 until a cross-validation's held-out predictions set them
        grade_calibration=bool(config.discriminant_frequencies),
    )


@dataclass
class _Fit:
    """What takes this process's training steps, and what its checkpoints hold and restore."""

    model: TemporalGNN
    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    rng: np.random.Generator  # every epoch's shuffling
    total_steps: int
    checkpoint_file: Path | None
    data_digest: str  # of the training tensors, when checkpointing

    def save(self, state: checkpoint.RunState, config: TrainConfig, process: Process) -> None:
        if self.checkpoint_file is not None:
            checkpoint.save(
                self.checkpoint_file,
                model=self.model,
                optimiser=self.optimiser,
                scheduler=self.scheduler,
                rng=self.rng,
                state=state,
                config=config.model_dump(),
                digest=self.data_digest,
                hparams=self.model.hparams(),
                rank=process.rank,
                world=process.world,
            )


def _set_up_fit(
    model: TemporalGNN,
    config: TrainConfig,
    process: Process,
    data: Tensors,
    checkpoint_dir: Path | None,
) -> _Fit:
    net: torch.nn.Module = model
    if process.world > 1:
        # DDP copies rank 0's initial weights to every rank; dropout differs per rank
        torch.manual_seed(config.seed + process.rank)
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[process.device.index] if process.device.type == "cuda" else None
        )
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps_per_epoch = -(-data.x.shape[0] // (config.batch_size * process.world))
    total_steps = config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=total_steps, pct_start=0.15
    )
    rng = np.random.default_rng(config.seed)
    state_file = checkpoint_dir / checkpoint.FILE if checkpoint_dir is not None else None
    digest = ""
    if state_file is not None:
        digest = checkpoint.data_digest(data.x, data.mask, data.grades, data.faults)
    return _Fit(model, net, optimiser, scheduler, rng, total_steps, state_file, digest)


def _initial_state(
    fit: _Fit, config: TrainConfig, process: Process, resume: bool
) -> checkpoint.RunState:
    """Before the first epoch, or where the interrupted run in the checkpoint stopped."""
    if not resume:
        return checkpoint.RunState(
            0, 0, False, float("inf"), 0, copy.deepcopy(fit.model.state_dict()), []
        )
    if fit.checkpoint_file is None:
        raise ValueError("resume needs the checkpoint_dir of the interrupted run")
    run = checkpoint.load(
        fit.checkpoint_file,
        model=fit.model,
        optimiser=fit.optimiser,
        scheduler=fit.scheduler,
        rng=fit.rng,
        config=config.model_dump(),
        digest=fit.data_digest,
        rank=process.rank,
        world=process.world,
    )
    log.info("resuming after epoch %d (step %d)", run.epoch, run.step)
    return run


def _train_epoch(
    fit: _Fit,
    data: Tensors,
    config: TrainConfig,
    process: Process,
    progress: Progress,
    step: int,
) -> tuple[float, int, int]:
    """One pass over this rank's share of a fresh permutation: (summed loss, windows, step)."""
    fit.net.train()
    # every rank draws the same permutation and takes its own share of it
    order = rank_share(fit.rng.permutation(data.x.shape[0]), process.rank, process.world)
    running, seen = 0.0, 0
    for lo in range(0, len(order), config.batch_size):
        check_cancelled(progress)
        idx = order[lo : lo + config.batch_size]
        loss, _, _ = _losses(fit.net, data, idx, config, process.device)
        fit.optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(fit.model.parameters(), 5.0)
        fit.optimiser.step()
        if step < fit.total_steps - 1:
            fit.scheduler.step()
        step += 1
        running += float(loss.detach()) * len(idx)
        seen += len(idx)
        progress.update(step)
    return running, seen, step


def _run_epochs(
    fit: _Fit,
    data: _Data,
    config: TrainConfig,
    process: Process,
    run: checkpoint.RunState,
    progress: Progress,
    on_epoch: Callable[[EpochRecord], None] | None,
) -> tuple[list[EpochRecord], int, dict[str, Tensor]]:
    """The epochs from ``run`` on, checkpointed after each: (history, best epoch, its weights).

    The best epoch has the lowest validation loss; without validation, the last one.
    """
    history = [EpochRecord(**r) for r in run.history]
    best_loss, best_epoch, best_state = run.best_loss, run.best_epoch, run.best_state
    progress.start("training", total=fit.total_steps, unit="batches")
    step = run.step
    progress.update(step)
    for epoch in range(run.epoch + 1, 1 if run.stopped else config.epochs + 1):
        t0 = time.perf_counter()
        running, seen, step = _train_epoch(fit, data.train, config, process, progress, step)
        val_loss: float | None = None
        val_acc: dict[str, float] = {}
        if data.val is not None and data.val.x.shape[0]:
            val_loss, val_acc = _validate(
                fit.model, data.val, data.spec, data.graded, config, process.device
            )
        if process.world > 1:
            running, seen_all = sum_over_ranks(running, seen)
            seen = int(seen_all)
            val_loss = from_rank0(val_loss)
        record = EpochRecord(
            epoch, running / max(seen, 1), val_loss, val_acc, time.perf_counter() - t0
        )
        history.append(record)
        if on_epoch is not None and process.rank == 0:
            on_epoch(record)
        score = val_loss if val_loss is not None else -epoch
        if score < best_loss - 1e-5:
            best_loss, best_epoch = score, epoch
            best_state = copy.deepcopy(fit.model.state_dict())
        stop = val_loss is not None and epoch - best_epoch >= config.patience
        fit.save(
            checkpoint.RunState(
                epoch, step, stop, best_loss, best_epoch, best_state, [r.__dict__ for r in history]
            ),
            config,
            process,
        )
        if stop:
            log.info("early stop at epoch %d (best %d)", epoch, best_epoch)
            break
    progress.finish()
    return history, best_epoch, best_state


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
    process = _start_process(config, device)
    if process.rank != 0:
        progress = NO_PROGRESS  # one progress bar, rank 0's
    train_part, val_part = _split(windows, val_windows, config)
    data = _prepare_data(spec, train_part, val_part, config)
    model = _build_model(data.spec, len(data.fault_types), config).to(process.device)
    fit = _set_up_fit(model, config, process, data.train, checkpoint_dir)
    run = _initial_state(fit, config, process, resume)
    history, best_epoch, best_state = _run_epochs(
        fit, data, config, process, run, progress, on_epoch
    )
    leave(process)
    model.load_state_dict(best_state)
    model.eval()
    model = model.cpu()
    folds = radius_folds(train_part) if config.discriminant_choose_radius else None
    discriminants = _fit_discriminants(model, data, train_part.fault_types, config, folds)
    reference = forecast_reference(model, data.spec, data.train, np.arange(train_part.n_windows))
    return TrainResult(
        model=model,
        spec=data.spec,
        fault_types=data.fault_types,
        graded_components=data.graded,
        config=config,
        history=history,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - started,
        n_train=train_part.n_windows,
        n_val=val_part.n_windows if val_part is not None else 0,
        hardware=hardware_info(process.device),
        forecast_reference=reference,
        discriminants=discriminants,
    )


def _fit_discriminants(
    model: TemporalGNN,
    data: _Data,
    node_faults: Mapping[str, str],
    config: TrainConfig,
    inner_folds: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[FittedDiscriminant]:
    """The closed-form discriminants of :mod:`training.discriminant`, written into ``model``;
    with ``inner_folds``, each one's radius is chosen on them (else ``config``'s hops)."""
    if not config.discriminant_frequencies:
        return []
    return fit_discriminants(
        model,
        data.spec,
        data.train.x,
        data.train.mask,
        data.train.grades.numpy(),
        data.fault_types,
        dict(node_faults),
        hops=config.discriminant_hops,
        nodes=config.discriminant_nodes,
        offset_floor=config.discriminant_offset,
        noise_floor=config.discriminant_noise,
        scale=config.discriminant_scale,
        inner_folds=inner_folds,
    )


RADIUS_FOLDS = 6  # inner folds the discriminants' radius is chosen on (runs r mod 6)


def radius_folds(windows: LabelledWindows) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The folds inside the training windows that choose each discriminant's radius:
    leave-one-run-out over the runs of :func:`training.datasets.runs_component` (grouped into
    at most :data:`RADIUS_FOLDS` folds), as the validation that judges the model holds out
    runs; blocked folds of 100 windows where the labels have no such runs; None with too
    few windows for either."""
    from ingestion.errors import HydroDiagError

    try:
        grades = windows.grades[runs_component(windows)]
        n_runs = int(condition_runs(grades).max()) + 1
        return run_folds(grades, min(RADIUS_FOLDS, n_runs))
    except HydroDiagError:
        pass
    try:
        return blocked_folds(windows.n_windows, 5)
    except HydroDiagError:
        return None


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
