"""Data-parallel training under the real launcher: ``torchrun`` with two CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gnn.graph import GraphSpec
from ingestion.profiles import load_profile
from training.config import TrainConfig
from training.datasets import from_uci_folder
from training.distributed import rank_share
from training.export import load_checkpoint
from training.train import train_model


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_rank_share_gives_every_rank_the_same_number_of_windows(world: int) -> None:
    for n in range(1, 30):
        order = np.random.default_rng(n).permutation(n)
        shares = [rank_share(order, r, world) for r in range(world)]
        assert len({len(s) for s in shares}) == 1, (n, world)
        # every window is used, and only windows wrapped around from the start repeat
        assert set(np.concatenate(shares)) == set(order)
        assert sum(map(len, shares)) - n == (-n) % world


def _torchrun(uci: Path, out: Path, options: str) -> list[str]:
    """`hydrodiag train` on two CPU processes (gloo) through the real launcher."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    train = ["-m", "app.cli", "train", "--uci", str(uci), "--out", str(out), "--batch-size=8"]
    return [*torchrun, *train, *options.split()]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_two_ranks_take_the_steps_of_one_process_with_twice_the_batch(
    uci60: Path, tmp_path: Path
) -> None:
    """Two gloo ranks with batch 8 reach the weights of one process with batch 16.

    DDP averages the two ranks' gradients, and each rank takes its half of the same
    permutation, so every optimiser step sees the same 16 windows either way (dropout off).
    A rank that ran out of batches first would hang the all-reduce instead.
    """
    out = tmp_path / "model"
    # 48 windows to train on (the last 12 hold out for early stopping): 24 per rank
    options = "--epochs 3 --hidden 4 --heads 1 --seed 3 --dropout 0 --threads 1 --val-fraction 0.2"
    run = _run(_torchrun(uci60, out, options))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # one writer: rank 0 prints and writes, rank 1 only trains
    assert run.stdout.count("training on 60 windows") == 1, run.stdout
    assert run.stdout.count("wrote ") == 1, run.stdout
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["hardware"]["world_size"] == 2
    assert not (out / "checkpoints").exists()

    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    windows = from_uci_folder(uci60)
    ddp, _, _ = load_checkpoint(out / "model.pt")

    def gap(batch_size: int) -> float:
        """Largest weight difference to one process training the card's config, this batch."""
        config = TrainConfig(**{**card["training"]["config"], "batch_size": batch_size})
        single = train_model(spec, windows, config)
        if batch_size == 16:
            # early stopping saw rank 0's validation loss on every rank, as one process does
            assert single.best_epoch == card["training"]["best_epoch"]
        weights = dict(single.model.named_parameters())
        return max(
            float((p.detach() - weights[n].detach()).abs().max()) for n, p in ddp.named_parameters()
        )

    # measured 6e-6: float32 gradients summed in another order, through 9 Adam steps
    assert gap(16) < 1e-4
    # wrong batch arithmetic would show: one process with batch 8 is 3e-2 away
    assert gap(8) > 1e-3


def test_two_ranks_interrupted_by_ctrl_c_resume_bit_for_bit(uci60: Path, tmp_path: Path) -> None:
    """Ctrl-C on a two-process run keeps its state; --resume ends on the uninterrupted weights.

    Dropout is on, so each rank's own generator has to come back (the state keeps both).
    """
    options = "--epochs 30 --hidden 4 --heads 1 --seed 3 --dropout 0.2 --threads 1"
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert _run(_torchrun(uci60, straight, options)).returncode == 0

    state = interrupted / "checkpoints" / "last.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(
        _torchrun(uci60, interrupted, options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: Ctrl-C reaches launcher and ranks
    )
    deadline = time.monotonic() + 120
    while not state.exists() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(launcher.pid, signal.SIGINT)
    _, err = launcher.communicate(timeout=120)
    assert state.exists() and not (interrupted / "model.onnx").exists(), err[-2000:]
    # rank 0 alone says how to continue (the launcher may stop it before it can)
    assert err.count("run the same command with --resume") <= 1, err[-2000:]

    resumed = _run(_torchrun(uci60, interrupted, options + " --resume"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, _, _ = load_checkpoint(straight / "model.pt")
    b, _, _ = load_checkpoint(interrupted / "model.pt")
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
