"""How far each method's grades move when one sensor reads slightly off: cross-validation,
clean and with a calibration offset on one sensor at a time.

    .venv/bin/python tests/benchmarks/bench_sensor_offset.py --report runs-cv.json
    .venv/bin/python tests/benchmarks/bench_sensor_offset.py [UCI_DIR] [--scheme runs|blocked]
        [--only-folds 1,2] [--offsets 0.01,0.02]

A field sensor is never calibrated as well as the test rig's. Per fold of the validation
(leave-one-run-out by default, as ``hydrodiag evaluate cv``; ``--scheme blocked`` for the old
5-fold blocked CV), the shipped configuration (``TrainConfig()``) and the two LDA baselines are
fitted once on the training windows; then the validation windows are graded clean and again
with ``offset × std`` added to every value of one sensor (std of that sensor over the fold's
training windows), for every sensor and both signs. Reported per component and method: clean
accuracy, the mean over the shifted copies, and the worst sensor (the copy with the lowest
accuracy). The clean column is the ``evaluate cv`` table; no choice is made on these folds
(the configuration is fixed before them, each discriminant's graph radius is chosen inside
each fold's training windows, and nothing is picked from the copies).

``--report`` reads a report of ``hydrodiag evaluate cv --conditions offset[,missing]`` (the
shipped model's ``runs-cv.json``) instead of training: the same folds and copies at ±1 %.

The GNN is trained per fold (~2 minutes a fold on one core of this machine); ``--only-folds``
runs a subset. Prints a table and writes tests/benchmarks/results/bench_sensor_offset.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _accuracy(cm: Any) -> float:
    a = np.asarray(cm)
    return float(np.trace(a) / a.sum()) if a.sum() else float("nan")


def offset_table(report: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per method and component: clean, mean over the shifted copies, worst copy."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    shifted = {label: by for label, by in report.get("conditions", {}).items() if "%" in label}
    if not shifted:
        raise SystemExit("the report has no sensor-offset copies: run it with --conditions offset")
    for method, comps in report["methods"].items():
        table[method] = {}
        for c, clean in comps.items():
            acc = {label: _accuracy(by[method][c]["confusion"]) for label, by in shifted.items()}
            worst = min(acc, key=lambda label: acc[label])
            table[method][c] = {
                "clean": clean["accuracy"],
                "mean_offset": float(np.mean(list(acc.values()))),
                "worst": acc[worst],
                "worst_copy": worst,
                "per_copy": acc,
            }
    return table


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The cross-validation with the offset copies (the GNN trained per fold)."""
    from ingestion.profiles import load_profile
    from ingestion.uci import UCI_SENSORS
    from training.config import TrainConfig
    from training.datasets import LabelledWindows, from_uci_folder
    from training.evaluate import blocked_scheme, cross_validate, runs_scheme
    from training.pipeline import baseline_method, gnn_method
    from training.robustness import offset_copies

    offsets = [float(o) for o in args.offsets.split(",")]
    data = from_uci_folder(args.uci_dir)
    scheme = runs_scheme(data) if args.scheme == "runs" else blocked_scheme(data.n_windows)
    config = TrainConfig()
    methods = {
        "gnn": gnn_method(load_profile("zema-test-rig"), config),
        "lda-stats": baseline_method("lda-stats", list(UCI_SENSORS)),
        "lda-raw": baseline_method("lda-raw", list(UCI_SENSORS)),
    }

    def copies(train: LabelledWindows, val: LabelledWindows) -> dict[str, LabelledWindows]:
        return offset_copies(train, val, offsets)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        report = cross_validate(
            data,
            methods,
            scheme=scheme,
            folds=[int(f) - 1 for f in args.only_folds.split(",")] if args.only_folds else None,
            conditions=copies,
        )
    report["offsets"] = offsets
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "uci_dir", nargs="?", type=Path, default=REPO / "data/uci-hydraulic-1hz.tar.xz"
    )
    parser.add_argument("--report", type=Path, help="a report of `evaluate cv --conditions`")
    parser.add_argument("--scheme", choices=("runs", "blocked"), default="runs")
    parser.add_argument("--only-folds", help="run only these folds, e.g. 1,2")
    parser.add_argument("--offsets", default="0.01,0.02", help="shares of each sensor's std")
    parser.add_argument(
        "--json", type=Path, default=REPO / "tests/benchmarks/results/bench_sensor_offset.json"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    report = json.loads(args.report.read_text(encoding="utf-8")) if args.report else run(args)
    table = offset_table(report)
    offsets = report.get("offsets", [0.01])
    print(
        f"\ngrade accuracy, {report['scheme']}, folds {report['folds_run']}: clean and with one "
        f"sensor offset by {', '.join(f'±{100 * o:g}' for o in offsets)} % of its std"
    )
    print(f"{'component':<10} {'method':<10} {'clean':>8} {'mean':>8} {'worst':>8}  worst copy")
    for c in next(iter(table.values())):
        for name, comps in table.items():
            row = comps[c]
            print(
                f"{c:<10} {name:<10} {100 * row['clean']:>7.2f}% {100 * row['mean_offset']:>7.2f}% "
                f"{100 * row['worst']:>7.2f}%  {row['worst_copy']}"
            )
    result = {
        "source": str(args.report) if args.report else str(args.uci_dir),
        "scheme": report["scheme"],
        "folds": report["folds_run"],
        "offsets": offsets,
        "accuracy": table,
        "seconds": time.perf_counter() - started,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {args.json} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
