"""Training data, blocked folds, baselines, the training loop and the train/export/evaluate CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from gnn.graph import GraphSpec
from ingestion.profiles import load_profile
from training.baselines import fit_baseline, stats_features
from training.config import TrainConfig
from training.datasets import (
    LabelledWindows,
    blocked_folds,
    fault_matrix,
    from_uci_folder,
    from_workspace,
    grade_matrix,
)
from training.evaluate import confusion, cross_validate, scores
from training.train import train_model

TINY = TrainConfig(epochs=2, batch_size=16, hidden_channels=4, heads=1, num_layers=2, seed=7)


def _small_uci(src: Path, dst: Path, rows: slice) -> Path:
    """A UCI-layout folder with the given rows (cycles) of the shared data."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.txt"):
        lines = f.read_text().splitlines()[rows]
        (dst / f.name).write_text("\n".join(lines) + "\n")
    return dst


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import UCI_DIR

    # 60 cycles spread over time so that several grades of every component appear
    src = tmp_path_factory.mktemp("uci-src")
    lines = {f.name: f.read_text().splitlines() for f in UCI_DIR.glob("*.txt")}
    pick = list(range(0, 1805, 30))
    for name, rows in lines.items():
        (src / name).write_text("\n".join(rows[i] for i in pick) + "\n")
    return src


def test_blocked_folds_hold_out_whole_blocks() -> None:
    folds = blocked_folds(1805, 5, 100)
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen.tolist()) == list(range(1805))  # every window validated exactly once
    for train, val in folds:
        assert not set(train) & set(val)
        blocks_val = set((val // 100).tolist())
        assert not blocks_val & set((train // 100).tolist())  # no block is split
    assert sorted(set((folds[0][1] // 100).tolist())) == [0, 5, 10, 15]
    with pytest.raises(Exception, match="at least 5 blocks"):
        blocked_folds(300, 5, 100)


def test_uci_windows_and_label_matrices(small_dir: Path, tmp_path: Path) -> None:
    from ingestion.uci_import import ingest_uci
    from ingestion.workspace import open_workspace

    data = from_uci_folder(small_dir)
    assert data.n_windows == 61 and data.length == 60
    assert set(data.grades) == {"C1", "V10", "MP1", "ACC"}
    assert data.sources[0].kind == "uci-folder" and len(data.sources[0].sha256) == 64
    # a card's data digest is the one the workspace records when the same folder is imported
    with open_workspace(tmp_path / "ws.duckdb") as store:
        ingest_uci(store, small_dir, equipment_id="rig")
        row = store.con.execute("SELECT sha256 FROM sources").fetchone()
    assert row is not None and row[0] == data.sources[0].sha256
    nodes = GraphSpec.from_profile(load_profile("zema-test-rig")).node_ids
    g = grade_matrix(data, nodes)
    assert g.shape == (61, 11)
    assert (g[:, nodes.index("M1")] == -1).all()
    np.testing.assert_array_equal(g[:, nodes.index("ACC")], data.grades["ACC"])
    faults = ("accumulator_precharge_loss", "cooler_efficiency_loss")
    f = fault_matrix(data, nodes, faults)
    np.testing.assert_array_equal(f[:, nodes.index("ACC"), 0], data.grades["ACC"] > 0)
    assert f[:, nodes.index("ACC"), 1].sum() == 0 and f[:, nodes.index("M1")].sum() == 0


def test_stats_features_slope() -> None:
    t = np.arange(60, dtype=float)
    w = LabelledWindows(
        values={"A": np.stack([2 * t + 1, -t])},
        grades={"X": np.array([0, 1])},
        fault_types={},
        window_ids=np.array([1, 2]),
    )
    f = stats_features(w, ["A"])
    np.testing.assert_allclose(f[:, 0], [60.0, -29.5])  # mean
    np.testing.assert_allclose(f[:, 4], [2.0, -1.0])  # slope per second


def test_scores_and_confusion() -> None:
    truth = np.array([0, 0, 1, 1, 2, -1])
    pred = np.array([0, 1, 1, 1, 2, 3])
    cm = confusion(truth, pred)
    assert cm.sum() == 5 and cm[0, 1] == 1 and cm[1, 1] == 2
    s = scores(truth, pred)
    assert s["accuracy"] == pytest.approx(0.8)
    # F1: grade0 2*1*.5/1.5, grade1 2*(2/3)*1/(5/3), grade2 1
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)


def test_training_is_deterministic_and_learns_shapes(small_dir: Path) -> None:
    data = from_uci_folder(small_dir)
    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    a = train_model(spec, data, TINY)
    b = train_model(spec, data, TINY)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert a.fault_types == (
        "accumulator_precharge_loss",
        "cooler_efficiency_loss",
        "pump_internal_leakage",
        "valve_switching_lag",
    )
    assert set(a.graded_components) == {"C1", "V10", "MP1", "ACC"}
    assert len(a.history) == 2 and a.n_train == 61
    # normalisation fitted on the training windows
    assert a.spec.sensor("PS1").mean == pytest.approx(float(data.values["PS1"].mean()), rel=1e-6)
    assert set(a.forecast_reference) == {
        n for n in spec.node_ids if spec.sensors_of_node(spec.node_ids.index(n))
    }
    # early stopping on held-out blocks
    c = train_model(spec, data, TINY.model_copy(update={"val_fraction": 0.3, "epochs": 3}))
    assert c.n_val > 0 and c.history[0].val_loss is not None and 1 <= c.best_epoch <= 3


def test_cross_validate_with_baselines(small_dir: Path) -> None:
    data = from_uci_folder(small_dir)
    sensors = sorted(data.values)
    report = cross_validate(
        data,
        {"lda-stats": lambda tr: fit_baseline("lda-stats", tr, sensors)},
        n_folds=2,
        block_size=10,
        log=lambda s: None,
    )
    res = report["methods"]["lda-stats"]
    assert set(res) == {"C1", "V10", "MP1", "ACC"}
    assert report["n_windows_evaluated"] == 61
    assert all(0 <= v["accuracy"] <= 1 and len(v["per_fold_accuracy"]) == 2 for v in res.values())


@pytest.mark.slow
def test_cli_train_export_evaluate(
    small_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    rc = main(
        [
            "train",
            "--uci",
            str(small_dir),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--heads",
            "1",
            "--batch-size",
            "32",
            "--seed",
            "3",
            "--normalisation",
            "global+phase",
        ]
    )
    assert rc == 0
    for name in ("model.onnx", "model.pt", "card.json", "card.md"):
        assert (out / name).is_file(), name
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["windows"] == 61
    assert card["profile"]["id"] == "zema-test-rig"
    assert card["normalisation"]["PS1"]["std"] > 0
    # phase tables (one per cycle step) travel in the card and the ONNX metadata
    assert card["normalisation_mode"] == "global+phase"
    assert len(card["normalisation"]["PS1"]["phase_mean"]) == 60
    assert card["onnx_parity_max_abs_diff"] <= 1e-4
    assert "Model card" in (out / "card.md").read_text()

    assert main(["export-onnx", str(out / "model.pt"), "--out", str(tmp_path / "again.onnx")]) == 0
    assert "parity" in capsys.readouterr().out

    report_path = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "uci",
                str(small_dir),
                "--model",
                str(out / "model.onnx"),
                "--json",
                str(report_path),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "provider requested: cuda; used: CPUExecutionProvider" in printed
    report = json.loads(report_path.read_text())
    assert report["n_windows"] == 61
    assert set(report["components"]) == {"C1", "V10", "MP1", "ACC"}
    assert sum(map(sum, report["components"]["ACC"]["confusion"])) == 61
    # every wrong cycle is listed: [cycle number, true grade, predicted grade]
    acc = report["components"]["ACC"]
    assert len(acc["errors"]) == 61 - np.trace(np.array(acc["confusion"]))
    assert all(true != pred for _, true, pred in acc["errors"])


@pytest.mark.slow
def test_train_from_workspace(small_dir: Path, tmp_path: Path) -> None:
    from ingestion.uci_import import ingest_uci
    from ingestion.workspace import open_workspace

    ws = tmp_path / "ws.duckdb"
    store = open_workspace(ws)
    try:
        ingest_uci(store, small_dir, equipment_id="rig")
    finally:
        store.close()
    data, profile = from_workspace(ws, "rig")
    direct = from_uci_folder(small_dir)
    assert profile.id == "zema-test-rig"
    assert data.n_windows == direct.n_windows and data.length == 60
    np.testing.assert_array_equal(data.grades["ACC"], direct.grades["ACC"])
    np.testing.assert_allclose(data.values["PS1"], direct.values["PS1"], rtol=1e-5)
    assert data.fault_types["ACC"] == "accumulator_precharge_loss"
    with pytest.raises(Exception, match="no equipment"):
        from_workspace(ws, "nope")
    out = tmp_path / "m"
    args = ["--workspace", str(ws), "train", "--equipment", "rig", "--out", str(out)]
    assert main([*args, "--epochs", "1", "--hidden", "4", "--heads", "1"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["data"]["sources"][0]["kind"] == "workspace"
    assert card["data"]["windows"] == direct.n_windows


def test_target_notes_say_misses_and_losses() -> None:
    from training.card import target_notes

    def res(acc: float) -> dict[str, float]:
        return {"accuracy": acc}

    report = {
        "methods": {
            "gnn": {"C1": res(0.999), "ACC": res(0.90)},
            "lda-raw": {"C1": res(0.99), "ACC": res(0.92)},
        }
    }
    c1, acc = target_notes(report)
    assert "meets the 99.5 % target" in c1 and "beats lda-raw" in c1
    assert "MISSES the 97.0 % target by 7.00 pp" in acc and "LOSES to lda-raw" in acc


def test_device_option(small_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    windows = from_uci_folder(small_dir)
    result = train_model(spec, windows, TINY.model_copy(update={"epochs": 1}), device="cpu")
    assert result.hardware["device"] == "cpu"
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the refusal below is for CPU-only machines")
    args = ["train", "--uci", str(small_dir), "--out", str(tmp_path / "m"), "--epochs", "1"]
    assert main([*args, "--device", "cuda"]) == 1
    assert "--device cuda: torch sees no CUDA GPU here" in capsys.readouterr().err
    assert not (tmp_path / "m" / "model.onnx").exists()
