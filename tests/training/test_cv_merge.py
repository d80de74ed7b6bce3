"""Cross-validation runs over disjoint folds merge into the report of one full run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from ingestion.uci import UCI_SENSORS
from training.datasets import from_uci_folder
from training.evaluate import cross_validate, merge_reports
from training.pipeline import baseline_method


def test_merged_folds_equal_one_full_run(uci_dir: Path) -> None:
    windows = from_uci_folder(uci_dir).subset(np.arange(700))  # 7 blocks: quick
    methods = {"lda-stats": baseline_method("lda-stats", list(UCI_SENSORS))}
    quiet = {"log": lambda _: None}
    full = cross_validate(windows, methods, **quiet)  # type: ignore[arg-type]
    parts = [
        cross_validate(windows, methods, folds=[3, 0], **quiet),  # type: ignore[arg-type]
        cross_validate(windows, methods, folds=[4, 1, 2], **quiet),  # type: ignore[arg-type]
    ]
    merged = merge_reports(parts)
    assert merged["folds_run"] == [1, 2, 3, 4, 5]
    assert merged["n_windows_evaluated"] == full["n_windows_evaluated"] == windows.n_windows
    for c, want in full["methods"]["lda-stats"].items():
        got = merged["methods"]["lda-stats"][c]
        assert got["confusion"] == want["confusion"]
        assert got["accuracy"] == pytest.approx(want["accuracy"])
        assert got["macro_f1"] == pytest.approx(want["macro_f1"])
        assert got["per_fold_accuracy"] == pytest.approx(want["per_fold_accuracy"])
        assert got["errors"] == want["errors"]
        # every wrong window is listed once, with the grades the confusion matrix counts
        wrong = sum(want["confusion"][t][p] for t in range(4) for p in range(4) if t != p)
        assert len(want["errors"]) == wrong
        assert all(t != p for _, t, p in want["errors"])
        assert [e[0] for e in want["errors"]] == sorted({e[0] for e in want["errors"]})
    acc_errors = full["methods"]["lda-stats"]["ACC"]["errors"]
    assert acc_errors and set(np.asarray(acc_errors)[:, 0]) <= set(windows.window_ids.tolist())
    with pytest.raises(ValueError, match="share folds"):
        merge_reports([parts[0], parts[0]])


def test_merge_command_refuses_what_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "a.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["evaluate", "merge", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "evaluate cv" in err
    other = tmp_path / "b.json"
    other.write_text(json.dumps({"folds_run": [1]}), encoding="utf-8")
    assert main(["evaluate", "merge", str(other)]) == 1
    assert "cannot merge" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "cv"])
def test_a_refused_config_option_is_named_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], uci_dir: Path, command: str
) -> None:
    out = tmp_path / "model"
    argv = (
        ["train", "--uci", str(uci_dir), "--out", str(out)]
        if command == "train"
        else ["evaluate", "cv", str(uci_dir), "--json", str(out / "cv.json")]
    )
    assert main([*argv, "--discriminant-offset", "-1", "--epochs", "0"]) == 1
    err = capsys.readouterr().err
    assert "--discriminant-offset -1.0" in err and "--epochs 0" in err
    assert "greater than or equal to" in err
    assert not out.exists()


def test_step_change_moments_are_on_unless_switched_off() -> None:
    import argparse

    from app.commands._common import add_config_options, train_config

    parser = argparse.ArgumentParser()
    add_config_options(parser)
    assert train_config(parser.parse_args([])).discriminant_variation is True
    off = train_config(parser.parse_args(["--no-discriminant-variation"]))
    assert off.discriminant_variation is False
    assert train_config(parser.parse_args(["--discriminant-variation"])).discriminant_variation
