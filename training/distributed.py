"""Where training runs: the device and its hardware (for the card), and under ``torchrun``
which process this is, its share of every epoch and the few values the processes exchange.

Several processes started by ``torchrun`` (env ``RANK``/``WORLD_SIZE``) train data-parallel
through ``torch.nn.parallel.DistributedDataParallel``: NCCL on GPUs, gloo on CPU. Each rank
takes an equal share of every epoch's permutation, so ``world`` ranks with batch ``b`` take the
same steps as one process with batch ``world * b`` (tests/training/test_distributed.py checks
this on CPU with gloo; the GPU path has not run here, this machine has none).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Process:
    """This process's place in a training run."""

    rank: int
    world: int
    device: torch.device
    own_group: bool  # join() started the process group, so leave() ends it


def join(device: str) -> Process:
    """This process's rank and device; under torchrun it joins the process group (starting it
    unless the caller already did)."""
    rank, world = distributed_rank()
    torch_device = training_device(device)
    own_group = world > 1 and not torch.distributed.is_initialized()
    if own_group:
        torch.distributed.init_process_group("nccl" if torch_device.type == "cuda" else "gloo")
    return Process(rank, world, torch_device, own_group)


def leave(process: Process) -> None:
    """End the process group that :func:`join` started."""
    if process.own_group:
        torch.distributed.destroy_process_group()


def training_device(choice: str) -> torch.device:
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


def sum_over_ranks(*values: float) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64, so counts stay exact)."""
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return [float(v) for v in t]


def from_rank0(value: float | None) -> float | None:
    """Rank 0's value on every rank, so that all ranks stop at the same epoch."""
    if value is None:
        return None
    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.broadcast(t, src=0)
    return float(t[0])
