"""A sensor was replaced: does fine-tuning the shipped model on the new data win it back,
without losing the reference data?

    nice -n 10 .venv/bin/python tests/benchmarks/bench_finetune.py [UCI] [--sensor PS1]
        [--offset 0.03] [--gain 0.03] [--no-scratch]

The reference rig's 1805 cycles in time order (data/uci-hydraulic-1hz.tar.xz). The last
``--stretch`` cycles (default 600) are read through a replacement sensor: ``--sensor`` reads
``value × (1 + gain) + offset × span`` (span: its 1st-99th percentile range over all cycles) —
PS1 +3 % / +3 % costs the shipped model most of its pump grade (measured: MP1 66 %).
The first half of that stretch is the user's labelled data; the second half is held out (a).
Of the reference cycles before the stretch, contiguous blocks of 100 (``--ref-blocks``, by
default 2, 6 and 10) are held out (b); the rest is what a fine-tune may replay. Every choice
(early stopping, the replay sample, the discriminants) is made inside these training parts:
``training.finetune.split_data`` holds out its own contiguous blocks of both for early stopping.

Methods: the shipped model; fine-tuned with replay (the default of
``hydrodiag train --finetune-from``); fine-tuned without replay; and, unless ``--no-scratch``,
a model trained from scratch (shipped configuration, ``TrainConfig()``) on the same training
windows (the user's and the same replay sample). Caveat: the shipped model was trained on all
1805 cycles, clean, so (b) and the clean versions of (a) were in its training data; for the
fine-tuned models (b) is held out from everything but the parent. ``--base train`` removes the
caveat: the base is trained here (``TrainConfig()``, ~2-4 minutes) on the replayable reference
cycles only, and fine-tuned, compared and reported the same way (bench_finetune-base.json).

Prints a table and the run time, writes tests/benchmarks/results/bench_finetune.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from training.datasets import LabelledWindows  # noqa: E402

BLOCK = 100
SHIPPED = REPO / "resources/models/zema-rig-gatv2-lstm"


def replaced_sensor(
    windows: LabelledWindows, sensor: str, offset: float, gain: float, span: float
) -> LabelledWindows:
    values = dict(windows.values)
    values[sensor] = windows.values[sensor] * (1 + gain) + offset * span
    return replace(windows, values=values)


def concat(parts: list[LabelledWindows]) -> LabelledWindows:
    from training.datasets import concat_values

    return replace(
        parts[0],
        values=concat_values([p.values for p in parts]),
        grades={c: np.concatenate([p.grades[c] for p in parts]) for c in parts[0].grades},
        window_ids=np.concatenate([p.window_ids for p in parts]),
        stable=None,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("uci", nargs="?", type=Path, default=REPO / "data/uci-hydraulic-1hz.tar.xz")
    parser.add_argument("--sensor", default="PS1")
    parser.add_argument("--offset", type=float, default=0.03, help="share of the sensor's span")
    parser.add_argument("--gain", type=float, default=0.03)
    parser.add_argument("--stretch", type=int, default=600, help="last cycles read changed")
    parser.add_argument("--ref-blocks", default="2,6,10", help="held-out reference blocks")
    parser.add_argument("--no-scratch", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--base",
        choices=("shipped", "train"),
        default="shipped",
        help="the model to fine-tune: the shipped one, or one trained here (TrainConfig()) on "
        "the replayable reference cycles only, so that (a) and (b) are held out from it too",
    )
    parser.add_argument("--out", type=Path, default=REPO / "tests/benchmarks/results")
    args = parser.parse_args()

    import torch

    from gnn.graph import GraphSpec
    from ingestion.profiles import load_profile
    from training.config import TrainConfig
    from training.datasets import from_uci_folder
    from training.finetune import (
        accuracy,
        finetune_config,
        finetune_model,
        load_base,
        split_data,
    )
    from training.train import make_tensors, train_model

    base_seconds = 0.0

    def trained_base(pool: LabelledWindows) -> Any:
        nonlocal base_seconds
        from training.pipeline import train_and_save

        t0 = time.perf_counter()
        folder = Path(tempfile.mkdtemp(prefix="bench-finetune-")) / "base"
        train_and_save(
            pool,
            load_profile("zema-test-rig"),
            folder,
            TrainConfig(),
            model_id="bench-base",
            model_version="1.0.0",
            command="bench_finetune --base train",
            log=lambda _: None,
            device="cpu",
        )
        base_seconds = time.perf_counter() - t0
        print(f"  trained the base on {pool.n_windows} reference cycles: {base_seconds:.0f} s")
        return load_base(str(folder))

    started = time.perf_counter()
    torch.set_num_threads(1)
    windows = from_uci_folder(args.uci)
    n = windows.n_windows
    v = windows.values[args.sensor]
    span = float(np.percentile(v, 99) - np.percentile(v, 1))
    cut = n - args.stretch
    half = cut + args.stretch // 2
    changed = replaced_sensor(windows, args.sensor, args.offset, args.gain, span)
    user = changed.subset(np.arange(cut, half))
    held_a = changed.subset(np.arange(half, n))
    ref_blocks = [int(b) for b in args.ref_blocks.split(",")]
    in_b = np.isin(np.arange(cut) // BLOCK, ref_blocks)
    held_b = windows.subset(np.flatnonzero(in_b))
    pool = windows.subset(np.flatnonzero(~in_b))
    base = trained_base(pool) if args.base == "train" else load_base(str(SHIPPED))
    spec, graded = base.meta.graph_spec, base.meta.graded_components
    config = finetune_config(base, epochs=args.epochs)

    def score(model: Any, s: Any, w: LabelledWindows) -> dict[str, float]:
        return accuracy(model, s, make_tensors(s, w, base.meta.fault_types), graded)

    rows: dict[str, dict[str, Any]] = {}

    def record(name: str, model: Any, s: Any, seconds: float, **extra: Any) -> None:
        rows[name] = {
            "changed_stretch": score(model, s, held_a),
            "reference": score(model, s, held_b),
            "seconds": round(seconds, 1),
        } | extra
        print(f"  {name}: {rows[name]}", flush=True)

    base_name = "shipped model" if args.base == "shipped" else "base trained here"
    record(base_name, base.model, spec, base_seconds)
    for name, replay in (("fine-tuned, replay", pool), ("fine-tuned, no replay", None)):
        t0 = time.perf_counter()
        tuned = finetune_model(base, user, config, replay=replay, device="cpu")
        r = tuned.result
        record(
            name,
            r.model,
            r.spec,
            time.perf_counter() - t0,
            epochs_run=len(r.history),
            best_epoch=r.best_epoch,
            train_windows=r.n_train,
            parent_discriminants=list(tuned.parent_discriminants),
        )
    if not args.no_scratch:
        split = split_data(user, pool, config)
        assert split.replay_train is not None
        same = concat([user, split.replay_train])
        t0 = time.perf_counter()
        r = train_model(GraphSpec.from_profile(load_profile("zema-test-rig")), same, TrainConfig())
        record(
            "from scratch, same data",
            r.model,
            r.spec,
            time.perf_counter() - t0,
            epochs_run=len(r.history),
            train_windows=r.n_train,
        )
    seconds = time.perf_counter() - started
    print_table(rows, graded, args)
    print(f"run time {seconds:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / (
        "bench_finetune.json" if args.base == "shipped" else "bench_finetune-base.json"
    )
    out.write_text(
        json.dumps(
            {
                "scenario": {
                    "base": args.base,
                    "sensor": args.sensor,
                    "offset_share_of_span": args.offset,
                    "gain": args.gain,
                    "span": span,
                    "changed_cycles": [int(windows.window_ids[cut]), int(windows.window_ids[-1])],
                    "user_cycles": [int(user.window_ids[0]), int(user.window_ids[-1])],
                    "held_out_changed_cycles": [
                        int(held_a.window_ids[0]),
                        int(held_a.window_ids[-1]),
                    ],
                    "held_out_reference_blocks": ref_blocks,
                    "held_out_reference_windows": held_b.n_windows,
                    "finetune_config": config.model_dump(),
                },
                "methods": rows,
                "seconds": round(seconds, 1),
                "command": " ".join(sys.argv),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"wrote {out}")
    return 0


def print_table(rows: dict[str, dict[str, Any]], graded: tuple[str, ...], args: Any) -> None:
    print(
        f"\n{args.sensor} replaced (offset {100 * args.offset:+g} % of span, gain "
        f"{100 * args.gain:+g} %): grade accuracy, % (a: held-out changed cycles; b: held-out "
        "reference cycles)\n"
    )
    head = ["method"] + [f"{c} a" for c in graded] + [f"{c} b" for c in graded] + ["s"]
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for name, row in rows.items():
        cells = [name]
        cells += [f"{100 * row['changed_stretch'][c]:.1f}" for c in graded]
        cells += [f"{100 * row['reference'][c]:.1f}" for c in graded]
        cells.append(f"{row['seconds']:.0f}")
        print(" | ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
