"""Calibration on held-out predictions: temperature, reliability and ECE, grade ranges, the
model's calibration buffer through ONNX, and the reliability diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gnn.contract import grade_label, grade_range
from training.calibration import (
    HeldOut,
    calibrated,
    calibration_section,
    cross_fitted,
    fit_temperature,
    pooled_accuracy,
    reliability,
)


def _sampled(n: int, temperature: float, seed: int = 0) -> HeldOut:
    """Windows whose true grade is drawn from softmax(logits): log-probabilities scaled by
    ``temperature`` are then over-confident by exactly that factor."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal((n, 4))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(4, p=row) for row in p])
    shown = np.log(p) * temperature  # what an over-confident model reports
    return HeldOut(np.arange(n), 1 + np.arange(n) % 4, truth, shown)


def test_the_fitted_temperature_undoes_over_confidence() -> None:
    data = _sampled(4000, temperature=3.0)
    t = fit_temperature(data.log_probs, data.truth)
    assert t == pytest.approx(3.0, rel=0.1)
    raw = reliability(calibrated(data.log_probs, 1.0), data.truth)
    fixed = reliability(calibrated(data.log_probs, t), data.truth)
    assert raw["ece"] > 0.1 and fixed["ece"] < 0.03
    assert raw["accuracy"] == fixed["accuracy"]  # a temperature keeps every argmax
    # cross-fitted: each fold calibrated by the others, nearly as good on this much data
    assert reliability(cross_fitted(data), data.truth)["ece"] < 0.04
    assert sum(b["n"] for b in fixed["bins"]) == 4000


def test_a_component_never_wrong_is_not_sharpened_without_limit() -> None:
    truth = np.array([0, 1, 2, 3] * 10)
    log_probs = np.log(np.full((40, 4), 0.02))
    log_probs[np.arange(40), truth] = np.log(0.94)
    assert fit_temperature(log_probs, truth) == pytest.approx(0.5)


def test_grade_ranges_grow_towards_the_likelier_neighbour() -> None:
    assert grade_range([0.95, 0.05, 0.0, 0.0]) == (0, 0)
    assert grade_range([0.6, 0.35, 0.05, 0.0]) == (0, 1)
    assert grade_range([0.05, 0.5, 0.42, 0.03]) == (1, 2)
    assert grade_range([0.1, 0.5, 0.35, 0.05]) == (0, 2)  # 0.85 is not enough
    assert grade_range([0.3, 0.4, 0.3, 0.0], level=0.95) == (0, 2)
    assert grade_label(0, 1) == "0–1" and grade_label(2, 2) == "2"


def test_pooling_consecutive_windows_scores_each_stretch_once() -> None:
    # fold 1: ids 1-5 grade 0, a single wrong window at id 3; fold 2: ids 7-8 (too short)
    ids = np.array([1, 2, 3, 4, 5, 7, 8])
    folds = np.array([1, 1, 1, 1, 1, 2, 2])
    truth = np.zeros(7, dtype=np.int64)
    probs = np.tile([0.8, 0.2, 0.0, 0.0], (7, 1))
    probs[2] = [0.1, 0.9, 0.0, 0.0]
    data = HeldOut(ids, folds, truth, np.log(np.maximum(probs, 1e-9)))
    assert pooled_accuracy(data, probs, 1) == pytest.approx(6 / 7)
    assert pooled_accuracy(data, probs, 3) == 1.0  # windows 1-3, 2-4, 3-5: mean says 0
    assert np.isnan(pooled_accuracy(data, probs, 6))


def test_calibration_section_and_reliability_png(tmp_path: Path) -> None:
    from training.reliability_plot import write_reliability_png

    data = _sampled(800, temperature=2.0, seed=1)
    rows = [
        [int(i), int(f), int(t), *lp]
        for i, f, t, lp in zip(data.window_ids, data.folds, data.truth, data.log_probs, strict=True)
    ]
    report = {"scheme": "leave-one-run-out: test", "methods": {"gnn": {"X": {"log_probs": rows}}}}
    section = calibration_section(report)
    x = section["components"]["X"]
    assert x["temperature"] == pytest.approx(2.0, rel=0.2)
    assert x["calibrated"]["ece"] < x["uncalibrated"]["ece"]
    assert 0.85 <= x["grade_ranges"]["coverage"] <= 0.97  # level 0.9, calibrated
    png = write_reliability_png(section, tmp_path / "reliability.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_model_divides_its_grade_logits_by_the_temperature() -> None:
    from gnn.model import TemporalGNN

    torch.manual_seed(0)
    kwargs = {"num_nodes": 3, "discriminant_frequencies": 2, "hidden_channels": 4, "heads": 1}
    plain = TemporalGNN(2, 1, **kwargs).eval()  # type: ignore[arg-type]
    cal = TemporalGNN(2, 1, grade_calibration=True, **kwargs).eval()  # type: ignore[arg-type]
    cal.load_state_dict(plain.state_dict(), strict=False)
    x, mask = torch.randn(5, 3, 7, 2), torch.ones(5, 3, 7, 2)
    graph = (
        torch.tensor([0, 1, 2]),
        torch.tensor([[0, 1, 2, 0, 1], [0, 1, 2, 1, 2]]),
        torch.zeros(5, dtype=torch.int64),
    )
    before = plain(x, mask, *graph).grade_logits
    torch.testing.assert_close(cal(x, mask, *graph).grade_logits, before)  # temperatures 1
    cal.set_grade_temperature(torch.tensor([1.0, 2.0, 4.0]))
    after = cal(x, mask, *graph).grade_logits
    torch.testing.assert_close(after, before / torch.tensor([1.0, 2.0, 4.0]).view(1, 3, 1))
    assert cal.hparams()["grade_calibration"] is True and "grade_calibration" not in plain.hparams()
    with pytest.raises(ValueError, match="positive"):
        cal.set_grade_temperature(torch.tensor([1.0, 0.0, 1.0]))
