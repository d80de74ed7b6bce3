"""`hydrodiag diagnose` on a continuous log (no cycle table) that starts mid-cycle: the engine's
windows at detected load-cycle starts vs fixed-clock windows from the log's start.

For every condition level of each factor of the reference rig (the other three optimal), a
simulated log of ``--cycles`` cycles that starts ``--offset`` seconds into a cycle is written
into a workspace without a cycle table and diagnosed once by ``gnn.engine.diagnose`` with the
shipped model, ``align_cycles=True`` and ``False``. Accuracy = share of the windows whose grade
of the varied component equals the simulated condition's grade.

    .venv/bin/python tests/benchmarks/bench_engine_alignment.py [--offset 30] [--cycles 30]
        [--rate 1|profile]

Prints a table, writes tests/benchmarks/results/engine_alignment_offset<N>_rate<R>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gnn.engine import diagnose  # noqa: E402
from gnn.graph import default_model_path  # noqa: E402
from gnn.model_cache import cached_model  # noqa: E402
from ingestion.cycles import UNALIGNED_WARNING  # noqa: E402
from ingestion.simulator import (  # noqa: E402
    CYCLE_SECONDS,
    FACTOR_COMPONENT,
    FACTORS,
    GRADE_LEVELS,
    Conditions,
    RigSimulator,
)
from tests.benchmarks.bench_live_alignment import live_workspace, simulated_feed  # noqa: E402


def run_condition(
    path: Path, model: Any, conditions: Conditions, component: str, args: argparse.Namespace
) -> dict[str, Any]:
    truth = conditions.grades()[component]
    rate = None if args.rate == "profile" else float(args.rate)
    feed = simulated_feed(
        RigSimulator(args.seed, rate_hz=rate),
        conditions,
        args.cycles + 1,
        args.offset,
        args.cycles * CYCLE_SECONDS,
    )
    out: dict[str, Any] = {"grade": truth}
    with live_workspace(path, feed, kind="bench") as store:
        for kind, align in (("fixed", False), ("aligned", True)):
            t = time.perf_counter()
            d = diagnose(store, "rig", model=model, save=False, align_cycles=align)
            out[f"{kind}_ms"] = round((time.perf_counter() - t) * 1000, 1)
            grades = [w.grade[component] for w in d.windows if component in w.grade]
            out[f"{kind}_accuracy"] = float(np.mean(np.equal(grades, truth))) if grades else None
            out[f"{kind}_windows"] = len(grades)
            out[f"{kind}_unaligned_warning"] = any(
                w.kind == UNALIGNED_WARNING for w in d.data_quality
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--offset", type=float, default=30.0, help="log starts this far into a cycle"
    )
    parser.add_argument("--cycles", type=int, default=30, help="cycles per condition")
    parser.add_argument("--rate", default="1", help="1 (1 Hz everywhere) or profile")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    model = cached_model(default_model_path())
    results: dict[str, Any] = {"args": vars(args), "model": model.model_version, "conditions": {}}
    print(f"model {model.model_id} {model.model_version}; offset {args.offset:g} s, "
          f"{args.cycles} cycles, rate {args.rate}")  # fmt: skip
    print(f"{'condition':<18}{'comp':<6}{'grade':>6}{'fixed':>9}{'aligned':>9}"
          f"{'fixed ms':>10}{'aligned ms':>12}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for factor in FACTORS:
            component = FACTOR_COMPONENT[factor]
            for i, (level, _) in enumerate(GRADE_LEVELS[factor]):
                conditions = Conditions(**{factor: level})
                row = run_condition(Path(tmp) / f"{factor}{i}.duckdb", model, conditions,
                                    component, args)  # fmt: skip
                results["conditions"][f"{factor}={level:g}"] = row
                print(f"{factor + '=' + format(level, 'g'):<18}{component:<6}{row['grade']:>6}"
                      f"{100 * row['fixed_accuracy']:>8.0f}%{100 * row['aligned_accuracy']:>8.0f}%"
                      f"{row['fixed_ms']:>10.0f}{row['aligned_ms']:>12.0f}")  # fmt: skip
    rows = results["conditions"].values()
    for kind in ("fixed", "aligned"):
        results[f"{kind}_mean_accuracy"] = float(np.mean([r[f"{kind}_accuracy"] for r in rows]))
    print(f"{'mean':<30}{100 * results['fixed_mean_accuracy']:>8.0f}%"
          f"{100 * results['aligned_mean_accuracy']:>8.0f}%")  # fmt: skip
    out = REPO / "tests" / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = f"engine_alignment_offset{args.offset:g}_rate{args.rate}.json"
    (out / name).write_text(json.dumps(results, indent=2))
    print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
