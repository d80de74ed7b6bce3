"""Classical baselines the model is scored against on the same folds.

- ``lda-stats``: linear discriminant analysis on per-window statistics of every sensor
  (mean, standard deviation, minimum, maximum, least-squares slope over time).
- ``lda-raw``: linear discriminant analysis on the raw window values (T × sensors).

Both are fitted per graded component on exactly the training windows of a fold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from training.datasets import LabelledWindows

BASELINES: tuple[str, ...] = ("lda-stats", "lda-raw")


def _matrix(windows: LabelledWindows, sensors: Sequence[str]) -> np.ndarray:
    """[W, S, T] float64 with NaN replaced by the sensor's window mean (0 if all missing)."""
    stack = np.stack([np.asarray(windows.values[s], dtype=np.float64) for s in sensors], axis=1)
    if not np.isfinite(stack).all():
        means = np.nanmean(np.where(np.isfinite(stack), stack, np.nan), axis=2, keepdims=True)
        means = np.nan_to_num(means)
        stack = np.where(np.isfinite(stack), stack, means)
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


def fit_predict(
    method: str,
    train: LabelledWindows,
    test: LabelledWindows,
    sensors: Sequence[str],
) -> dict[str, np.ndarray]:
    """Predicted grade per graded component for every test window (-1 where unlabelled)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.preprocessing import StandardScaler

    featurise = FEATURES[method]
    x_train, x_test = featurise(train, sensors), featurise(test, sensors)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    predictions: dict[str, np.ndarray] = {}
    for component, grades in train.grades.items():
        known = grades >= 0
        classes = np.unique(grades[known])
        if classes.size < 2:  # one class seen: LDA cannot fit, the constant is the answer
            predictions[component] = np.full(test.n_windows, classes[0] if classes.size else -1)
            continue
        lda = LinearDiscriminantAnalysis().fit(x_train[known], grades[known])
        predictions[component] = lda.predict(x_test).astype(np.int64)
    return predictions
