"""Altered copies of validation windows, graded besides the clean ones in cross-validation: a
calibration offset on one sensor, and samples or whole sensors missing.

``evaluate cv --conditions offset,missing`` grades every fold's validation windows clean and
under each of these, with the model and the baselines fitted once per fold
(``training.evaluate.cross_validate``'s ``conditions``); ``tests/benchmarks/bench_sensor_offset.py``
and ``bench_missing_data.py`` print the same tables.

- ``offset``: ``± offset × std`` added to every value of one sensor, for each sensor (the std
  of that sensor over the fold's training windows): 1 % is 0.47 bar on PS2 of the reference
  rig, inside a field transducer's calibration tolerance.
- ``missing``: samples missing at random (0.1 %, 1 %), 3 s and 10 s outages in 10 % of each
  sensor's windows, and each sensor missing entirely. A method may leave a window ungraded
  when a sensor it needs is missing (the model does, as the engine does); the others are then
  also scored on the windows it graded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from training.datasets import LabelledWindows

CONDITION_KINDS = ("offset", "missing")
OFFSETS = (0.01,)
OUTAGE_SHARE = 0.1  # share of each sensor's windows with one outage


def with_values(windows: LabelledWindows, values: dict[str, np.ndarray]) -> LabelledWindows:
    """``windows`` with other sensor values (same grades, ids and sources)."""
    return LabelledWindows(
        values=values,
        grades=windows.grades,
        fault_types=windows.fault_types,
        window_ids=windows.window_ids,
        sources=windows.sources,
        stable=windows.stable,
        rate_hz=windows.rate_hz,
        stride_s=windows.stride_s,
    )


def offset_copies(
    train: LabelledWindows, val: LabelledWindows, offsets: Iterable[float] = OFFSETS
) -> dict[str, LabelledWindows]:
    """``"PS1 +1%"`` -> ``val`` with PS1 shifted by 1 % of its std over ``train``, and so on
    for every sensor, offset and sign."""
    out = {}
    for sensor, values in val.values.items():
        spread = float(np.nanstd(train.values[sensor])) if sensor in train.values else 0.0
        for offset in offsets:
            for sign in (1, -1):
                shifted = dict(val.values)
                shifted[sensor] = values + sign * offset * spread
                out[f"{sensor} {'+' if sign > 0 else '-'}{100 * offset:g}%"] = with_values(
                    val, shifted
                )
    return out


def missing_copies(val: LabelledWindows) -> dict[str, LabelledWindows]:
    """``val`` with samples missing (the scenarios of ``bench_missing_data.py``): at random,
    in outages, and each sensor entirely. Seeded, so every run removes the same samples."""

    def dropout(p: float, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {s: np.where(rng.random(a.shape) < p, np.nan, a) for s, a in val.values.items()}

    def outage(seconds: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        out = {}
        for s, a in val.values.items():
            a = np.array(a, dtype=np.float64)
            length = round(seconds * val.rate_hz)
            for row in np.flatnonzero(rng.random(len(a)) < OUTAGE_SHARE):
                start = int(rng.integers(0, max(a.shape[1] - length, 1)))
                a[row, start : start + length] = np.nan
            out[s] = a
        return out

    copies = {
        "0.1 % of samples missing": dropout(0.001, 1),
        "1 % of samples missing": dropout(0.01, 2),
        "3 s outages": outage(3, 3),
        "10 s outages": outage(10, 4),
    }
    for sensor in val.values:
        copies[f"no {sensor}"] = {
            s: (np.full_like(a, np.nan, dtype=np.float64) if s == sensor else a)
            for s, a in val.values.items()
        }
    return {label: with_values(val, values) for label, values in copies.items()}


def conditions_of(
    kinds: Iterable[str],
) -> Callable[[LabelledWindows, LabelledWindows], Mapping[str, LabelledWindows]]:
    """The ``conditions`` argument of ``cross_validate`` for ``kinds`` (of
    :data:`CONDITION_KINDS`)."""
    chosen = tuple(kinds)
    unknown = [k for k in chosen if k not in CONDITION_KINDS]
    if unknown:
        raise ValueError(f"unknown conditions {unknown}; choose from {list(CONDITION_KINDS)}")

    def make(train: LabelledWindows, val: LabelledWindows) -> dict[str, LabelledWindows]:
        out: dict[str, LabelledWindows] = {}
        if "offset" in chosen:
            out.update(offset_copies(train, val))
        if "missing" in chosen:
            out.update(missing_copies(val))
        return out

    return make


def _accuracy(cm: Any) -> float:
    a = np.asarray(cm)
    total = int(a.sum())
    return float(np.trace(a) / total) if total else float("nan")


def summarise(report: Mapping[str, Any]) -> dict[str, Any]:
    """Per method and component: the clean accuracy, the worst sensor offset (lowest accuracy
    over the offset copies) with its mean, and per missing-data case the accuracy over the
    windows graded, the share graded and — for the methods that grade every window — the
    accuracy on the windows the reference method graded."""
    conditions = report.get("conditions") or {}
    reference = report.get("reference_method")
    out: dict[str, Any] = {}
    for method, comps in report["methods"].items():
        out[method] = {}
        for c, clean in comps.items():
            row: dict[str, Any] = {"clean": clean["accuracy"]}
            offsets = {
                label: _accuracy(by[method][c]["confusion"])
                for label, by in conditions.items()
                if label.endswith("%") and c in by.get(method, {})
            }
            if offsets:
                worst = min(offsets, key=lambda label: offsets[label])
                row["offset_worst"] = {"copy": worst, "accuracy": offsets[worst]}
                row["offset_mean"] = float(np.mean(list(offsets.values())))
            missing = {}
            for label, by in conditions.items():
                if label.endswith("%") or c not in by.get(method, {}):
                    continue
                cell = by[method][c]
                graded = int(np.asarray(cell["confusion"]).sum())
                missing[label] = {
                    "accuracy": _accuracy(cell["confusion"]),
                    "graded": graded / cell["windows"] if cell["windows"] else float("nan"),
                    "accuracy_on_reference": _accuracy(cell["confusion_on_reference"]),
                }
            if missing:
                row["missing"] = missing
                # the worst case, scored on the windows the reference method graded
                # (a case in which the reference graded nothing is not a comparison)
                key = "accuracy" if method == reference else "accuracy_on_reference"
                scored = {k: v for k, v in missing.items() if np.isfinite(v[key])}
                if scored:
                    worst_case = min(scored, key=lambda label: scored[label][key])
                    row["missing_worst"] = {
                        "case": worst_case,
                        "accuracy": scored[worst_case][key],
                        "graded": scored[worst_case]["graded"],
                    }
            out[method][c] = row
    return out


def table(report: Mapping[str, Any]) -> str:
    """Clean, worst offset and worst missing-data accuracy (%) per component and method."""
    summary = summarise(report)
    lines = [
        f"{'component':<10}{'method':<12}{'clean':>8}{'offset (worst)':>24}"
        f"{'missing data (worst)':>34}"
    ]
    for c in next(iter(summary.values())):
        for method, comps in summary.items():
            row = comps[c]
            off = row.get("offset_worst")
            miss = row.get("missing_worst")
            off_text = f"{100 * off['accuracy']:.2f} ({off['copy']})" if off else "—"
            miss_text = (
                f"{100 * miss['accuracy']:.2f} ({miss['case']}, {100 * miss['graded']:.0f} % "
                "graded)"
                if miss
                else "—"
            )
            lines.append(
                f"{c:<10}{method:<12}{100 * row['clean']:>8.2f}{off_text:>24}{miss_text:>34}"
            )
    return "\n".join(lines)
