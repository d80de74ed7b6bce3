"""Leave-one-run-out validation: runs of constant condition, folds that hold out whole runs,
held-out log-probabilities and graded altered copies in the report, and their merge."""

from __future__ import annotations

import numpy as np
import pytest

from ingestion.errors import HydroDiagError
from ingestion.uci import UCI_SENSORS
from training.datasets import (
    LabelledWindows,
    condition_runs,
    from_uci_folder,
    run_folds,
    runs_component,
)
from training.evaluate import cross_validate, merge_reports, runs_scheme
from training.pipeline import baseline_method
from training.robustness import conditions_of, missing_copies, offset_copies, summarise


def test_runs_are_maximal_stretches_of_one_grade() -> None:
    grades = np.array([0, 0, 1, 1, 1, 0, 2, 2, 0])
    assert condition_runs(grades).tolist() == [0, 0, 1, 1, 1, 2, 3, 3, 4]
    folds = run_folds(grades)
    assert [val.tolist() for _, val in folds] == [[0, 1], [2, 3, 4], [5], [6, 7], [8]]
    for train, val in folds:
        assert sorted([*train, *val]) == list(range(9))
    grouped = run_folds(grades, 2)  # run r in fold r mod 2
    assert [val.tolist() for _, val in grouped] == [[0, 1, 5, 8], [2, 3, 4, 6, 7]]
    with pytest.raises(HydroDiagError, match="at least 2"):
        run_folds(np.zeros(5, dtype=np.int64))


def test_the_rig_is_validated_on_the_accumulators_twelve_runs(uci_dir: object) -> None:
    from tests.conftest import UCI_DIR

    data = from_uci_folder(UCI_DIR)
    # the cooler has one run per grade (holding one out would leave its grade unseen), the
    # pump and valve change every 10-50 cycles: the accumulator's runs are the regimes
    assert runs_component(data) == "ACC"
    scheme = runs_scheme(data)
    sizes = [len(val) for _, val in scheme.folds]
    assert sizes == [333, 67, 99, 301, 65, 133, 133, 233, 133, 103, 63, 142]
    for _, val in scheme.folds:
        assert len(np.unique(data.grades["ACC"][val])) == 1  # one condition per held-out run
        assert np.all(np.diff(val) == 1)  # contiguous in the data
    # each held-out run's grade still occurs in the training runs (at the other coolers)
    for train, val in scheme.folds:
        assert data.grades["ACC"][val][0] in set(data.grades["ACC"][train].tolist())
    # the 90-bar run at cycles 1332-1664 continues across the withheld cycles 1401-1500
    long_run = data.window_ids[scheme.folds[7][1]]
    assert long_run[0] == 1332 and long_run[-1] == 1664 and len(long_run) == 233
    with pytest.raises(HydroDiagError, match="no such graded component"):
        runs_scheme(data, "PUMP")


def _windows(n: int, seed: int = 0) -> LabelledWindows:
    """Two sensors, one grade that follows the first sensor's level; runs of 10 windows."""
    rng = np.random.default_rng(seed)
    grade = (np.arange(n) // 10) % 3
    a = grade[:, None] + 0.1 * rng.standard_normal((n, 8))
    b = rng.standard_normal((n, 8))
    return LabelledWindows(
        values={"A": a, "B": b},
        grades={"X": grade.astype(np.int64)},
        fault_types={"X": "wear"},
        window_ids=np.arange(1, n + 1, dtype=np.int64),
    )


def test_report_keeps_held_out_log_probs_and_graded_copies_and_merges() -> None:
    data = _windows(60)
    methods = {"lda-stats": baseline_method("lda-stats", ["A", "B"])}
    scheme = runs_scheme(data, "X")
    assert len(scheme.folds) == 6
    quiet = {"log": lambda _: None}
    conditions = conditions_of(["offset", "missing"])
    full = cross_validate(data, methods, scheme=scheme, conditions=conditions, **quiet)  # type: ignore[arg-type]
    parts = [
        cross_validate(
            data, methods, scheme=scheme, folds=[0, 2, 4], conditions=conditions, **quiet
        ),  # type: ignore[arg-type]
        cross_validate(
            data, methods, scheme=scheme, folds=[5, 3, 1], conditions=conditions, **quiet
        ),  # type: ignore[arg-type]
    ]
    merged = merge_reports(parts)
    assert full["scheme_name"] == "runs" and full["n_folds"] == 6
    got, want = merged["methods"]["lda-stats"]["X"], full["methods"]["lda-stats"]["X"]
    assert got["confusion"] == want["confusion"] and got["log_probs"] == want["log_probs"]
    rows = np.asarray(want["log_probs"])
    assert rows.shape == (60, 7)  # window id, fold, truth, 4 log-probabilities
    assert sorted(rows[:, 0].tolist()) == list(range(1, 61))
    assert set(rows[:, 1].astype(int).tolist()) == {1, 2, 3, 4, 5, 6}
    # a grade never seen in training has no probability (floored at -50 in the rows)
    np.testing.assert_allclose(np.exp(rows[:, 3:]).sum(axis=1), 1.0, atol=1e-3)
    assert (np.argmax(rows[:, 3:], axis=1) == rows[:, 2]).mean() == pytest.approx(want["accuracy"])
    assert set(full["conditions"]) == set(merged["conditions"])
    assert {"A +1%", "B -1%", "no A", "3 s outages"} <= set(full["conditions"])
    for label, by in full["conditions"].items():
        assert (
            by["lda-stats"]["X"]["confusion"]
            == merged["conditions"][label]["lda-stats"]["X"]["confusion"]
        )
        assert by["lda-stats"]["X"]["windows"] == 60
    summary = summarise(full)["lda-stats"]["X"]
    assert summary["clean"] == want["accuracy"]
    # the grade is the level of sensor A: without A the discriminant is lost
    assert summary["missing_worst"]["case"] == "no A"
    assert summary["missing_worst"]["accuracy"] < summary["clean"]
    assert merged["wall_seconds"] <= merged["cpu_process_seconds"]


def test_offset_and_missing_copies() -> None:
    data = _windows(30)
    train, val = data.subset(np.arange(20)), data.subset(np.arange(20, 30))
    copies = offset_copies(train, val)
    assert set(copies) == {"A +1%", "A -1%", "B +1%", "B -1%"}
    shift = copies["A +1%"].values["A"] - val.values["A"]
    np.testing.assert_allclose(shift, 0.01 * np.std(train.values["A"]))
    np.testing.assert_array_equal(copies["A +1%"].values["B"], val.values["B"])
    missing = missing_copies(val)
    assert np.isnan(missing["no B"].values["B"]).all()
    assert not np.isnan(missing["no B"].values["A"]).any()
    share = np.mean([np.isnan(v).mean() for v in missing["1 % of samples missing"].values.values()])
    assert 0.0 < share < 0.05
    again = missing_copies(val)  # seeded: the same samples go missing every run
    np.testing.assert_array_equal(
        np.isnan(again["3 s outages"].values["A"]), np.isnan(missing["3 s outages"].values["A"])
    )
    with pytest.raises(ValueError, match="unknown conditions"):
        conditions_of(["heat"])


@pytest.mark.slow
def test_lda_raw_on_new_runs_of_the_rig(uci_dir: object) -> None:
    """The baseline's figure that the README quotes, on two of the twelve runs (quick)."""
    from tests.conftest import UCI_DIR

    data = from_uci_folder(UCI_DIR)
    methods = {"lda-raw": baseline_method("lda-raw", list(UCI_SENSORS))}
    report = cross_validate(
        data, methods, scheme=runs_scheme(data), folds=[1, 4], log=lambda _: None
    )
    acc = report["methods"]["lda-raw"]["ACC"]
    assert report["n_windows_evaluated"] == 67 + 65
    # the 115-bar run with a failing cooler, and the 130-bar run at 20 % cooler power: 0.716
    # and 0.815 with this baseline (measured 2026-12-08; the 0.323 written here on 2026-12-07
    # for the second was not what this code gives, run alone or in the suite)
    assert acc["per_fold_accuracy"] == pytest.approx([0.7164, 0.8154], abs=1e-3)
