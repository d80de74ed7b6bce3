"""How far each method's grades move when one sensor reads slightly off: blocked CV, clean and
with a calibration offset on one sensor at a time.

    .venv/bin/python tests/benchmarks/bench_sensor_offset.py [UCI_DIR] [--folds 1,2] [--offsets 0.01,0.02]

A field sensor is never calibrated as well as the test rig's. Per blocked fold (block *b* is
validated in fold *b* mod 5, as ``hydrodiag evaluate cv``), the shipped configuration
(``TrainConfig()``) and the two LDA baselines are fitted once on the training blocks; then the
validation blocks are graded clean and again with ``offset × std`` added to every value of one
sensor (std of that sensor over the fold's training windows), for every sensor and both signs.
Reported per component and method: clean accuracy, the mean over the perturbed copies, and the
worst sensor (the copy with the lowest accuracy). The clean column is the ``evaluate cv`` table.

The GNN is trained per fold (~2 minutes a fold on one core of this machine); ``--folds`` runs
a subset. Prints a table and writes tests/benchmarks/results/bench_sensor_offset.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from training.datasets import LabelledWindows

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

Grader = Callable[["LabelledWindows"], dict[str, np.ndarray]]
FOLDS = 5


def offset_copies(
    windows: LabelledWindows, spread: dict[str, float], offsets: list[float]
) -> dict[str, LabelledWindows]:
    """``"PS1 +1%"`` -> the windows with PS1 shifted by 1 % of its training std, and so on."""
    from training.datasets import LabelledWindows

    out = {}
    for sensor in windows.values:
        for offset in offsets:
            for sign in (1, -1):
                values = dict(windows.values)
                values[sensor] = windows.values[sensor] + sign * offset * spread[sensor]
                label = f"{sensor} {'+' if sign > 0 else '-'}{100 * offset:g}%"
                out[label] = LabelledWindows(
                    values=values,
                    grades=windows.grades,
                    fault_types=windows.fault_types,
                    window_ids=windows.window_ids,
                )
    return out


def gnn_grader(train: LabelledWindows) -> Grader:
    from gnn.graph import GraphSpec
    from ingestion.profiles import load_profile
    from training.config import TrainConfig
    from training.train import make_tensors, predict_grades, train_model

    result = train_model(
        GraphSpec.from_profile(load_profile("zema-test-rig")), train, TrainConfig()
    )
    print(f"    gnn trained: {result.seconds:.0f} s", flush=True)

    def grade(windows: LabelledWindows) -> dict[str, np.ndarray]:
        data = make_tensors(result.spec, windows, result.fault_types)
        pred = predict_grades(result.model, data, np.arange(windows.n_windows))
        return {c: pred[:, result.spec.node_ids.index(c)] for c in windows.grades}

    return grade


def lda_grader(method: str, train: LabelledWindows) -> Grader:
    """The baseline of ``training.baselines`` fitted once, to grade many copies."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.preprocessing import StandardScaler

    from training.baselines import FEATURES

    sensors = list(train.values)
    featurise = FEATURES[method]
    x = featurise(train, sensors)
    scaler = StandardScaler().fit(x)
    fitted = {
        c: LinearDiscriminantAnalysis().fit(scaler.transform(x)[g >= 0], g[g >= 0])
        for c, g in train.grades.items()
    }

    def grade(windows: LabelledWindows) -> dict[str, np.ndarray]:
        z = scaler.transform(featurise(windows, sensors))
        return {c: lda.predict(z).astype(np.int64) for c, lda in fitted.items()}

    return grade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "uci_dir", nargs="?", type=Path, default=REPO / "data/uci-hydraulic-1hz.tar.xz"
    )
    parser.add_argument("--folds", default="1,2,3,4,5", help="which of the 5 folds to run")
    parser.add_argument("--offsets", default="0.01,0.02", help="shares of each sensor's std")
    parser.add_argument(
        "--json", type=Path, default=REPO / "tests/benchmarks/results/bench_sensor_offset.json"
    )
    args = parser.parse_args()
    folds = [int(f) - 1 for f in args.folds.split(",")]
    offsets = [float(o) for o in args.offsets.split(",")]

    import torch

    from training.datasets import blocked_folds, from_uci_folder

    torch.set_num_threads(1)
    started = time.perf_counter()
    data = from_uci_folder(args.uci_dir)
    components = list(data.grades)
    methods: dict[str, Callable[[LabelledWindows], Grader]] = {
        "gnn": gnn_grader,
        "lda-stats": lambda t: lda_grader("lda-stats", t),
        "lda-raw": lambda t: lda_grader("lda-raw", t),
    }
    # per method, component and copy ("clean" or "PS1 +1%"): 1 where right, per window run
    right: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {
        m: {c: {} for c in components} for m in methods
    }
    splits = blocked_folds(data.n_windows, FOLDS)
    for k in folds:
        train_idx, val_idx = splits[k]
        train, val = data.subset(train_idx), data.subset(val_idx)
        spread = {s: float(np.nanstd(v)) for s, v in train.values.items()}
        copies = {"clean": val, **offset_copies(val, spread, offsets)}
        print(f"fold {k + 1}: {len(val_idx)} validation cycles, {len(copies)} copies", flush=True)
        for name, fit in methods.items():
            grade = fit(train)
            for label, windows in copies.items():
                for c, pred in grade(windows).items():
                    right[name][c].setdefault(label, []).append(pred == val.grades[c])
        print(f"fold {k + 1} done ({time.perf_counter() - started:.0f} s)", flush=True)

    table: dict[str, dict[str, dict[str, Any]]] = {}
    for name in methods:
        table[name] = {}
        for c in components:
            acc = {label: float(np.concatenate(r).mean()) for label, r in right[name][c].items()}
            shifted = {label: a for label, a in acc.items() if label != "clean"}
            worst = min(shifted, key=lambda label: shifted[label])
            table[name][c] = {
                "clean": acc["clean"],
                "mean_offset": float(np.mean(list(shifted.values()))),
                "worst": shifted[worst],
                "worst_copy": worst,
                "per_copy": shifted,
            }
    print(
        f"\ngrade accuracy on {len(folds)} blocked fold(s), clean and with one sensor offset "
        f"by {', '.join(f'±{100 * o:g}' for o in offsets)} % of its std"
    )
    print(f"{'component':<10} {'method':<10} {'clean':>8} {'mean':>8} {'worst':>8}  worst copy")
    for c in components:
        for name in methods:
            row = table[name][c]
            print(
                f"{c:<10} {name:<10} {100 * row['clean']:>7.2f}% {100 * row['mean_offset']:>7.2f}% "
                f"{100 * row['worst']:>7.2f}%  {row['worst_copy']}"
            )
    result = {
        "uci_dir": str(args.uci_dir),
        "folds": [k + 1 for k in folds],
        "offsets": offsets,
        "accuracy": table,
        "seconds": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.json} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
