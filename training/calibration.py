"""Confidence that holds on new runs: grade probabilities calibrated on held-out predictions,
their reliability, and grade ranges where adjacent grades cannot be told apart.

The cross-validation (``hydrodiag evaluate cv``, leave-one-run-out by default) keeps every
validation window's grade log-probabilities (``log_probs`` of its report). From them:

- :func:`fit_temperature`: one temperature per component; the shipped model divides its final
  grade logits by it (``TemporalGNN.set_grade_temperature``). A temperature keeps every
  window's most likely grade — accuracy does not move — and makes the probability of the
  shown grade match how often it is right on runs the model did not see.
- :func:`cross_fitted`: the honest check of that: each fold's windows are calibrated with the
  temperature fitted on the *other* folds' windows, so no window's own label enters the
  temperature it is scored with; :func:`reliability` gives the table of the reliability
  diagram and the expected calibration error (ECE) of those probabilities.
- :func:`grade_range`: the smallest run of adjacent grades around the most likely one whose
  calibrated probability reaches :data:`gnn.contract.GRADE_RANGE_LEVEL`; "grade 0–1" where
  the model cannot separate 0 from 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gnn.contract import GRADE_RANGE_LEVEL, grade_range

N_BINS = 10
# The grid the temperature is chosen from. At least 0.5: a component never wrong on the
# held-out windows would otherwise be sharpened without limit (the log-loss keeps falling as
# the temperature goes to 0), claiming a certainty no validation can show.
TEMPERATURES = np.logspace(np.log10(0.5), 3, 331)
POOLED_WINDOWS = (10, 30)  # diagnoses over this many consecutive windows, for the card


@dataclass(frozen=True)
class HeldOut:
    """One component's held-out predictions from a cross-validation report."""

    window_ids: np.ndarray  # int64 [n]
    folds: np.ndarray  # int64 [n], 1-based
    truth: np.ndarray  # int64 [n]
    log_probs: np.ndarray  # float64 [n, G]

    @classmethod
    def of(cls, rows: Sequence[Sequence[float]]) -> HeldOut:
        """From the ``log_probs`` rows ``[window id, fold, true grade, log p0 …]``."""
        a = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        return cls(
            a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].astype(np.int64), a[:, 3:]
        )


def held_out(report: Mapping[str, Any], method: str = "gnn") -> dict[str, HeldOut]:
    """Per component, the held-out predictions of ``method`` in a cross-validation report
    (empty when the report has none: older reports, or a method that gives grades only)."""
    comps = report.get("methods", {}).get(method, {})
    return {c: HeldOut.of(v["log_probs"]) for c, v in comps.items() if v.get("log_probs")}


def calibrated(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``softmax(log_probs / temperature)`` (log-probabilities are logits up to
    a constant per row, so this is temperature scaling of the logits)."""
    z = np.asarray(log_probs, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return np.asarray(p / p.sum(axis=1, keepdims=True))


def _nll(log_probs: np.ndarray, truth: np.ndarray, temperature: float) -> float:
    z = np.asarray(log_probs, dtype=np.float64) / temperature
    top = z.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(truth)), truth]))


def fit_temperature(log_probs: np.ndarray, truth: np.ndarray) -> float:
    """The temperature (from :data:`TEMPERATURES`) minimising the log-loss of ``truth``
    (Guo et al. 2017); 1.0 for no windows."""
    if not len(truth):
        return 1.0
    losses = [_nll(log_probs, truth, t) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def cross_fitted(data: HeldOut) -> np.ndarray:
    """Calibrated probabilities of every window, each fold's with the temperature fitted on
    the other folds' windows."""
    out = np.zeros_like(data.log_probs)
    for fold in np.unique(data.folds):
        mine = data.folds == fold
        others = ~mine
        t = fit_temperature(data.log_probs[others], data.truth[others]) if others.any() else 1.0
        out[mine] = calibrated(data.log_probs[mine], t)
    return out


def reliability(probs: np.ndarray, truth: np.ndarray, n_bins: int = N_BINS) -> dict[str, Any]:
    """The reliability diagram's table of the shown grade (the most likely one): per bin of
    its probability, the windows, their mean probability and how often the grade was right;
    and the expected calibration error, the window-weighted mean gap between the two."""
    confidence = probs.max(axis=1)
    right = probs.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        inside = which == b
        n = int(inside.sum())
        conf = float(confidence[inside].mean()) if n else float("nan")
        acc = float(right[inside].mean()) if n else float("nan")
        if n:
            ece += n / len(truth) * abs(acc - conf)
        bins.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": n,
                "confidence": conf,
                "accuracy": acc,
            }
        )
    return {"bins": bins, "ece": float(ece), "n": len(truth), "accuracy": float(right.mean())}


def range_coverage(probs: np.ndarray, truth: np.ndarray, level: float) -> dict[str, float]:
    """How often the grade range at ``level`` holds the true grade, and how often it spans
    more than one grade."""
    ranges = [grade_range(p, level) for p in probs]
    inside = [lo <= t <= hi for (lo, hi), t in zip(ranges, truth, strict=True)]
    wide = [hi > lo for lo, hi in ranges]
    return {"coverage": float(np.mean(inside)), "wider_than_one": float(np.mean(wide))}


def pooled_accuracy(data: HeldOut, probs: np.ndarray, windows: int) -> float:
    """Accuracy of a diagnosis over ``windows`` consecutive windows (window ids one apart, of
    one fold, one true grade): the most likely grade of their mean probability, as a
    component's result of a multi-window diagnosis is formed (``gnn.assessment``), scored at
    every window that ends such a stretch. Pooling is for a condition that did not change
    within the stretch (an accumulator's precharge does not change from one cycle to the
    next); stretches across a change of the true grade are not scored."""
    order = np.lexsort((data.window_ids, data.folds))
    ids, folds, truth, p = (
        data.window_ids[order],
        data.folds[order],
        data.truth[order],
        probs[order],
    )
    right, scored, start = 0, 0, 0
    for i in range(len(ids)):
        if i > 0 and (
            folds[i] != folds[i - 1] or ids[i] != ids[i - 1] + 1 or truth[i] != truth[i - 1]
        ):
            start = i
        if i - start + 1 >= windows:
            mean = p[i - windows + 1 : i + 1].mean(axis=0)
            right += int(np.argmax(mean) == truth[i])
            scored += 1
    return right / scored if scored else float("nan")


def calibration_section(
    report: Mapping[str, Any], method: str = "gnn", level: float = GRADE_RANGE_LEVEL
) -> dict[str, Any]:
    """What the model card says about its confidence: per component the temperature fitted on
    all held-out windows (what the shipped model uses), the ECE of the uncalibrated and of the
    cross-fitted calibrated probabilities with their reliability tables, and the grade
    ranges' coverage on the held-out windows."""
    out: dict[str, Any] = {
        "scheme": report.get("scheme", ""),
        "method": method,
        "range_level": level,
        "components": {},
    }
    for c, data in held_out(report, method).items():
        raw = calibrated(data.log_probs, 1.0)
        fitted = cross_fitted(data)
        out["components"][c] = {
            "temperature": fit_temperature(data.log_probs, data.truth),
            "windows": len(data.truth),
            "uncalibrated": reliability(raw, data.truth),
            "calibrated": reliability(fitted, data.truth),
            "grade_ranges": range_coverage(fitted, data.truth, level),
            "pooled_accuracy": {str(n): pooled_accuracy(data, fitted, n) for n in POOLED_WINDOWS},
        }
    return out


def temperatures(section: Mapping[str, Any]) -> dict[str, float]:
    """Component -> temperature of a :func:`calibration_section`."""
    return {c: float(v["temperature"]) for c, v in section.get("components", {}).items()}
