"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ingestion.resources import default_workspace_path
from ingestion.store import Store, open_workspace


def workspace_path(args: argparse.Namespace) -> Path:
    path: Path | None = getattr(args, "workspace", None)
    return path if path is not None else default_workspace_path()


def open_store(args: argparse.Namespace, *, read_only: bool = False) -> Store:
    return open_workspace(workspace_path(args), read_only=read_only)


# `train` and `evaluate cv` take the same training-config options: the CV must be able to score
# exactly the configuration `train` ships. Option dest -> TrainConfig field.
CONFIG_OPTIONS: dict[str, str] = {
    "seed": "seed",
    "epochs": "epochs",
    "threads": "threads",
    "dropout": "dropout",
    "val_fraction": "val_fraction",
    "readout_layers": "readout_layers",
    "normalisation": "normalisation",
    "moment_frequencies": "moment_frequencies",
    "discriminant_frequencies": "discriminant_frequencies",
    "discriminant_hops": "discriminant_hops",
    "discriminant_nodes": "discriminant_nodes",
    "discriminant_offset": "discriminant_offset",
    "discriminant_noise": "discriminant_noise",
    "discriminant_scale": "discriminant_scale",
    "discriminant_variation": "discriminant_variation",
}


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """The training-config options of :data:`CONFIG_OPTIONS` (unset: TrainConfig's default)."""
    parser.add_argument("--seed", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--dropout", type=float, help="dropout probability (default 0.1)")
    parser.add_argument(
        "--val-fraction",
        type=float,
        help="share of 100-window blocks held out for early stopping (0: train on all)",
    )
    parser.add_argument("--readout-layers", type=int, help="GATv2 layers after the LSTM")
    parser.add_argument(
        "--normalisation",
        choices=("global", "phase", "global+phase"),
        help="input normalisation: per sensor, per sensor and cycle step, or both",
    )
    parser.add_argument(
        "--moment-frequencies",
        type=int,
        help="K Fourier moments of each node's inputs added to the readout (0: off)",
    )
    parser.add_argument(
        "--discriminant-frequencies",
        type=int,
        help="K Fourier moments read by the closed-form grade discriminants (default 16; "
        "0: neural heads only)",
    )
    parser.add_argument(
        "--discriminant-nodes",
        choices=("sensorless", "graded"),
        help="graded nodes given a discriminant: without sensors only (replacing their neural "
        "head) or all (default; added to the neural head where there are sensors)",
    )
    parser.add_argument(
        "--discriminant-hops",
        type=int,
        help="graph radius of the signals a sensorless node's discriminant reads (default 3; "
        "one less for nodes with sensors)",
    )
    parser.add_argument(
        "--discriminant-offset",
        type=float,
        help="sensor offset the discriminants must tolerate, as a share of each sensor's "
        "std (default 0.01)",
    )
    parser.add_argument(
        "--discriminant-noise",
        type=float,
        help="per-sample sensor noise they must tolerate, likewise (default 0.005)",
    )
    parser.add_argument(
        "--discriminant-scale",
        choices=("ordinal", "nominal"),
        help="grading a component without sensors: one severity score, nearest grade on it "
        "(ordinal, default), or one mean per grade (nominal LDA)",
    )
    parser.add_argument(
        "--discriminant-variation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let the discriminants also read how sharply each signal changes from step to "
        "step (default on; --no-discriminant-variation: the signals' moments alone)",
    )


def train_config(args: argparse.Namespace, extra: dict[str, str] | None = None) -> Any:
    """The ``TrainConfig`` of the options the user set: :data:`CONFIG_OPTIONS` plus ``extra``
    (dest -> field); the rest keep their defaults.

    Raises:
        HydroDiagError: naming the option and what it accepts, for a value the config refuses.
    """
    from pydantic import ValidationError

    from ingestion.errors import HydroDiagError
    from training.train import TrainConfig

    names = {**CONFIG_OPTIONS, **(extra or {})}
    option = {field: "--" + dest.replace("_", "-") for dest, field in names.items()}
    values = {
        field: getattr(args, dest)
        for dest, field in names.items()
        if getattr(args, dest, None) is not None
    }
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{option.get(str(e['loc'][0]), e['loc'][0])} {values.get(str(e['loc'][0]))!r}: "
            f"{e['msg']}"
            for e in exc.errors()
        )
        raise HydroDiagError(f"invalid option value — {problems}.") from None
