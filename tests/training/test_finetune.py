"""Fine-tuning a graded model (training.finetune): its normalisation, its refusals, that it
learns a changed sensor, and `hydrodiag train --finetune-from` registering it with its parent."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from gnn.registry import builtin_models
from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile, load_profile_file
from ingestion.workspace import open_workspace
from training.config import TrainConfig
from training.datasets import LabelledWindows, from_uci_folder
from training.export import load_checkpoint
from training.finetune import (
    accuracy,
    check_profile,
    finetune_config,
    finetune_model,
    load_base,
    reference_windows,
)
from training.pipeline import train_and_save
from training.train import make_tensors

REPO = Path(__file__).resolve().parents[2]
TINY = TrainConfig(epochs=4, batch_size=16, hidden_channels=4, heads=1, num_layers=1, seed=3)


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 real cycles spread over the UCI data (every grade of every component appears)."""
    from tests.conftest import UCI_DIR

    src = tmp_path_factory.mktemp("uci-ft")
    lines = {f.name: f.read_text().splitlines() for f in UCI_DIR.glob("*.txt")}
    pick = list(range(0, 1800, 22))
    for name, rows in lines.items():
        (src / name).write_text("\n".join(rows[i] for i in pick) + "\n")
    return src


@pytest.fixture(scope="module")
def base_dir(cycles: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny graded model trained on ``cycles``: model.pt, model.onnx, card.json."""
    out = tmp_path_factory.mktemp("base") / "model"
    train_and_save(
        from_uci_folder(cycles),
        load_profile("zema-test-rig"),
        out,
        TINY,
        model_id="tiny-rig",
        model_version="1.0.0",
        command="test",
        log=lambda _: None,
        device="cpu",
    )
    return out


def shifted(w: LabelledWindows, sensors: tuple[str, ...], by: float) -> LabelledWindows:
    """The windows read through recalibrated sensors: ``value + by × std``."""
    values = dict(w.values)
    for s in sensors:
        values[s] = w.values[s] + by * float(w.values[s].std())
    return replace(w, values=values)


def mean_accuracy(model: object, base_dir: Path, w: LabelledWindows) -> float:
    base = load_base(str(base_dir))
    spec = base.meta.graph_spec
    acc = accuracy(model, spec, make_tensors(spec, w, base.meta.fault_types), ("MP1", "C1"))  # type: ignore[arg-type]
    return float(np.mean(list(acc.values())))


def test_finetune_keeps_normalisation_and_learns_a_changed_sensor(
    base_dir: Path, cycles: Path
) -> None:
    base = load_base(str(base_dir))
    windows = from_uci_folder(cycles)
    # the pump's and the cooler's sensors read through new, badly calibrated transmitters
    changed = shifted(windows, ("PS1", "FS1", "CE", "CP", "TS1"), 2.0)
    config = finetune_config(base, epochs=6, lr=5e-3, val_fraction=0.2, seed=0)
    before = mean_accuracy(base.model, base_dir, changed)
    tuned = finetune_model(base, changed, config, device="cpu")
    after = mean_accuracy(tuned.result.model, base_dir, changed)
    assert after > before + 0.1, (before, after)
    # the parent's normalisation, not one refitted on the changed data
    assert tuned.result.spec == base.meta.graph_spec
    assert tuned.result.spec.sensor("PS1").mean == base.meta.graph_spec.sensor("PS1").mean
    assert tuned.result.spec.sensor("PS1").mean != pytest.approx(
        float(changed.values["PS1"].mean()), rel=1e-3
    )
    # early stopping considered the parent itself (epoch 0) and the held-out figures are there
    assert 0 <= tuned.result.best_epoch <= 6
    assert set(tuned.figures) == {"user"}
    assert tuned.split.user_val.n_windows > 0


def test_other_profile_and_no_checkpoint_are_refused(base_dir: Path, tmp_path: Path) -> None:
    base = load_base(str(base_dir))
    press = load_profile_file(REPO / "examples" / "my-machine.yaml")
    with pytest.raises(HydroDiagError, match="trained for profile 'zema-test-rig'"):
        check_profile(base, press)
    check_profile(base, load_profile("zema-test-rig"))  # the same profile passes
    onnx_only = tmp_path / "onnx-only"
    onnx_only.mkdir()
    shutil.copy(base_dir / "model.onnx", onnx_only / "model.onnx")
    with pytest.raises(HydroDiagError, match=r"training checkpoint \(model.pt\)"):
        load_base(str(onnx_only))
    with pytest.raises(HydroDiagError, match="--hidden-channels: a fine-tuned model keeps"):
        finetune_config(base, hidden_channels=8)
    with pytest.raises(HydroDiagError, match="no built-in model of that name"):
        load_base("no-such-model@1.0.0")


def test_the_shipped_model_is_found_by_reference_and_replays_its_cycles() -> None:
    shipped = builtin_models()[0]
    base = load_base(str(shipped.key))
    assert base.key == shipped.key and base.checkpoint.name == "model.pt"
    replay = reference_windows(base, load_profile("zema-test-rig"))
    assert replay is not None and replay.n_windows == 1805


def test_cli_finetune_registers_with_the_base_as_parent(
    base_dir: Path, cycles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingestion.uci_import import ingest_uci

    ws = tmp_path / "ws.duckdb"
    with open_workspace(ws) as store:
        ingest_uci(store, cycles, equipment_id="rig")
    out = tmp_path / "tuned"
    argv = ["--workspace", str(ws), "train", "--equipment", "rig"]
    ft = ["--finetune-from", str(base_dir), "--epochs", "1", "--device", "cpu"]
    assert main([*argv, *ft, "--out", str(out), "--activate"]) == 0
    printed = capsys.readouterr().out
    assert "fine-tuning tiny-rig@1.0.0 on 82 windows" in printed
    assert "registered rig-gatv2-lstm@1.0.0" in printed
    with open_workspace(ws, read_only=True) as store:
        rows = store.query("SELECT id, version, parent_id, parent_version, origin FROM models")
    assert rows == [("rig-gatv2-lstm", "1.0.0", "tiny-rig", "1.0.0", "trained")]
    card = json.loads((out / "card.json").read_text())
    assert card["parent"] == "tiny-rig@1.0.0"
    assert card["fine_tuning"]["parent"] == "tiny-rig@1.0.0"
    assert card["fine_tuning"]["data"]["train"]["windows"] > 0
    assert "- Parent: `tiny-rig@1.0.0`" in (out / "card.md").read_text()
    # the checkpoint keeps the parent's normalisation
    _, meta, _ = load_checkpoint(out / "model.pt")
    assert meta.graph_spec == load_base(str(base_dir)).meta.graph_spec
    # a stored model trained (here: fine-tuned) from this workspace is found by its reference
    # through the folder it was registered from; once that folder changes, it is refused
    again = ["--finetune-from", "rig-gatv2-lstm@1.0.0", "--epochs", "1", "--device", "cpu"]
    assert main([*argv, *again, "--out", str(tmp_path / "tuned2")]) == 0
    assert "registered rig-gatv2-lstm@1.0.1" in capsys.readouterr().out
    with open_workspace(ws, read_only=True) as store:
        rows = store.query("SELECT version, parent_id, parent_version FROM models ORDER BY 1")
    assert rows[1] == ("1.0.1", "rig-gatv2-lstm", "1.0.0")
    (out / "model.pt").unlink()
    assert main([*argv, *again, "--out", str(tmp_path / "tuned3")]) == 1
    assert "as ONNX only" in capsys.readouterr().err
    # an architecture option is refused in a sentence, before anything is written
    bad = tmp_path / "bad"
    assert main([*argv, *ft, "--hidden", "8", "--out", str(bad)]) == 1
    assert "--hidden: a fine-tuned model keeps" in capsys.readouterr().err
    assert not bad.exists()
