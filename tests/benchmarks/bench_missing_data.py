"""Missing data: what the shipped model's grades are worth when samples or sensors are missing,
before and after short-gap filling and required-sensor withholding, side by side.

    .venv/bin/python tests/benchmarks/bench_missing_data.py [UCI_DIR]
    .venv/bin/python tests/benchmarks/bench_missing_data.py --report runs-cv.json

``--report`` prints the same cases on new runs instead: a report of ``hydrodiag evaluate cv
--conditions missing`` (the shipped model's ``runs-cv.json``), where every fold's model and the
LDA baselines graded the held-out run with data missing (the scenarios below, from
``training.robustness.missing_copies``); the model grades as the engine does (gaps filled,
ungraded without a required sensor, required sensors measured on the fold's training windows),
the baselines grade every window and are also scored on the windows the model graded.

On the 1805 real cycles (the model's own training data, so "clean" is in-sample: this measures
what missing data costs, not how well the model generalises), every scenario removes samples
and then grades every cycle two ways through ONNX Runtime:

- ``masked``: missing samples masked (what the engine did before: a masked sample reads as the
  sensor's mean), every component graded in every window;
- ``engine``: runs of at most ``gnn.graph.MAX_FILLED_GAP`` missing samples interpolated; a
  component is not graded in a window where a sensor its grade needs (the model's
  ``required_sensors``) still has samples missing — what ``gnn.engine.diagnose`` does now.

Per component it prints the accuracy over the windows graded and the share of windows graded.
Scenarios: samples missing at random (0.1 %, 1 %), 3 s and 10 s outages in 10 % of each
sensor's windows, and each sensor missing entirely. Writes
tests/benchmarks/results/bench_missing_data.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from gnn.graph import (  # noqa: E402
    MAX_FILLED_GAP,
    build_inputs,
    default_model_path,
    fill_short_gaps,
)
from gnn.runtime import LoadedModel, load_model  # noqa: E402
from training.datasets import LabelledWindows, from_uci_folder  # noqa: E402

Values = dict[str, np.ndarray]
COMPONENTS = ("C1", "V10", "MP1", "ACC")


def grade(
    model: LoadedModel, data: LabelledWindows, values: Values, engine: bool
) -> dict[str, Any]:
    """Accuracy over the graded windows and the share graded, per component."""
    spec = model.graph_spec
    x, mask = build_inputs(spec, values, max_gap=MAX_FILLED_GAP if engine else 0)
    pred = model.run(x, mask).grade_probs.argmax(-1)
    out = {}
    for comp in COMPONENTS:
        graded = np.ones(data.n_windows, dtype=bool)
        if engine:
            for sensor in model.required_sensors.get(comp, {}):
                graded &= np.isfinite(fill_short_gaps(values[sensor])).all(axis=1)
        right = pred[graded, spec.node_ids.index(comp)] == data.grades[comp][graded]
        out[comp] = {
            "accuracy": float(right.mean()) if graded.any() else None,
            "graded": float(graded.mean()),
        }
    return out


def scenarios(data: LabelledWindows) -> dict[str, Callable[[], Values]]:
    def dropout(p: float, seed: int) -> Callable[[], Values]:
        def make() -> Values:
            rng = np.random.default_rng(seed)
            return {s: np.where(rng.random(a.shape) < p, np.nan, a) for s, a in data.values.items()}

        return make

    def outage(seconds: int, seed: int) -> Callable[[], Values]:
        def make() -> Values:
            rng = np.random.default_rng(seed)
            out = {}
            for s, a in data.values.items():
                a = a.copy()
                for row in np.flatnonzero(rng.random(len(a)) < 0.1):
                    start = rng.integers(0, a.shape[1] - seconds)
                    a[row, start : start + seconds] = np.nan
                out[s] = a
            return out

        return make

    def without(sensor: str) -> Callable[[], Values]:
        return lambda: {
            s: (np.full_like(a, np.nan) if s == sensor else a) for s, a in data.values.items()
        }

    out: dict[str, Callable[[], Values]] = {"clean": lambda: dict(data.values)}
    out["0.1 % of samples missing"] = dropout(0.001, 1)
    out["1 % of samples missing"] = dropout(0.01, 2)
    out["3 s outages"] = outage(3, 3)
    out["10 s outages"] = outage(10, 4)
    for sensor in data.values:
        out[f"no {sensor}"] = without(sensor)
    return out


def _cell(r: dict[str, Any]) -> str:
    acc = "  —  " if r["accuracy"] is None else f"{100 * r['accuracy']:5.1f}"
    return f"{acc} {100 * r['graded']:4.0f}%"


def new_run_table(report: dict[str, Any]) -> dict[str, Any]:
    """Per case, component and method: accuracy over the windows it graded, the share graded,
    and the accuracy on the windows the reference method (the model) graded."""
    from training.robustness import summarise

    summary = summarise(report)
    cases = {
        m: {c: row.get("missing", {}) for c, row in comps.items()} for m, comps in summary.items()
    }
    first = next(iter(cases.values()))
    labels = list(next(iter(first.values())))
    if not labels:
        raise SystemExit("the report has no missing-data cases: run it with --conditions missing")
    print(f"{report['scheme']}, folds {report['folds_run']}")
    print(
        "per component: the model's accuracy over the windows it graded (%) and the share "
        "graded; each baseline's accuracy on those same windows"
    )
    methods = list(cases)
    head = "  ".join(f"{c:>{11 + 9 * (len(methods) - 1)}}" for c in COMPONENTS)
    print(f"{'case':<26} {head}")
    for label in labels:
        cells = []
        for c in COMPONENTS:
            model = cases[methods[0]][c][label]
            parts = [f"{100 * model['accuracy']:5.1f} {100 * model['graded']:3.0f}%"]
            parts += [
                f"{100 * cases[m][c][label]['accuracy_on_reference']:8.1f}" for m in methods[1:]
            ]
            cells.append(" ".join(parts))
        print(f"{label:<26} {'  '.join(cells)}", flush=True)
    print(
        f"(columns per component: {methods[0]} accuracy and share graded, then {', '.join(methods[1:])})"
    )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "uci_dir", nargs="?", type=Path, default=REPO / "data/uci-hydraulic-1hz.tar.xz"
    )
    parser.add_argument("--report", type=Path, help="a report of `evaluate cv --conditions`")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.report is not None:
        cases = new_run_table(json.loads(args.report.read_text(encoding="utf-8")))
        out = REPO / "tests/benchmarks/results/bench_missing_data_new_runs.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"report": str(args.report), "cases": cases}, indent=2))
        print(f"wrote {out.relative_to(REPO)} ({time.perf_counter() - started:.0f} s)")
        return
    model = load_model(default_model_path(), provider="cpu")
    data = from_uci_folder(args.uci_dir)
    results: dict[str, Any] = {}
    print(f"shipped model {model.model_id} {model.model_version}, {data.n_windows} cycles")
    print("per component: accuracy over the windows graded (%), share of windows graded")
    head = "  ".join(f"{c + ' masked':>12} {c + ' engine':>12}" for c in COMPONENTS)
    print(f"{'scenario':<26} {head}")
    for name, make in scenarios(data).items():
        values = make()
        row = {
            "masked": grade(model, data, values, False),
            "engine": grade(model, data, values, True),
        }
        results[name] = row
        cells = "  ".join(
            f"{_cell(row['masked'][c]):>12} {_cell(row['engine'][c]):>12}" for c in COMPONENTS
        )
        print(f"{name:<26} {cells}", flush=True)
    out = REPO / "tests/benchmarks/results/bench_missing_data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"model": model.model_version, "cycles": data.n_windows, "results": results}, indent=2
        ),
        encoding="utf-8",
    )
    print(f"wrote {out.relative_to(REPO)} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
