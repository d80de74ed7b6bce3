"""What the accumulator's discriminant reads: feature variants on blocked CV, and a nested check
of picking one.

    .venv/bin/python tests/benchmarks/bench_accumulator_features.py [UCI_DIR] [--skip-nested]
        [--scheme runs|blocked] [--variants all|kinds|none] [--fixed-radius]

The accumulator (ACC) of the reference rig has no sensor; its grade is the ordinal discriminant
of ``training.discriminant`` alone, fitted in closed form on the Fourier moments of its 3-hop
neighbourhood (``TemporalGNN.discriminant_features``). So its blocked-CV accuracy can be
measured without training the neural network: per fold, normalisation is fitted on the
training blocks as ``train_model`` does, and the discriminant on their features.

1. ``shipped``: the shipped configuration (``TrainConfig()``) through the real code path
   (``fit_discriminants`` writing a model's buffers, the model's logits) — the accumulator
   column of ``hydrodiag evaluate cv``. Since 1.7.0 that includes choosing the graph radius
   (2 or 3 hops) by leave-one-run-out inside each outer training fold
   (``training.train.radius_folds``), as ``train`` does: chosen on training runs only.
2. Variants, the same folds and fit (``_fit_ordinal``) on features computed here, all at the
   config's 3 hops (no radius choice; they compare features, not radii): the signals'
   moments alone (model 1.5.0), plus the moments of ``|x[t] - x[t-1]|`` at several k, of the
   squared change, of the squared value, and the step-change moments with a floor exact for
   white sample noise alone.
3. Nested: inside each outer training fold, 4-fold blocked CV picks the variant; the outer
   fold scores the pick. Against the variant picked on the outer folds themselves, the
   difference is what that choice adds in optimism. Twice: among all variants, and among the
   kinds of feature at the signals' k = 16 (the choice that was actually open when 1.6.0's
   features were picked: which transform, which floor).

Folds: ``--scheme runs`` (default since 1.7.0) is the validation ``hydrodiag evaluate cv``
quotes, leave-one-run-out over the accumulator's 12 runs; the nested pick is then made by
leave-one-run-out inside each outer training fold too (its runs grouped into 4 inner folds,
run r in fold r mod 4, to keep it to minutes). ``--scheme blocked`` is the 5-fold blocked CV of
1.6.0's choice (inner 4-fold blocked). Which choices were made on which folds: 1.6.0's
features were picked on the blocked outer folds themselves (the optimism the nested rows
measure); 1.7.0 keeps them and chooses only the radius, inside each training fold, so its
validation on runs holds no choice made on the folds it scores.

Prints a table and writes tests/benchmarks/results/bench_accumulator_features[_blocked].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

Features = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
K = 16  # the signals' moments, as TrainConfig.discriminant_frequencies
FOLDS = 5


def fourier(x: np.ndarray, k: int) -> np.ndarray:
    """The model's ``fourier_moments``, flattened: [W, N, T, F] -> [W, N * F * (2k + 1)]."""
    from gnn.model import fourier_moments

    return fourier_moments(torch.from_numpy(x).double(), k).reshape(len(x), -1).numpy()


def change(x: np.ndarray) -> np.ndarray:
    """The model's ``step_change`` (no gaps in the UCI cycles: the mask is all ones)."""
    from gnn.model import step_change

    t = torch.from_numpy(x).double()
    return step_change(t, torch.ones_like(t)).numpy()


def variants() -> dict[str, Features]:
    from training.discriminant import moment_floor, variation_floor

    offset, noise, t = 0.01, 0.005, 60

    def channels(x: np.ndarray) -> int:
        return int(x.shape[1] * x.shape[3])

    def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fourier(x, K), moment_floor(channels(x), K, t, offset, noise)

    def plus(
        transform: Callable[[np.ndarray], np.ndarray], k: int, floor: Callable[[int], np.ndarray]
    ) -> Features:
        def features(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            u, f = moments(x)
            return (
                np.concatenate([u, fourier(transform(x), k)], 1),
                np.concatenate([f, floor(channels(x))]),
            )

        return features

    def white_floor(k: int) -> Callable[[int], np.ndarray]:
        """Exact for white sample noise alone: its differences are anti-correlated."""

        def floor(n: int) -> np.ndarray:
            jitter = noise**2 * (1 - np.cos(2 * np.pi * np.arange(1, k + 1) / t)) / t
            mean = (2 * noise / np.sqrt(np.pi)) ** 2 + 2 * noise**2 / t**2
            return np.tile(np.concatenate([[mean], jitter, jitter]), n)

        return floor

    def abs_change(x: np.ndarray) -> np.ndarray:
        return np.asarray(np.abs(change(x)))

    def change_floor(k: int) -> Callable[[int], np.ndarray]:
        return lambda n: variation_floor(n, k, t, noise)

    out: dict[str, Features] = {"moments (1.5.0)": moments}
    for k in (4, 8, 12, 16, 20, 24):
        out[f"+ |change| k={k}"] = plus(abs_change, k, change_floor(k))
    out["+ change^2 k=16"] = plus(
        lambda x: change(x) ** 2, 16, lambda n: moment_floor(n, 16, t, offset, noise)
    )
    out["+ value^2 k=16"] = plus(
        lambda x: x**2, 16, lambda n: moment_floor(n, 16, t, offset, noise)
    )
    out["+ |change| k=16, white-noise floor"] = plus(abs_change, 16, white_floor(16))
    return out


def fit_predict(
    features: Features, xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray
) -> np.ndarray:
    from training.discriminant import _fit_ordinal

    u, floor = features(xtr)
    v, _ = features(xte)
    weight, bias, used = _fit_ordinal(u, ytr, 4, floor)
    return np.asarray(np.argmax(v[:, used] @ weight + bias, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "uci_dir", nargs="?", type=Path, default=REPO / "data/uci-hydraulic-1hz.tar.xz"
    )
    parser.add_argument("--skip-nested", action="store_true")
    parser.add_argument("--scheme", choices=("runs", "blocked"), default="runs")
    parser.add_argument(
        "--variants",
        choices=("all", "kinds", "none"),
        default="all",
        help="all variants, only the kinds of feature at k = 16 (quicker), or none (the "
        "shipped row alone)",
    )
    parser.add_argument(
        "--fixed-radius",
        action="store_true",
        help="the shipped row without the radius choice: every discriminant at the config's "
        "hops, as model 1.6.0 (its accumulator grade on these folds)",
    )
    args = parser.parse_args()
    if args.variants == "none":
        args.skip_nested = True

    from gnn.graph import GraphSpec, build_inputs
    from gnn.model import TemporalGNN
    from ingestion.profiles import load_profile
    from training.config import TrainConfig
    from training.datasets import blocked_folds, from_uci_folder, grade_matrix, run_folds
    from training.discriminant import fit_discriminants, neighbourhood
    from training.train import radius_folds

    started = time.perf_counter()
    config = TrainConfig(discriminant_choose_radius=not args.fixed_radius)
    data = from_uci_folder(args.uci_dir)
    truth = data.grades["ACC"]
    base = GraphSpec.from_profile(load_profile("zema-test-rig"))
    acc = base.node_ids.index("ACC")
    hood = neighbourhood(base, acc, config.discriminant_hops)
    candidates = variants()
    kinds = [
        "moments (1.5.0)",
        "+ |change| k=16",
        "+ change^2 k=16",
        "+ value^2 k=16",
        "+ |change| k=16, white-noise floor",
    ]
    if args.variants == "kinds":
        candidates = {name: candidates[name] for name in kinds}
    elif args.variants == "none":
        candidates = {}
    preds = {name: np.full(data.n_windows, -1) for name in ["shipped", *candidates]}
    choices = {"all variants": list(candidates), "kinds at k=16": kinds}
    if args.variants != "all":
        del choices["all variants"]

    def outer_folds() -> list[tuple[np.ndarray, np.ndarray]]:
        if args.scheme == "runs":
            return run_folds(truth)
        return blocked_folds(data.n_windows, FOLDS)

    def inner_folds(y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if args.scheme == "runs":
            return run_folds(y, 4)
        return blocked_folds(len(y), FOLDS - 1)

    nested = {label: np.full(data.n_windows, -1) for label in choices}
    picks: dict[str, list[str]] = {label: [] for label in choices}
    splits = outer_folds()
    for fold, (train, val) in enumerate(splits):
        part, held = data.subset(train), data.subset(val)
        spec = base.fit_normalisation(part.values).fit_phase_normalisation(
            part.values, config.normalisation
        )
        (x, mask), (xv, mv) = build_inputs(spec, part.values), build_inputs(spec, held.values)
        # 1. the real code path: a model's discriminant buffers, its logits
        model = TemporalGNN(
            spec.num_features,
            num_fault_types=0,
            hidden_channels=config.hidden_channels,
            heads=config.heads,
            num_nodes=spec.num_nodes,
            discriminant_frequencies=config.discriminant_frequencies,
            discriminant_variation=config.discriminant_variation,
        )
        fit_discriminants(
            model,
            spec,
            torch.from_numpy(x),
            torch.from_numpy(mask),
            grade_matrix(part, spec.node_ids),
            (),
            {},
            hops=config.discriminant_hops,
            nodes="sensorless",
            offset_floor=config.discriminant_offset,
            noise_floor=config.discriminant_noise,
            scale=config.discriminant_scale,
            inner_folds=radius_folds(part) if config.discriminant_choose_radius else None,
        )
        with torch.no_grad():
            u = model.discriminant_features(torch.from_numpy(xv), torch.from_numpy(mv))
            logits = u @ model.disc_weight[acc] + model.disc_bias[acc]
        preds["shipped"][val] = logits.argmax(-1).numpy()
        # 2. the variants, on the neighbourhood's masked inputs
        xtr, xte, ytr = (x * mask)[:, hood], (xv * mv)[:, hood], truth[train]
        for name, features in candidates.items():
            preds[name][val] = fit_predict(features, xtr, ytr, xte)
        # 3. nested: pick on the training blocks alone
        if not args.skip_nested:
            inner = dict.fromkeys(candidates, 0)
            for a, b in inner_folds(ytr):
                for name, features in candidates.items():
                    inner[name] += int(
                        (fit_predict(features, xtr[a], ytr[a], xtr[b]) == ytr[b]).sum()
                    )
            for label, names in choices.items():
                pick = max(names, key=lambda name: inner[name])
                picks[label].append(pick)
                nested[label][val] = preds[pick][val]
        print(
            f"fold {fold + 1}/{len(splits)} done ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )

    rows = {name: float((p == truth).mean()) for name, p in preds.items()}
    per_fold = {
        name: [round(float((p[val] == truth[val]).mean()), 4) for _, val in splits]
        for name, p in preds.items()
    }
    print("shipped, per fold (%): " + " / ".join(f"{100 * a:.1f}" for a in per_fold["shipped"]))
    best = max(candidates, key=lambda name: rows[name]) if candidates else None
    what = "leave-one-run-out (12 runs)" if args.scheme == "runs" else f"{FOLDS}-fold blocked CV"
    print(f"\naccumulator grade accuracy, {what}, {data.n_windows} cycles")
    print(f"{'features':<40} {'accuracy':>9} {'errors':>7}")
    for name, value in rows.items():
        print(f"{name:<40} {100 * value:>8.2f}% {int((preds[name] != truth).sum()):>7}")
    result: dict[str, object] = {
        "uci_dir": str(args.uci_dir),
        "scheme": args.scheme,
        "radius": "fixed (config hops)" if args.fixed_radius else "chosen in each training fold",
        "accuracy": rows,
        "per_fold": per_fold,
        "best_on_outer_folds": best,
        "seconds": time.perf_counter() - started,
    }
    if not args.skip_nested:
        summary: dict[str, dict[str, object]] = {}
        for label, names in choices.items():
            score = float((nested[label] == truth).mean())
            top = max(names, key=lambda name: rows[name])
            print(
                f"\nnested, {label} (picked by inner {'runs' if args.scheme == 'runs' else 'blocked'}"
                f" CV in each training fold: "
                f"{picks[label]}): {100 * score:.2f}%, against {100 * rows[top]:.2f}% for "
                f"{top!r}, picked on the outer folds"
            )
            summary[label] = {"accuracy": score, "picks": picks[label]}
        result["nested"] = summary
    suffix = ("" if args.scheme == "runs" else "_blocked") + ("_fixed" if args.fixed_radius else "")
    out = REPO / f"tests/benchmarks/results/bench_accumulator_features{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
