"""Derive the reference-rig simulator's parameters from the shared UCI data, as statistics only.

Run ``python -m training.fit_simulator [UCI_DIR]``; it writes
``resources/simulator/zema-test-rig.npz`` (+ ``.json`` with provenance and fit quality).

What is fitted (nothing here is a copied row of the data):

* the mean 60 s cycle of every sensor as a function of the four component conditions:
  piecewise-linear "hat" weights over each factor's levels (so a continuous condition, say
  107 bar, interpolates between the two neighbouring levels) and their products up to three
  factors at a time — the conditions interact (a lagging valve looks different with a weak
  accumulator), and a purely additive mean produced cycles the model had never seen. Ridge
  least squares, so combinations missing from the data fall back to the lower-order terms.
* the within-condition variation: the residual of every cycle from the mean of its own
  4-condition cell, standardised per sensor-second, summarised by its ``K`` leading principal
  components (a low-rank covariance) with the spread of each score and an AR(1) coefficient of
  each score between consecutive cycles — the slow thermal drift of the rig.
* the within-second noise used only when the simulator writes faster than 1 Hz: what the
  K components leave unexplained, per sensor.
* each sensor's lowest and highest value on the rig: a sensor whose lowest value is 0 is kept
  at or above 0 (noise must not push a pressure that reads 0 bar below zero).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingestion.resources import resources_dir

SENSORS = (
    "PS1", "PS2", "PS3", "PS4", "PS5", "PS6", "EPS1", "FS1", "FS2",
    "TS1", "TS2", "TS3", "TS4", "VS1", "CE", "CP", "SE",
)  # fmt: skip
FACTORS = ("cooler", "valve", "pump", "accumulator")
LEVELS: dict[str, tuple[float, ...]] = {
    "cooler": (3.0, 20.0, 100.0),
    "valve": (73.0, 80.0, 90.0, 100.0),
    "pump": (0.0, 1.0, 2.0),
    "accumulator": (90.0, 100.0, 115.0, 130.0),
}
CYCLE_SECONDS = 60
DEFAULT_COMPONENTS = 100
PROFILE_ID = "zema-test-rig"


def hat_weights(value: float, levels: tuple[float, ...]) -> np.ndarray:
    """Piecewise-linear interpolation weights of ``value`` over ``levels`` (sum 1, clipped)."""
    weights = np.zeros(len(levels))
    x = float(np.clip(value, levels[0], levels[-1]))
    i = int(np.searchsorted(levels, x, side="right")) - 1
    i = min(max(i, 0), len(levels) - 2)
    frac = (x - levels[i]) / (levels[i + 1] - levels[i])
    weights[i] = 1.0 - frac
    weights[i + 1] = frac
    return weights


INTERACTION_ORDER = 3
RIDGE = 1.0


def design_row(conditions: np.ndarray, order: int = INTERACTION_ORDER) -> np.ndarray:
    """Regressors of one cycle: intercept, the hat weights of each factor (FACTORS order) and
    their outer products for every pair (order >= 2) and triple (order >= 3) of factors."""
    hats = [hat_weights(float(conditions[j]), LEVELS[f]) for j, f in enumerate(FACTORS)]
    parts = [np.ones(1), *hats]
    for size in range(2, order + 1):
        for combo in itertools.combinations(range(len(hats)), size):
            product = hats[combo[0]]
            for k in combo[1:]:
                product = np.multiply.outer(product, hats[k])
            parts.append(np.ravel(product))
    return np.concatenate(parts)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit(
    uci_dir: Path, n_components: int = DEFAULT_COMPONENTS
) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Fit the simulator's statistics; returns (arrays for the NPZ, metadata for the JSON)."""
    values = np.stack([np.loadtxt(uci_dir / f"{s}.txt") for s in SENSORS], axis=1)  # C, S, T
    profile = np.loadtxt(uci_dir / "profile.txt")
    labels = profile[:, :4]
    stable = profile[:, 4] == 0  # 1: the rig may not have settled after a condition change
    cycle_numbers = np.loadtxt(uci_dir / "cycles.txt").astype(np.int64)
    n_cycles = values.shape[0]
    flat = values.reshape(n_cycles, -1)
    design = np.stack([design_row(row) for row in labels])
    gram = design.T @ design + RIDGE * np.eye(design.shape[1])
    coef = np.linalg.solve(gram, design.T @ flat)
    residual = flat - design @ coef
    # Noise = variation within a condition cell; the cell means are the mean model's job.
    within = flat.copy()
    cells = labels @ np.array([1e9, 1e6, 1e3, 1.0])
    for cell in np.unique(cells):
        rows = cells == cell
        within[rows] -= flat[rows].mean(axis=0)
    scale = within.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1e-6)
    z = within / scale
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    k = min(n_components, len(s))
    scores = u[:, :k] * s[:k]
    score_sd = scores.std(axis=0)
    # The spread of each score depends strongly on the conditions (a failed cooler makes
    # the pressures restless; a healthy rig is quiet): log(score²) is fitted as additive in the
    # conditions, on settled cycles only (Harvey's log-variance regression; +1.2704 undoes
    # the bias of the log of a squared normal).
    additive = np.stack([design_row(row, order=1) for row in labels[stable]])
    log_sq = np.log(scores[stable] ** 2 + 1e-12)
    score_log_var = np.linalg.solve(
        additive.T @ additive + RIDGE * np.eye(additive.shape[1]), additive.T @ log_sq
    )
    score_log_var[0] += 1.2704
    # AR(1) of each score between cycles that were consecutive on the rig (the withheld
    # blocks leave holes in the cycle numbering; those pairs are not neighbours).
    consecutive = np.diff(cycle_numbers) == 1
    phi = np.empty(k)
    for i in range(k):
        a, b = scores[:-1, i][consecutive], scores[1:, i][consecutive]
        phi[i] = float(np.clip(np.corrcoef(a, b)[0, 1], 0.0, 0.995))
    unexplained = (z - scores @ vt[:k]).std(axis=0) * scale
    hf_noise = np.median(unexplained.reshape(len(SENSORS), CYCLE_SECONDS), axis=1)
    explained = float(np.sum(s[:k] ** 2) / np.sum(s**2))
    total_var = flat.var(axis=0)
    r2 = 1.0 - residual.var(axis=0) / np.where(total_var > 1e-12, total_var, 1.0)
    r2_per_sensor = r2.reshape(len(SENSORS), CYCLE_SECONDS).mean(axis=1)
    arrays = {
        "coef": coef.reshape(-1, len(SENSORS), CYCLE_SECONDS).astype(np.float32),
        "scale": scale.reshape(len(SENSORS), CYCLE_SECONDS).astype(np.float32),
        "components": vt[:k].astype(np.float32),
        "score_sd": score_sd.astype(np.float32),
        "score_log_var": score_log_var.astype(np.float32),  # [1 + Σ levels, K]
        "phi": phi.astype(np.float32),
        "hf_noise": hf_noise.astype(np.float32),
        # physical bounds seen on the rig: pressures and flows never go below 0
        "lower": values.min(axis=(0, 2)).astype(np.float32),
        "upper": values.max(axis=(0, 2)).astype(np.float32),
    }
    meta: dict[str, object] = {
        "profile": PROFILE_ID,
        "sensors": list(SENSORS),
        "factors": list(FACTORS),
        "levels": {f: list(v) for f, v in LEVELS.items()},
        "cycle_seconds": CYCLE_SECONDS,
        "interaction_order": INTERACTION_ORDER,
        "ridge": RIDGE,
        "n_components": k,
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fitted_by": "python -m training.fit_simulator",
        "source": {
            "dataset": "UCI 447 condition monitoring of hydraulic systems (1 Hz subset)",
            "doi": "10.24432/C5CW21",
            "cycles": int(n_cycles),
            "sha256": {f"{s}.txt": _sha256(uci_dir / f"{s}.txt") for s in SENSORS}
            | {"profile.txt": _sha256(uci_dir / "profile.txt")},
        },
        "quality": {
            "mean_model_r2_per_sensor": {
                s: round(float(v), 4) for s, v in zip(SENSORS, r2_per_sensor, strict=True)
            },
            "within_cell_variance_explained_by_components": round(explained, 5),
            "ar1_first_components": [round(float(p), 3) for p in phi[:10]],
        },
    }
    return arrays, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-hydraulic-1hz"
    parser.add_argument("uci_dir", nargs="?", type=Path, default=default_dir)
    parser.add_argument("--components", type=int, default=DEFAULT_COMPONENTS)
    parser.add_argument("--out", type=Path, default=resources_dir() / "simulator")
    args = parser.parse_args(argv)
    arrays, meta = fit(args.uci_dir, args.components)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / f"{PROFILE_ID}.npz", **arrays)  # type: ignore[arg-type]
    (args.out / f"{PROFILE_ID}.json").write_text(json.dumps(meta, indent=2) + "\n")
    quality = meta["quality"]
    print(f"wrote {args.out / PROFILE_ID}.npz/.json: {json.dumps(quality)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
