"""Crash consistency: each writer killed with SIGKILL at random points, the workspace checked.

    .venv/bin/python tests/benchmarks/bench_crash.py [--kills 50] [--seed 0] [--only ingest]

Writers: `ingest csv` of a 2-hour simulated log (about 720,000 rows) into a workspace that
already holds an import; `live csv` recording a file a logger thread appends to (20 lines
every 20 ms, flushes every 0.2 s); `diagnose` of 300 real rig cycles; `report` of a diagnosis
(with --customer, which stores the visit). Each is run once uninterrupted to time it, then
killed at uniformly random times within its run (from 30 % of an uninterrupted run to its
end; a recording: from its first flush to 2.5 s after), until it has been killed --kills times
while still running. After every kill the workspace is opened as the next HydroDiag would
(recovery included) and checked (tests/crash_harness.py): it opens; no source is left
'importing' or 'live'; every import is whole or absent (row and value counts equal a complete
import's); no orphan rows, wide tables or registry entries; a died recording is
'interrupted' with row/value counts equal to what it stored, whole lines only, and a prefix of
the followed file; every diagnosis has its health rows and no rows lack their diagnosis;
report.pdf is a whole PDF or absent.

Prints a table and writes tests/benchmarks/results/bench_crash.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.crash_harness import crash_test, writers  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="kills per writer (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", help="only this writer (repeatable)")
    parser.add_argument(
        "--json", type=Path, default=REPO / "tests/benchmarks/results/bench_crash.json"
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    chosen = {k: w for k, w in writers().items() if not args.only or k in args.only}
    rows = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="hydrodiag-crash-") as tmp:
        for name, writer in chosen.items():
            t0 = time.time()
            result = crash_test(writer, Path(tmp), args.kills, rng)
            row = result.row() | {"wall s": round(time.time() - t0, 1)}
            rows.append(row)
            print(
                f"{name:<15} kills {row['kills']:>3}  finished first {row['finished before the kill']:>2}  "
                f"inconsistent {row['inconsistent workspaces']:>2}  run {row['uninterrupted run s']:>5} s  "
                f"({row['wall s']} s)",
                flush=True,
            )
            for problem in row["problems"]:
                print(f"    {problem}", flush=True)
    print()
    print(
        "| writer | kills | inconsistent workspaces | uninterrupted run | kill times (min / median / max) |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        times = " / ".join(f"{t:.2f}" for t in row["kill times s (min/median/max)"])
        print(
            f"| {row['writer']} | {row['kills']} | {row['inconsistent workspaces']} | "
            f"{row['uninterrupted run s']} s | {times} s |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "kills_per_writer": args.kills,
                "seed": args.seed,
                "seconds": round(time.time() - started),
                "writers": rows,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.json}")
    return 1 if any(r["inconsistent workspaces"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
