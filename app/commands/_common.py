"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ingestion.resources import default_workspace_path
from ingestion.workspace import Store, open_workspace


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
    "batch_size": "batch_size",
    "lr": "lr",
    "hidden": "hidden_channels",
    "heads": "heads",
    "layers": "num_layers",
    "patience": "patience",
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
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--hidden", type=int, help="hidden channels")
    parser.add_argument("--heads", type=int, help="attention heads")
    parser.add_argument("--layers", type=int, help="GATv2 layers per time step")
    parser.add_argument("--patience", type=int, help="early-stopping patience (epochs)")
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


def train_config(args: argparse.Namespace) -> Any:
    """The ``TrainConfig`` of the :data:`CONFIG_OPTIONS` the user set; the rest keep their
    defaults.

    Raises:
        HydroDiagError: naming the option and what it accepts, for a value the config refuses.
    """
    from pydantic import ValidationError

    from ingestion.errors import HydroDiagError
    from training.train import TrainConfig

    option = {field: "--" + dest.replace("_", "-") for dest, field in CONFIG_OPTIONS.items()}
    values = {
        field: getattr(args, dest)
        for dest, field in CONFIG_OPTIONS.items()
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


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """How ``--equipment`` data is cut into windows (see :func:`labelled_windows`)."""
    parser.add_argument(
        "--window",
        type=float,
        metavar="SECONDS",
        help="with --equipment: sliding windows this long (default for a continuous log: 60; "
        "an equipment with load cycles: one window per cycle unless given)",
    )
    parser.add_argument(
        "--stride",
        type=float,
        metavar="SECONDS",
        help="seconds between sliding windows' starts (default: --window, back to back)",
    )
    parser.add_argument(
        "--rate", type=float, metavar="HZ", help="resample every sensor to this rate (default 1)"
    )


def labelled_windows(
    args: argparse.Namespace, uci_dir: Path | None, profile_id: str
) -> tuple[Any, Any, str]:
    """``(LabelledWindows, EquipmentProfile, description)`` of a UCI folder (with the profile
    ``profile_id``) or of the workspace's ``--equipment``, cut per :func:`add_window_options`.

    Raises:
        HydroDiagError: neither or both given, or window options with a UCI folder.
    """
    from ingestion.errors import HydroDiagError
    from ingestion.profiles import load_profile
    from training.datasets import from_uci_folder, from_workspace

    if uci_dir is not None:
        windowing = [
            option
            for option, value in (
                ("--window", args.window),
                ("--stride", args.stride),
                ("--rate", args.rate),
            )
            if value is not None
        ]
        if args.equipment is not None:
            raise HydroDiagError("give either --equipment ID or a UCI folder, not both.")
        if windowing:
            raise HydroDiagError(
                f"{', '.join(windowing)}: a UCI folder is one window per 60 s cycle at 1 Hz; "
                "these options cut a workspace's logs (--equipment)."
            )
        return from_uci_folder(uci_dir), load_profile(profile_id), f"UCI folder {uci_dir}"
    if args.equipment is None:
        raise HydroDiagError("give --equipment ID (data in the workspace) or a UCI folder.")
    windows, profile = from_workspace(
        workspace_path(args),
        args.equipment,
        rate_hz=1.0 if args.rate is None else args.rate,
        window_s=args.window,
        stride_s=args.stride,
    )
    return windows, profile, f"equipment {args.equipment} of {workspace_path(args)}"
