"""Training on a continuous log: sliding windows cut from a workspace, labels by time range."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from ingestion.errors import HydroDiagError
from training import datasets
from training.datasets import from_workspace

EQUIPMENT = "press-7"
# (component, start, end, grade, fault type) on 2026-03-03, UTC; the log runs 08:00-09:00
LABELS = [
    ("ACC", "08:00", "08:30", 0, None),
    ("ACC", "08:30", "08:50", 2, "accumulator_precharge_loss"),
    ("C1", "08:00", "08:50", 0, None),
    ("V10", "08:00", "08:20", 0, None),  # checked only for the first 20 minutes
]


def _label(workspace: Path, rows: list[tuple[str, str, str, int, str | None]]) -> None:
    """The labels as a field engineer records them: a CSV through `hydrodiag ingest labels`."""
    sheet = workspace.with_name("labels.csv")
    lines = ["component,start,end,grade,fault_type"]
    lines += [f"{c},2026-03-03 {a},2026-03-03 {b},{g},{f or ''}" for c, a, b, g, f in rows]
    sheet.write_text("\n".join(lines) + "\n")
    ingest = ["--workspace", str(workspace), "ingest", "labels", str(sheet)]
    assert main([*ingest, "--equipment", EQUIPMENT]) == 0


def _simulate(workspace: Path, start: str, duration: str) -> None:
    """Part of the simulated rig's accumulator decline at 1 Hz, imported as a CSV log."""
    log = workspace.with_name(f"log-{start[11:13]}{start[14:16]}.csv")
    simulate = ["simulate", "--scenario", "accumulator-decline", "--rate", "1", "--seed", "2"]
    assert main([*simulate, "--start", start, "--duration", duration, "--out", str(log)]) == 0
    ingest = ["--workspace", str(workspace), "ingest", "csv", str(log), "--equipment", EQUIPMENT]
    assert main([*ingest, "--profile", "zema-test-rig"]) == 0


@pytest.fixture(scope="module")
def continuous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An hour of the simulated rig, 08:00-09:00 (no load cycles: a continuous log)."""
    workspace = tmp_path_factory.mktemp("continuous") / "ws.duckdb"
    _simulate(workspace, "2026-03-03T08:00:00Z", "1h")
    return workspace


@pytest.fixture
def labelled(continuous: Path, tmp_path: Path) -> Path:
    workspace = tmp_path / "ws.duckdb"
    workspace.write_bytes(continuous.read_bytes())
    _label(workspace, LABELS)
    return workspace


def test_sliding_windows_over_the_labelled_part_of_a_continuous_log(labelled: Path) -> None:
    data, profile = from_workspace(labelled, EQUIPMENT, window_s=60, stride_s=30)
    # labels span 08:00-08:50: windows of 60 s every 30 s inside it
    assert data.n_windows == (50 * 60 - 60) // 30 + 1
    assert data.rate_hz == 1.0 and data.stride_s == 30
    assert set(data.values) == set(profile.sensor_ids)
    assert data.values["PS1"].shape == (data.n_windows, 60)
    assert np.isfinite(data.values["PS1"]).all()
    # a window takes the label holding its midpoint: 08:30 falls in window 59 (08:29:30-08:30:30)
    acc = data.grades["ACC"]
    assert (acc[:59] == 0).all() and (acc[59:] == 2).all()
    assert (data.grades["C1"] == 0).all()
    assert data.fault_types == {"ACC": "accumulator_precharge_loss"}
    assert "sliding windows of 60 s every 30 s" in data.sources[0].detail


def test_resampling_and_default_stride(labelled: Path) -> None:
    data, _ = from_workspace(labelled, EQUIPMENT, window_s=30, rate_hz=2)
    assert data.values["PS1"].shape == (50 * 60 // 30, 60)  # back to back, 2 samples a second
    assert data.stride_s == 30 and data.rate_hz == 2


def test_windows_without_data_or_labels_are_left_out(tmp_path: Path) -> None:
    # two logs with a hole from 08:10 to 08:20; the labels reach 08:50, the log 09:00
    workspace = tmp_path / "ws.duckdb"
    _simulate(workspace, "2026-03-03T08:00:00Z", "10m")
    _simulate(workspace, "2026-03-03T08:20:00Z", "40m")
    _label(workspace, LABELS)
    data, _ = from_workspace(workspace, EQUIPMENT, window_s=60)
    # 50 back-to-back windows under the labels, 10 of them in the hole
    assert data.n_windows == 40
    assert "10 without a label or with too little data left out" in data.sources[0].detail
    # the ids keep the windows' positions in time: the hole shows as a jump
    assert list(data.window_ids[8:12]) == [8, 9, 20, 21]


def test_bad_window_options_and_missing_labels_are_refused(
    continuous: Path, labelled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(HydroDiagError, match=r"no condition labels.*ingest labels"):
        from_workspace(continuous, EQUIPMENT)
    with pytest.raises(HydroDiagError, match="stride needs a window length"):
        from_workspace(labelled, EQUIPMENT, stride_s=30)
    with pytest.raises(HydroDiagError, match=r"--stride 7: at 0.5 Hz that is 3.5 samples"):
        from_workspace(labelled, EQUIPMENT, window_s=30, stride_s=7, rate_hz=0.5)
    with pytest.raises(HydroDiagError, match=r"--window 0.1: .* 0.1 samples"):
        from_workspace(labelled, EQUIPMENT, window_s=0.1)
    monkeypatch.setattr(datasets, "MAX_TRAINING_VALUES", 1000)
    with pytest.raises(HydroDiagError, match="use a longer --stride or a lower --rate"):
        from_workspace(labelled, EQUIPMENT, window_s=60, stride_s=1)


def test_train_on_sliding_windows_and_diagnose_with_the_models_window(
    labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The card records the windows; the engine cuts the log the same way for this model."""
    out = tmp_path / "model"
    ws = ["--workspace", str(labelled)]
    tiny = ["--epochs", "1", "--hidden", "4", "--heads", "1", "--seed", "1"]
    windows = ["--window", "30", "--stride", "15", "--rate", "2"]
    assert main([*ws, "train", "--equipment", EQUIPMENT, "--out", str(out), *tiny, *windows]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["window"] == {"kind": "sliding", "rate_hz": 2.0, "length_s": 30.0, "stride_s": 15}
    assert card["data"]["window_length"] == 60
    card_md = (out / "card.md").read_text()
    assert "30 s at 2 Hz, sliding, every 15 s" in card_md
    # nothing held out and no cross-validation: the card says so instead of showing nothing
    assert "## Held-out evaluation\n\nNone: the model was trained on all its windows" in card_md
    capsys.readouterr()

    diagnose = [*ws, "diagnose", "--equipment", EQUIPMENT, "--model", str(out / "model.onnx")]
    span = ["--from", "2026-03-03T08:00:00", "--to", "2026-03-03T08:10:00"]
    assert main([*diagnose, *span, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rate_hz"] == 2.0
    assert result["n_windows"] == 20  # ten minutes of the model's 30 s windows
    first = result["windows"][0]
    assert np.datetime64(first["end"]) - np.datetime64(first["start"]) == np.timedelta64(30, "s")


def test_uci_folders_refuse_window_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--uci", str(tmp_path), "--out", str(tmp_path / "m"), "--window", "30"]
    assert main([*args, "--rate", "2"]) == 1
    assert "--window, --rate: a UCI folder is one window per 60 s cycle" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_blocked_cv_on_a_workspaces_windows(
    labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "cv.json"
    args = ["--workspace", str(labelled), "evaluate", "cv", "--equipment", EQUIPMENT]
    args += ["--scheme", "blocked", "--window", "30", "--block-size", "20"]
    args += ["--epochs", "1", "--hidden", "4"]
    assert main([*args, "--heads", "1", "--json", str(report_path)]) == 0
    printed = capsys.readouterr().out
    assert f"100 windows from equipment {EQUIPMENT}" in printed
    report = json.loads(report_path.read_text())
    assert "contiguous blocks of 20 windows" in report["scheme"]
    assert report["n_windows_evaluated"] == 100
    # every method scored on the same windows: the accumulator's 0 and 2 appear in the matrices
    for method in ("gnn", "lda-stats", "lda-raw"):
        confusion = np.array(report["methods"][method]["ACC"]["confusion"])
        assert confusion.sum() == 100 and confusion[0].sum() == 60 and confusion[2].sum() == 40
        # the valve is scored on its 40 labelled windows only, fold by fold too
        assert np.array(report["methods"][method]["V10"]["confusion"]).sum() == 40
        per_fold = report["methods"][method]["V10"]["per_fold_accuracy"]
        assert per_fold[:2] == [1.0, 1.0] and all(np.isnan(per_fold[2:]))  # blocks 0, 1 only


def test_cv_needs_one_source_of_data(labelled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = ["--workspace", str(labelled), "evaluate", "cv"]
    assert main(ws) == 1
    assert "give --equipment ID" in capsys.readouterr().err
    assert main([*ws, "somewhere", "--equipment", EQUIPMENT]) == 1
    assert "not both" in capsys.readouterr().err


def test_train_with_cv_puts_the_blocked_cv_and_baselines_into_the_card(
    labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model"
    args = ["--workspace", str(labelled), "train", "--equipment", EQUIPMENT, "--out", str(out)]
    args += ["--window", "30", "--epochs", "1", "--hidden", "4", "--heads", "1"]
    assert main([*args, "--cv", "5", "--cv-block-size", "20"]) == 0
    assert (
        "cross-validation first: blocked 5-fold: contiguous blocks of 20 windows"
        in capsys.readouterr().out
    )
    card = json.loads((out / "card.json").read_text())
    cv = card["cross_validation"]
    assert set(cv["methods"]) == {"gnn", "lda-stats", "lda-raw"}
    assert cv["n_windows_evaluated"] == 100 and cv["folds_run"] == [1, 2, 3, 4, 5]
    assert set(card["metrics"]["blocked_cv"]) == {"ACC", "C1", "V10"}
    assert any(n.startswith("ACC: blocked-CV accuracy") for n in card["notes"])
    card_md = (out / "card.md").read_text()
    assert "## Blocked cross-validation" in card_md and "Held-out evaluation" not in card_md
    assert main([*args, "--cv", "5", "--cv-report", str(tmp_path / "x.json")]) == 1
    assert "not both" in capsys.readouterr().err
