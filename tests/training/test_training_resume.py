"""An interrupted training run resumes from its last epoch and ends where an uninterrupted one
would have, bit for bit; resuming with other options or data is refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from app.cli import main
from gnn.graph import GraphSpec
from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile
from ingestion.progress import CancelledError, NullProgress
from training.config import TrainConfig
from training.datasets import LabelledWindows, from_uci_folder
from training.train import TrainResult, train_model

# early stopping on held-out blocks, so its state (best epoch, best weights) must carry over
CONFIG = TrainConfig(
    epochs=4, batch_size=16, hidden_channels=4, heads=1, seed=5, val_fraction=0.2, patience=3
)


class CancelAt(NullProgress):
    """Cancels once training has taken ``step`` optimiser steps (as the GUI's button does)."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.cancelled = False

    def update(self, done: int, total: int | None = None) -> None:
        self.cancelled = done >= self.step


@pytest.fixture(scope="module")
def windows(uci60: Path) -> LabelledWindows:
    return from_uci_folder(uci60)


def _train(windows: LabelledWindows, folder: Path, **kwargs: object) -> TrainResult:
    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    return train_model(spec, windows, CONFIG, checkpoint_dir=folder, **kwargs)  # type: ignore[arg-type]


def test_resumed_run_ends_bit_identical_to_an_uninterrupted_one(
    windows: LabelledWindows, tmp_path: Path
) -> None:
    straight = _train(windows, tmp_path / "a")
    # 48 training windows, batch 16: 3 steps an epoch; cancel inside epoch 3
    with pytest.raises(CancelledError):
        _train(windows, tmp_path / "b", progress=CancelAt(7))
    saved = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert saved["epoch"] == 2
    resumed = _train(windows, tmp_path / "b", resume=True)

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r.train_loss for r in resumed.history] == [r.train_loss for r in straight.history]
    assert [r.val_loss for r in resumed.history] == [r.val_loss for r in straight.history]
    assert resumed.best_epoch == straight.best_epoch
    # and the comparison can fail: the interrupted run's weights after epoch 2 differ
    assert not all(torch.equal(saved["state_dict"][k], a[k]) for k in a)


def test_resume_refuses_other_options_other_data_and_a_missing_state(
    windows: LabelledWindows, tmp_path: Path
) -> None:
    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    with pytest.raises(CancelledError):
        _train(windows, tmp_path, progress=CancelAt(4))
    other = CONFIG.model_copy(update={"lr": 1e-3})
    with pytest.raises(HydroDiagError, match=r"other options \(lr 0.005 → 0.001\)"):
        train_model(spec, windows, other, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(HydroDiagError, match="other data"):
        _train(windows.subset(torch.arange(50).numpy()), tmp_path, resume=True)
    with pytest.raises(HydroDiagError, match="no interrupted run to resume"):
        _train(windows, tmp_path / "empty", resume=True)
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(HydroDiagError, match="cannot read the training state"):
        _train(windows, tmp_path, resume=True)


def test_cli_keeps_an_interrupted_run_until_resumed(
    uci60: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "model"
    args = ["train", "--uci", str(uci60), "--out", str(out), "--epochs", "2", "--hidden", "4"]
    args += ["--heads", "1", "--seed", "2"]
    # a run interrupted after its first epoch left its state behind
    with pytest.raises(CancelledError):
        train_model(
            GraphSpec.from_profile(load_profile("zema-test-rig")),
            from_uci_folder(uci60),
            TrainConfig(epochs=2, hidden_channels=4, heads=1, seed=2),
            checkpoint_dir=out / "checkpoints",
            progress=CancelAt(3),
        )
    state = out / "checkpoints" / "last.pt"
    assert state.is_file()
    # the same command without --resume would overwrite it: refused, the state kept
    assert main(args) == 1
    assert "holds an interrupted run: add --resume" in capsys.readouterr().err
    assert state.is_file()
    monkeypatch.setattr(sys, "argv", ["hydrodiag", *args, "--resume"])  # the card reads it
    assert main([*args, "--resume"]) == 0
    assert (out / "model.onnx").is_file() and not (out / "checkpoints").exists()
    # the card's command reproduces the model: without --resume
    command = json.loads((out / "card.json").read_text())["training"]["command"]
    assert command == "hydrodiag " + " ".join(args)
