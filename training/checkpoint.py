"""Resumable training state: what an interrupted ``hydrodiag train --resume`` continues from.

After every epoch :func:`train_model <training.train.train_model>` writes ``last.pt`` with
everything the next epoch depends on — weights, optimiser and learning-rate schedule, the
shuffling generator, each process's dropout generator, the best epoch so far and the history
— so that a resumed run takes exactly the steps the uninterrupted one would have (bit for
bit on CPU; ``tests/training/test_training_resume.py``). The file also records the configuration and
a digest of the training tensors: resuming with other data or options is refused, since the
result would match neither run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ingestion.errors import HydroDiagError

FORMAT = "hydrodiag-train-state/1"
FILE = "last.pt"


@dataclass
class RunState:
    """Where a run stands after a completed epoch."""

    epoch: int  # epochs completed
    step: int  # optimiser steps taken
    stopped: bool  # early stopping ended the run at this epoch
    best_loss: float
    best_epoch: int
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, Any]]  # EpochRecord fields


def data_digest(*tensors: torch.Tensor) -> str:
    """sha256 over the training tensors' bytes: the same data gives the same digest."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _rng_states(world: int) -> list[list[torch.Tensor]]:
    """Every process's torch generator states — CPU, and its GPU's when it trains on one
    (dropout runs on the model's device and differs per rank) — gathered to all ranks."""
    state = [torch.get_rng_state()]
    if torch.cuda.is_available():
        state.append(torch.cuda.get_rng_state())
    if world == 1:
        return [state]
    gathered: list[Any] = [None] * world
    torch.distributed.all_gather_object(gathered, state)
    return [[torch.as_tensor(t) for t in s] for s in gathered]


def _set_rng_states(states: list[torch.Tensor]) -> None:
    torch.set_rng_state(states[0])
    if len(states) > 1 and torch.cuda.is_available():
        torch.cuda.set_rng_state(states[1])


def save(
    path: Path,
    *,
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
    state: RunState,
    config: Mapping[str, Any],
    digest: str,
    hparams: Mapping[str, Any],
    rank: int,
    world: int,
) -> None:
    """Write the state after an epoch (every rank calls this; rank 0 writes).

    Written to a temporary file and renamed, so an interrupt while saving leaves the previous
    epoch's state intact.
    """
    rng_states = _rng_states(world)
    if rank != 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "format": FORMAT,
            "epoch": state.epoch,
            "state_dict": model.state_dict(),
            "hparams": dict(hparams),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": rng_states,
            "progress": {
                "step": state.step,
                "stopped": state.stopped,
                "best_loss": state.best_loss,
                "best_epoch": state.best_epoch,
                "history": state.history,
            },
            "best_state": state.best_state,
            "config": dict(config),
            "data_sha256": digest,
        },
        tmp,
    )
    os.replace(tmp, path)


def load(
    path: Path,
    *,
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
    config: Mapping[str, Any],
    digest: str,
    rank: int,
    world: int,
) -> RunState:
    """Restore the state written by :func:`save` into freshly built training objects.

    Raises:
        HydroDiagError: the file is missing, unreadable, of another format, or from a run
            with other options, other data or another number of processes.
    """
    if not path.is_file():
        raise HydroDiagError(
            f"{path}: no interrupted run to resume here; start the run without --resume."
        )
    from training.safe_load import load_weights

    try:
        # weights_only: tensors and plain values only, no code from a file in a user folder
        data = load_weights(path)
    except ValueError as exc:  # never torch's own text: it suggests weights_only=False
        raise HydroDiagError(
            f"{path}: cannot read the training state: {exc}. Delete the folder's "
            "checkpoints/ and start the run again."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HydroDiagError(
            f"{path}: not a resumable training state (written by an older version, or not "
            "by `hydrodiag train`); delete it and start the run again."
        )
    changed = sorted(
        k for k in {*config, *data["config"]} if config.get(k) != data["config"].get(k)
    )
    if changed:
        was = ", ".join(f"{k} {data['config'].get(k)!r} → {config.get(k)!r}" for k in changed)
        raise HydroDiagError(
            f"{path}: the interrupted run had other options ({was}); resume with the same "
            "options, or start a new run in another --out folder."
        )
    if data["data_sha256"] != digest:
        raise HydroDiagError(
            f"{path}: the interrupted run trained on other data (the windows differ); resume "
            "with the same data, or start a new run in another --out folder."
        )
    if len(data["torch_rng"]) != world:
        raise HydroDiagError(
            f"{path}: the interrupted run had {len(data['torch_rng'])} process(es), this one "
            f"{world}; resume with the same number."
        )
    model.load_state_dict(data["state_dict"])
    optimiser.load_state_dict(data["optimiser"])
    scheduler.load_state_dict(data["scheduler"])
    rng.bit_generator.state = data["numpy_rng"]
    _set_rng_states(data["torch_rng"][rank])
    p = data["progress"]
    return RunState(
        epoch=int(data["epoch"]),
        step=int(p["step"]),
        stopped=bool(p["stopped"]),
        best_loss=float(p["best_loss"]),
        best_epoch=int(p["best_epoch"]),
        best_state=data["best_state"],
        history=list(p["history"]),
    )
