"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from ingestion.resources import default_workspace_path
from ingestion.workspace import Store, open_workspace
from training.config import TrainConfig

if TYPE_CHECKING:
    from ingestion.profiles import EquipmentProfile
    from training.datasets import LabelledWindows


def workspace_path(args: argparse.Namespace) -> Path:
    path: Path | None = getattr(args, "workspace", None)
    return path if path is not None else default_workspace_path()


def open_store(args: argparse.Namespace, *, read_only: bool = False) -> Store:
    return open_workspace(workspace_path(args), read_only=read_only)


# `train` and `evaluate cv` take the same training-config options: the CV must be able to score
# exactly the configuration `train` ships. Option dest -> TrainConfig field; each option's
# type, choices, help and default come from its field (see add_config_options).
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
    "discriminant_nodes": "discriminant_nodes",
    "discriminant_hops": "discriminant_hops",
    "discriminant_offset": "discriminant_offset",
    "discriminant_noise": "discriminant_noise",
    "discriminant_scale": "discriminant_scale",
    "discriminant_variation": "discriminant_variation",
    "discriminant_choose_radius": "discriminant_choose_radius",
}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _value_type(annotation: object) -> tuple[type[Any], tuple[object, ...] | None]:
    """(argparse ``type``, ``choices``) of a TrainConfig field's annotation: a Literal gives
    its values as the choices, an optional type its non-None part."""
    if get_origin(annotation) is Literal:
        values = get_args(annotation)
        return type(values[0]), values
    if get_origin(annotation) in (Union, UnionType):
        (inner,) = (a for a in get_args(annotation) if a is not NoneType)
        return _value_type(inner)
    for plain in (bool, int, float, str):
        if annotation is plain:
            return plain, None
    raise TypeError(f"no command-line option for a TrainConfig field of type {annotation!r}")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per :data:`CONFIG_OPTIONS` entry, typed, described and defaulted by its
    TrainConfig field. Unset options stay None: :func:`train_config` leaves those fields at
    the config's default, so the two cannot drift apart."""
    for dest, name in CONFIG_OPTIONS.items():
        field = TrainConfig.model_fields[name]
        value_type, choices = _value_type(field.annotation)
        default = field.default
        shown = ("on" if default else "off") if isinstance(default, bool) else default
        described = (field.description or "").replace("%", "%%")  # argparse %-formats help
        help_text = f"{described} (default {shown})"
        if value_type is bool:
            parser.add_argument(
                _flag(dest), action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            parser.add_argument(_flag(dest), type=value_type, choices=choices, help=help_text)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of the :data:`CONFIG_OPTIONS` the user set; the rest keep their
    defaults.

    Raises:
        HydroDiagError: naming the option and what it accepts, for a value the config refuses.
    """
    from pydantic import ValidationError

    from ingestion.errors import HydroDiagError

    option = {field: _flag(dest) for dest, field in CONFIG_OPTIONS.items()}
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
) -> tuple[LabelledWindows, EquipmentProfile, str]:
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
