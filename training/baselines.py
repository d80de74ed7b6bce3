"""Classical baselines the model is scored against on the same folds.

- ``lda-stats``: linear discriminant analysis on per-window statistics of every sensor
  (mean, standard deviation, minimum, maximum, least-squares slope over time).
- ``lda-raw``: linear discriminant analysis on the raw window values (T × sensors).

Both are fitted per graded component on exactly the training windows of a fold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from training.datasets import LabelledWindows

BASELINES: tuple[str, ...] = ("lda-stats", "lda-raw")
N_GRADES = 4


def _matrix(windows: LabelledWindows, sensors: Sequence[str]) -> np.ndarray:
    """[W, S, T] float64 with NaN replaced by the sensor's window mean (0 if all missing)."""
    stack = np.stack([np.asarray(windows.values[s], dtype=np.float64) for s in sensors], axis=1)
    finite = np.isfinite(stack)
    if not finite.all():
        count = finite.sum(axis=2, keepdims=True)
        total = np.where(finite, stack, 0.0).sum(axis=2, keepdims=True)
        means = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        stack = np.where(finite, stack, means)
    return stack


def stats_features(windows: LabelledWindows, sensors: Sequence[str]) -> np.ndarray:
    """[W, 5 * S]: mean, std, min, max and slope (per second) of each sensor."""
    m = _matrix(windows, sensors)
    t = np.arange(m.shape[2], dtype=np.float64)
    tc = t - t.mean()
    slope = (m * tc).sum(axis=2) / (tc * tc).sum()
    feats = [m.mean(axis=2), m.std(axis=2), m.min(axis=2), m.max(axis=2), slope]
    return np.concatenate(feats, axis=1)


def raw_features(windows: LabelledWindows, sensors: Sequence[str]) -> np.ndarray:
    """[W, T * S]: every value of every sensor."""
    m = _matrix(windows, sensors)
    return m.reshape(m.shape[0], -1)


FEATURES: dict[str, Callable[[LabelledWindows, Sequence[str]], np.ndarray]] = {
    "lda-stats": stats_features,
    "lda-raw": raw_features,
}


Grader = Callable[[LabelledWindows], dict[str, np.ndarray]]


def fit_baseline(method: str, train: LabelledWindows, sensors: Sequence[str]) -> Grader:
    """Fit ``method`` on ``train``; the returned function gives, per graded component, the
    log-probabilities ``[W, 4]`` of the grades for any windows (a grade never seen in training
    gets -inf; a component with one grade in training gets that grade with certainty)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.preprocessing import StandardScaler

    featurise = FEATURES[method]
    x_train = featurise(train, sensors)
    scaler = StandardScaler().fit(x_train)
    x_train = scaler.transform(x_train)
    fitted: dict[str, LinearDiscriminantAnalysis | int] = {}
    for component, grades in train.grades.items():
        known = grades >= 0
        classes = np.unique(grades[known])
        if classes.size < 2:  # one class seen: LDA cannot fit, the constant is the answer
            fitted[component] = int(classes[0]) if classes.size else -1
            continue
        fitted[component] = LinearDiscriminantAnalysis().fit(x_train[known], grades[known])

    def grade(windows: LabelledWindows) -> dict[str, np.ndarray]:
        x = scaler.transform(featurise(windows, sensors))
        out: dict[str, np.ndarray] = {}
        for component, model in fitted.items():
            log_probs = np.full((windows.n_windows, N_GRADES), -np.inf)
            if isinstance(model, int):
                if model >= 0:
                    log_probs[:, model] = 0.0
                else:
                    log_probs[:] = np.nan
            else:
                log_probs[:, model.classes_] = _log_posterior(model, x)
            out[component] = log_probs
        return out

    return grade


def fit_predict(
    method: str,
    train: LabelledWindows,
    test: LabelledWindows,
    sensors: Sequence[str],
) -> dict[str, np.ndarray]:
    """Predicted grade per graded component for every test window (-1 where unlabelled)."""
    log_probs = fit_baseline(method, train, sensors)(test)
    return {
        c: np.where(np.isfinite(p).any(axis=1), np.nan_to_num(p, nan=-np.inf).argmax(axis=1), -1)
        for c, p in log_probs.items()
    }


def _log_posterior(model: Any, x: np.ndarray) -> np.ndarray:
    """Log class posteriors of a fitted LDA, from its decision function (no underflow: its
    argmax is the class ``predict`` returns)."""
    scores = np.asarray(model.decision_function(x), dtype=np.float64)
    if scores.ndim == 1:  # two classes: the log-odds of the second
        scores = np.stack([np.zeros_like(scores), scores], axis=1)
    top = scores.max(axis=1, keepdims=True)
    return np.asarray(scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True)))
