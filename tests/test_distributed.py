"""Data-parallel training under the real launcher: ``torchrun`` with two CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gnn.graph import GraphSpec
from ingestion.profiles import load_profile
from tests.conftest import UCI_DIR
from training.datasets import from_uci_folder
from training.export import load_checkpoint
from training.train import TrainConfig, rank_share, train_model


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_rank_share_gives_every_rank_the_same_number_of_windows(world: int) -> None:
    for n in range(1, 30):
        order = np.random.default_rng(n).permutation(n)
        shares = [rank_share(order, r, world) for r in range(world)]
        assert len({len(s) for s in shares}) == 1, (n, world)
        # every window is used, and only windows wrapped around from the start repeat
        assert set(np.concatenate(shares)) == set(order)
        assert sum(map(len, shares)) - n == (-n) % world


def test_two_ranks_take_the_steps_of_one_process_with_twice_the_batch(tmp_path: Path) -> None:
    """Two gloo ranks with batch 8 reach the weights of one process with batch 16.

    DDP averages the two ranks' gradients, and each rank takes its half of the same
    permutation, so every optimiser step sees the same 16 windows either way (dropout off).
    A rank that ran out of batches first would hang the all-reduce instead.
    """
    if not UCI_DIR.exists():
        pytest.skip("shared UCI data not found")
    folder = tmp_path / "uci"
    folder.mkdir()
    pick = range(0, 1800, 30)  # 60 cycles over the whole run: every grade appears
    for f in UCI_DIR.glob("*.txt"):
        rows = f.read_text().splitlines()
        (folder / f.name).write_text("\n".join(rows[i] for i in pick) + "\n")

    out = tmp_path / "model"
    # 48 windows to train on (the last 12 hold out for early stopping): 24 per rank
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    train = ["-m", "app.cli", "train", "--uci", str(folder), "--out", str(out), "--batch-size=8"]
    options = "--epochs 3 --hidden 4 --heads 1 --seed 3 --dropout 0 --threads 1 --val-fraction 0.2"
    run = subprocess.run(
        [*torchrun, *train, *options.split()],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # one writer: rank 0 prints and writes, rank 1 only trains
    assert run.stdout.count("training on 60 windows") == 1, run.stdout
    assert run.stdout.count("wrote ") == 1, run.stdout
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["hardware"]["world_size"] == 2
    assert not (out / "checkpoints").exists()

    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    windows = from_uci_folder(folder)
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
