"""`hydrodiag train --finetune-from MODEL`: fine-tune a graded model on an equipment's labelled
data (:mod:`training.finetune`), write the model folder and register it with its parent."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands._common import CONFIG_OPTIONS, _flag, labelled_windows, open_store
from ingestion.errors import HydroDiagError


def finetune_options(args: argparse.Namespace) -> dict[str, Any]:
    """{TrainConfig field: value} of the config options given; refuses those a fine-tune
    keeps from its base model, naming them as the user wrote them."""
    from training.finetune import TUNABLE

    given = {
        field: getattr(args, dest)
        for dest, field in CONFIG_OPTIONS.items()
        if getattr(args, dest, None) is not None
    }
    fixed = [_flag(d) for d, f in CONFIG_OPTIONS.items() if f in given and f not in TUNABLE]
    if fixed:
        raise HydroDiagError(
            f"{', '.join(fixed)}: a fine-tuned model keeps its base model's architecture, "
            "normalisation and discriminant settings; leave these out, or train from scratch "
            "(without --finetune-from)."
        )
    return given


def run_finetune(args: argparse.Namespace, model_name: tuple[str, str], command: str) -> Any:
    """Fine-tune ``args.finetune_from`` on ``--equipment``'s labelled windows; the card."""
    from ingestion.progress import TerminalProgress
    from training.finetune import (
        check_profile,
        finetune_and_save,
        finetune_config,
        load_base,
        reference_windows,
    )

    if args.equipment is None:
        raise HydroDiagError(
            "--finetune-from adapts a model to an equipment's labelled data: give --equipment ID."
        )
    options = finetune_options(args)
    with open_store(args, read_only=True) as store:
        base = load_base(args.finetune_from, store)
    windows, profile, source = labelled_windows(args, None, args.profile)
    check_profile(base, profile)
    config = finetune_config(base, **options)
    replay = reference_windows(base, profile)
    print(
        f"fine-tuning {base.key} on {windows.n_windows} windows from {source}; replaying "
        + (f"{replay.n_windows} reference cycles" if replay is not None else "nothing")
        + f"; at most {config.epochs} epoch{'' if config.epochs == 1 else 's'} at lr {config.lr:g}"
    )
    model_id, model_version = model_name
    return finetune_and_save(
        base,
        windows,
        args.out,
        config,
        model_id=model_id,
        model_version=model_version,
        command=command,
        replay=replay,
        notes=list(args.note or []),
        progress=TerminalProgress(),
        device=args.device,
    )
