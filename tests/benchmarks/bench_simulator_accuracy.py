"""Does the shipped model diagnose the simulator? Grade accuracy on simulated cycles of every
single-component condition (the other three components optimal), per component and level.

    .venv/bin/python tests/benchmarks/bench_simulator_accuracy.py [--cycles 60] [--model PATH]
        [--offset S [--align]]

Prints a table and writes tests/benchmarks/results/simulator_accuracy.json. Target: >= 90 %
grade accuracy for every component on its own conditions. ``tests/training/test_simulator_model.py``
runs the same check with fewer cycles whenever a shipped model exists.
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gnn.graph import build_inputs, default_model_path  # noqa: E402
from gnn.runtime import LoadedModel, load_model  # noqa: E402
from ingestion.cycle_detection import detect_cycles, profile_template  # noqa: E402
from ingestion.simulator import (  # noqa: E402
    FACTOR_COMPONENT,
    FACTORS,
    GRADE_LEVELS,
    Conditions,
    RigSimulator,
)
from tests.data import unpacked_uci  # noqa: E402

TARGET = 0.90
UCI_DIR = unpacked_uci()  # the vendored data/uci-hydraulic-1hz.tar.xz


def real_cell_accuracy(model: LoadedModel, uci_dir: Path = UCI_DIR) -> dict[str, dict[str, float]]:
    """The same check on the real rig: the model's accuracy on the real cycles of each
    single-component condition (others optimal). The simulator can only be as diagnosable
    as the rig it imitates; this is the reference its accuracy is compared with."""
    spec = model.graph_spec
    node = {n.id: i for i, n in enumerate(spec.nodes)}
    sensors = [s.id for s in spec.sensors]
    values = {s: np.loadtxt(uci_dir / f"{s}.txt") for s in sensors}
    labels = np.loadtxt(uci_dir / "profile.txt")[:, :4]
    optimal = np.array([100.0, 100.0, 0.0, 130.0])
    out: dict[str, dict[str, float]] = {}
    for j, factor in enumerate(FACTORS):
        out[factor] = {}
        for level, grade in GRADE_LEVELS[factor]:
            cell = optimal.copy()
            cell[j] = level
            rows = np.all(np.isclose(labels, cell), axis=1)
            if rows.sum() < 5:
                continue
            x, mask = build_inputs(spec, {s: v[rows] for s, v in values.items()})
            predicted = model.run(x, mask).grade_probs.argmax(axis=-1)
            hits = predicted[:, node[FACTOR_COMPONENT[factor]]] == grade
            out[factor][f"{level:g}"] = float(hits.mean())
    return out


def evaluate(
    model: LoadedModel,
    *,
    cycles: int = 60,
    seed: int = 11,
    offset_s: int = 0,
    align: bool = False,
) -> dict[str, Any]:
    """Per factor and level: accuracy of the varied component's grade, and of all graded ones.

    ``offset_s`` > 0 cuts the windows ``offset_s`` seconds after each cycle start (a live feed
    whose windows do not line up with the machine's load cycles). With ``align``, the stream
    that starts ``offset_s`` into a cycle is cut at the cycle starts that
    :func:`ingestion.cycle_detection.detect_cycles` finds instead (what the live rolling diagnosis
    does); the accuracy is then over the whole cycles it detected."""
    spec = model.graph_spec
    node = {n.id: i for i, n in enumerate(spec.nodes)}
    graded = [c for c in model.graded_components if c in node]
    results: dict[str, Any] = {
        "cycles_per_condition": cycles,
        "seed": seed,
        "offset_s": offset_s,
        "aligned_by_detection": align,
        "factors": {},
    }
    template = profile_template(model.profile_id) if align else None
    if align and template is None:
        raise SystemExit(f"no cycle template for profile {model.profile_id}")
    for f_index, factor in enumerate(FACTORS):
        component = FACTOR_COMPONENT[factor]
        levels: dict[str, Any] = {}
        correct_component = total = 0
        for level, grade in GRADE_LEVELS[factor]:
            conditions = Conditions(**{factor: level})
            simulator = RigSimulator(seed + 100 * f_index + int(level), rate_hz=1.0)
            batch = np.stack([simulator.next_cycle(conditions) for _ in range(cycles + 1)])
            if align:
                assert template is not None
                stream = np.concatenate(list(batch), axis=1)[:, offset_s:]
                detection = detect_cycles(
                    {s: stream[i] for i, s in enumerate(simulator.sensors)}, template
                )
                starts = [round(t) for t in detection.starts if round(t) + 60 <= stream.shape[1]]
                batch = np.stack([stream[:, t : t + 60] for t in starts])
            elif offset_s:
                stream = np.concatenate(list(batch), axis=1)  # [S, (cycles + 1) * 60]
                batch = np.stack(
                    [stream[:, k * 60 + offset_s : (k + 1) * 60 + offset_s] for k in range(cycles)]
                )
            else:
                batch = batch[:cycles]
            values = {s: batch[:, i, :] for i, s in enumerate(simulator.sensors)}
            x, mask = build_inputs(spec, values)
            outputs = model.run(x, mask)
            predicted = outputs.grade_probs.argmax(axis=-1)  # [B, N]
            expected = conditions.grades()
            windows = predicted.shape[0]
            hits = int((predicted[:, node[component]] == grade).sum())
            others = {
                c: float((predicted[:, node[c]] == expected[c]).mean())
                for c in graded
                if c != component
            }
            confusion = np.bincount(predicted[:, node[component]], minlength=4).tolist()
            levels[f"{level:g}"] = {
                "grade": grade,
                "accuracy": hits / windows,
                "windows": windows,
                "predicted_grades": confusion,
                "others_accuracy": others,
            }
            correct_component += hits
            total += windows
        results["factors"][factor] = {
            "component": component,
            "accuracy": correct_component / total,
            "levels": levels,
        }
    results["min_accuracy"] = min(v["accuracy"] for v in results["factors"].values())
    results["passed"] = bool(results["min_accuracy"] >= TARGET)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=60, help="simulated cycles per condition")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--offset", type=int, default=0, help="cut windows this many seconds after cycle start"
    )
    parser.add_argument(
        "--align",
        action="store_true",
        help="with --offset: cut at the cycle starts detected by ingestion.cycles instead",
    )
    args = parser.parse_args(argv)
    path = args.model or default_model_path()
    if not path.exists():
        print(f"no model at {path}; train and export one first", file=sys.stderr)
        return 2
    model = load_model(path, provider="cpu")
    started = time.perf_counter()
    results = evaluate(
        model, cycles=args.cycles, seed=args.seed, offset_s=args.offset, align=args.align
    )
    results["model"] = {"path": str(path), "id": model.model_id, "version": model.model_version}
    real = real_cell_accuracy(model) if UCI_DIR.exists() else {}
    for factor, data in results["factors"].items():
        for level, row in data["levels"].items():
            row["real_cells_accuracy"] = real.get(factor, {}).get(level)
    results["seconds"] = round(time.perf_counter() - started, 2)
    print(
        f"model {model.model_id} {model.model_version}; {args.cycles} simulated cycles per condition"
    )
    print(
        f"{'component':10s} {'level':>6s} {'grade':>5s} {'simulated':>9s} {'real rig':>9s}  "
        "predicted grades 0/1/2/3 (simulated)"
    )
    for factor, data in results["factors"].items():
        for level, row in data["levels"].items():
            real_acc = row["real_cells_accuracy"]
            shown = "-" if real_acc is None else f"{real_acc:.1%}"
            print(
                f"{data['component']:10s} {level:>6s} {row['grade']:5d} {row['accuracy']:9.1%} "
                f"{shown:>9s}  {row['predicted_grades']}"
            )
        print(f"{data['component']:10s} {'all':>6s} {'':5s} {data['accuracy']:9.1%}  ({factor})")
    print("real rig: the same model on the real cycles of that condition (others optimal)")
    print(
        f"minimum over components: {results['min_accuracy']:.1%} (target {TARGET:.0%}) -> "
        f"{'PASS' if results['passed'] else 'FAIL'}"
    )
    suffix = (f"_offset{args.offset}" if args.offset else "") + ("_aligned" if args.align else "")
    out = REPO / "tests" / "benchmarks" / "results" / f"simulator_accuracy{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
