"""Fine-tuning a graded model on a user's labelled data of the same profile.

The case: the reference rig after a sensor was replaced (a new calibration), or a second rig
of the same build. The base model keeps its graph, its architecture and — unlike a training
run — its normalisation statistics: the new data is expressed in the base model's units, so
what the base learned still applies and only the difference has to be learned. It trains a few
epochs at a low learning rate on the user's windows mixed with a replay sample of the
reference data (the data the base model was trained on, when it is known), so that it does
not forget the reference. Early stopping watches held-out contiguous blocks of *both*; the
base model's own weights are the candidate of epoch 0, so a fine-tune that helps neither is
never kept. The closed-form discriminants are refitted on the union afterwards, and the model
is exported with the same parity check as a trained one; its card names the parent model, the
data, what was replayed and the accuracy before and after on both held-out sets.

Typical use (``hydrodiag train --equipment rig --finetune-from zema-rig-gatv2-lstm@1.6.0``)::

    base = load_base("zema-rig-gatv2-lstm@1.6.0")
    check_profile(base, profile)
    card = finetune_and_save(base, windows, out_dir, model_id=..., model_version=...,
                             replay=reference_windows(base, profile), command=...)
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gnn.graph import GraphSpec, profile_sha256
from gnn.model import TemporalGNN
from ingestion.errors import HydroDiagError
from ingestion.model_registry import ModelKey
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress
from training import checkpoint
from training.config import TrainConfig
from training.datasets import LabelledWindows, validation_blocks
from training.distributed import hardware_info, leave
from training.export import ModelMeta, load_checkpoint
from training.train import (
    EpochRecord,
    Tensors,
    TrainResult,
    _Data,
    _fit_discriminants,
    _run_epochs,
    _set_up_fit,
    _start_process,
    _validate,
    forecast_reference,
    make_tensors,
)

if TYPE_CHECKING:
    from ingestion.workspace import Store

CHECKPOINT_FILE = "model.pt"
REPO = Path(__file__).resolve().parents[1]
# The reference rig's cycles ship with HydroDiag (data/README.md): the replay data of a model
# trained on them.
REFERENCE_ARCHIVE = REPO / "data" / "uci-hydraulic-1hz.tar.xz"
# Fine-tuning defaults: a few epochs at a tenth of the training learning rate.
DEFAULT_EPOCHS = 8
DEFAULT_LR = 5e-4
DEFAULT_PATIENCE = 3
# What a fine-tune may change of the base model's training configuration; everything else
# (architecture, normalisation, discriminant settings) is the base model's.
TUNABLE = frozenset(
    {"seed", "epochs", "batch_size", "lr", "weight_decay", "patience", "val_fraction", "threads"}
)


@dataclass(frozen=True)
class BaseModel:
    """The model to fine-tune, rebuilt from its checkpoint."""

    model: TemporalGNN
    meta: ModelMeta
    config: TrainConfig
    checkpoint: Path
    card: dict[str, Any]

    @property
    def key(self) -> ModelKey:
        return ModelKey(self.meta.model_id, self.meta.model_version)


def _checkpoint_of(ref: str, store: Store | None) -> Path:
    """The checkpoint behind ``ref``: a model folder, a ``.pt`` file, or a built-in / stored
    model's reference ``ID@VERSION``."""
    path = Path(ref)
    if path.is_dir():
        return path / CHECKPOINT_FILE
    if path.suffix == ".pt" or path.is_file():
        return path
    from gnn import registry

    if store is not None:
        entry = registry.get_model(store, ref)
    else:
        model_id, version = registry.parse_model_ref(ref)
        found = [
            e
            for e in registry.builtin_models()
            if e.id == model_id and version in (None, e.version)
        ]
        if len(found) != 1:
            raise HydroDiagError(
                f"--finetune-from {ref}: no built-in model of that name (give a model folder "
                "written by `hydrodiag train`, or ID@VERSION from `hydrodiag model list`)."
            )
        entry = found[0]
    if entry.path is not None:
        return Path(entry.path).parent / CHECKPOINT_FILE
    folder = _trained_folder(entry.note, entry.sha256)
    if folder is None:
        raise HydroDiagError(
            f"--finetune-from {ref}: the workspace holds model {entry.key} as ONNX only, and "
            "fine-tuning needs its training checkpoint (model.pt): give the model folder "
            "`hydrodiag train` wrote for it instead."
        )
    return folder / CHECKPOINT_FILE


def _trained_folder(note: str, sha256: str) -> Path | None:
    """The model folder a stored model was registered from (`hydrodiag train` notes it),
    while it still holds that model: its model.onnx has the stored bytes, and a model.pt."""
    prefix = "model folder "
    if not note.startswith(prefix):
        return None
    folder = Path(note[len(prefix) :])
    onnx, pt = folder / "model.onnx", folder / CHECKPOINT_FILE
    if not (onnx.is_file() and pt.is_file()) or _sha256(onnx) != sha256:
        return None
    return folder


def load_base(ref: str, store: Store | None = None) -> BaseModel:
    """The base model named by ``ref`` (folder, ``.pt`` file or ``ID@VERSION``).

    Raises:
        HydroDiagError: no such model, or it has no checkpoint to start from.
    """
    path = _checkpoint_of(ref, store)
    if not path.is_file():
        raise HydroDiagError(
            f"--finetune-from {ref}: {path} does not exist; fine-tuning starts from a model's "
            "training checkpoint (model.pt), which this model does not ship with. Give the "
            "model folder `hydrodiag train` wrote."
        )
    model, meta, extra = load_checkpoint(path)
    if not meta.graded_components:
        raise HydroDiagError(
            f"--finetune-from {ref}: model {meta.model_id} {meta.model_version} grades no "
            "component; fine-tuning adapts a graded model's grades to labelled data."
        )
    card_file = path.parent / "card.json"
    import json

    card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
    config = TrainConfig(**extra.get("config", {}))
    return BaseModel(model, meta, config, path, card)


def check_profile(base: BaseModel, profile: EquipmentProfile) -> None:
    """Refuse a base model made for another profile (or another graph of the same name)."""
    spec = base.meta.graph_spec
    if spec.profile_id != profile.id:
        raise HydroDiagError(
            f"model {base.key} was trained for profile '{spec.profile_id}', this equipment has "
            f"profile '{profile.id}': a fine-tune keeps the base model's graph, so pick a base "
            "model of the same profile, or train from scratch (leave out --finetune-from)."
        )
    if profile_sha256(spec) != profile_sha256(GraphSpec.from_profile(profile)):
        raise HydroDiagError(
            f"model {base.key} was trained for another version of profile '{profile.id}' "
            "(its sensors or connections differ): pick a base model made for this version, or "
            "train from scratch (leave out --finetune-from)."
        )


def finetune_config(base: BaseModel, **changes: Any) -> TrainConfig:
    """The base model's configuration with the fine-tuning defaults and ``changes`` (only the
    :data:`TUNABLE` fields; None values are left out).

    Raises:
        HydroDiagError: a change of a field the fine-tune must keep from its base.
    """
    given = {k: v for k, v in changes.items() if v is not None}
    fixed = sorted(k for k in given if k not in TUNABLE)
    if fixed:
        raise HydroDiagError(
            f"{', '.join('--' + k.replace('_', '-') for k in fixed)}: a fine-tuned model keeps "
            "its base model's architecture, normalisation and discriminant settings; leave "
            "these out, or train from scratch (without --finetune-from)."
        )
    update = {
        "epochs": DEFAULT_EPOCHS,
        "lr": DEFAULT_LR,
        "patience": DEFAULT_PATIENCE,
        "val_fraction": 0.2,
    } | given
    return TrainConfig(**(base.config.model_dump() | update))


def reference_windows(base: BaseModel, profile: EquipmentProfile) -> LabelledWindows | None:
    """The reference cycles to replay: the shipped UCI archive when the base model was trained
    on UCI cycles of this profile; None when the base model's data is not at hand."""
    sources = base.card.get("data", {}).get("sources", [])
    if profile.id != base.meta.graph_spec.profile_id or not REFERENCE_ARCHIVE.is_file():
        return None
    if not any(s.get("kind") == "uci-folder" for s in sources):
        return None
    from training.datasets import from_uci_folder

    return from_uci_folder(REFERENCE_ARCHIVE)


def _cat(a: Tensors, b: Tensors | None) -> Tensors:
    if b is None:
        return a
    return replace(
        a,
        x=torch.cat([a.x, b.x]),
        mask=torch.cat([a.mask, b.mask]),
        grades=torch.cat([a.grades, b.grades]),
        faults=torch.cat([a.faults, b.faults]),
    )


@dataclass
class Split:
    """The windows of a fine-tune: (train, held-out) of the user's data and of the replay."""

    user_train: LabelledWindows
    user_val: LabelledWindows
    replay_train: LabelledWindows | None
    replay_val: LabelledWindows | None


def split_data(
    windows: LabelledWindows,
    replay: LabelledWindows | None,
    config: TrainConfig,
    *,
    replay_ratio: float = 1.0,
    block_size: int = 100,
) -> Split:
    """Held-out contiguous blocks of the user's windows and of the replay data, and a replay
    training sample of ``replay_ratio`` times the user's training windows (evenly spaced)."""
    block = max(10, min(block_size, windows.n_windows // 10))
    tr, va = validation_blocks(windows.n_windows, config.val_fraction, block, seed=config.seed)
    user_train, user_val = windows.subset(tr), windows.subset(va)
    if replay is None or replay.n_windows == 0:
        return Split(user_train, user_val, None, None)
    rtr, rva = validation_blocks(replay.n_windows, config.val_fraction, block_size, config.seed)
    n = min(len(rtr), max(1, round(replay_ratio * len(tr))))
    pick = rtr[np.unique(np.linspace(0, len(rtr) - 1, n).round().astype(int))]
    # the held-out replay windows: as many as the user's, evenly over the held-out blocks
    m = min(len(rva), max(1, len(va)))
    held = rva[np.unique(np.linspace(0, len(rva) - 1, m).round().astype(int))]
    return Split(user_train, user_val, replay.subset(pick), replay.subset(held))


def accuracy(
    model: TemporalGNN, spec: GraphSpec, data: Tensors, graded: tuple[str, ...]
) -> dict[str, float]:
    """Grade accuracy per graded component on ``data`` (labelled windows only)."""
    _, acc = _validate(model, data, spec, graded, TrainConfig(), torch.device("cpu"))
    return {c: round(a, 4) for c, a in acc.items()}


@dataclass
class FinetuneResult:
    """The fine-tuned model as a :class:`TrainResult` and the before/after figures."""

    result: TrainResult
    figures: dict[str, dict[str, dict[str, float]]]  # {"user"|"reference": {"base"|"tuned": acc}}
    split: Split
    parent_discriminants: tuple[str, ...] = ()  # components that kept the parent's


def finetune_model(
    base: BaseModel,
    windows: LabelledWindows,
    config: TrainConfig,
    *,
    replay: LabelledWindows | None = None,
    replay_ratio: float = 1.0,
    progress: Progress = NO_PROGRESS,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    device: str = "auto",
) -> FinetuneResult:
    """Fine-tune a copy of ``base.model`` on ``windows`` (+ a replay sample of ``replay``) in
    the base model's normalisation; the best epoch on the held-out blocks of both is kept
    (epoch 0: the base model itself), and the discriminants are refitted on the union."""
    started = time.perf_counter()
    process = _start_process(config, device)
    spec, meta = base.meta.graph_spec, base.meta
    split = split_data(windows, replay, config, replay_ratio=replay_ratio)

    def tensors(w: LabelledWindows | None) -> Tensors | None:
        return None if w is None else make_tensors(spec, w, meta.fault_types)

    user_val, replay_val = tensors(split.user_val), tensors(split.replay_val)
    user_train = tensors(split.user_train)
    assert user_train is not None and user_val is not None
    train = _cat(user_train, tensors(split.replay_train))
    val = _cat(user_val, replay_val)
    data = _Data(spec, meta.graded_components, meta.fault_types, train, val)
    model = copy.deepcopy(base.model).to(process.device)
    before = _figures(base.model, spec, meta.graded_components, user_val, replay_val)
    fit = _set_up_fit(model, config, process, train, None)
    base_loss, _ = _validate(model, val, spec, meta.graded_components, config, process.device)
    run = checkpoint.RunState(0, 0, False, base_loss, 0, copy.deepcopy(model.state_dict()), [])
    history, best_epoch, best_state = _run_epochs(
        fit, data, config, process, run, progress, on_epoch
    )
    leave(process)
    model.load_state_dict(best_state)
    model = model.cpu().eval()
    node_faults = dict(windows.fault_types) | (dict(replay.fault_types) if replay else {})
    parent_buffers = _discriminant_buffers(model)
    discriminants = _fit_discriminants(model, data, node_faults, config)
    kept = _keep_better_discriminants(model, spec, meta.graded_components, parent_buffers, val)
    discriminants = [d for d in discriminants if d.component not in kept]
    reference = forecast_reference(model, spec, train, np.arange(train.x.shape[0]))
    after = _figures(model, spec, meta.graded_components, user_val, replay_val)
    result = TrainResult(
        model=model,
        spec=spec,
        fault_types=meta.fault_types,
        graded_components=meta.graded_components,
        config=config,
        history=history,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - started,
        n_train=int(train.x.shape[0]),
        n_val=int(val.x.shape[0]),
        hardware=hardware_info(process.device),
        forecast_reference=reference,
        discriminants=discriminants,
    )
    figures = {k: {"base": before[k], "tuned": after[k]} for k in before}
    return FinetuneResult(result, figures, split, kept)


DISCRIMINANT_BUFFERS = ("disc_weight", "disc_bias", "disc_gate", "disc_fault")


def _discriminant_buffers(model: TemporalGNN) -> dict[str, torch.Tensor]:
    if not model.discriminant_frequencies:
        return {}
    return {name: getattr(model, name).clone() for name in DISCRIMINANT_BUFFERS}


@torch.no_grad()
def _keep_better_discriminants(
    model: TemporalGNN,
    spec: GraphSpec,
    graded: tuple[str, ...],
    parent: Mapping[str, torch.Tensor],
    val: Tensors,
) -> tuple[str, ...]:
    """Per graded component, the parent's discriminant where it grades the held-out
    early-stopping blocks better than the refitted one (ties keep the refit); the components
    that keep the parent's.

    A refit on a union of two calibrations can blur what separated the grades in either (a
    component without sensors is graded by its discriminant alone); the held-out blocks are
    part of the training data, so this choice sees nothing the evaluation holds out.
    """
    if not parent:
        return ()
    refit = _discriminant_buffers(model)
    with_refit = accuracy(model, spec, val, graded)
    for name, value in parent.items():
        getattr(model, name).copy_(value)
    with_parent = accuracy(model, spec, val, graded)
    kept = tuple(c for c in graded if with_parent.get(c, 0.0) > with_refit.get(c, 0.0))
    for name, value in refit.items():
        buffer = getattr(model, name)
        for c in graded:
            if c not in kept:
                j = spec.node_ids.index(c)
                buffer[j] = value[j]
    return kept


def _figures(
    model: TemporalGNN,
    spec: GraphSpec,
    graded: tuple[str, ...],
    user_val: Tensors,
    replay_val: Tensors | None,
) -> dict[str, dict[str, float]]:
    out = {"user": accuracy(model, spec, user_val, graded)}
    if replay_val is not None:
        out["reference"] = accuracy(model, spec, replay_val, graded)
    return out


def _ranges(w: LabelledWindows | None) -> dict[str, Any] | None:
    if w is None or not w.n_windows:
        return None
    return {
        "windows": w.n_windows,
        "first_window_id": int(w.window_ids.min()),
        "last_window_id": int(w.window_ids.max()),
        "sources": [s.__dict__ for s in w.sources],
    }


def fine_tuning_section(base: BaseModel, tuned: FinetuneResult) -> dict[str, Any]:
    """The card's ``fine_tuning``: parent, data, replay and accuracy before and after."""
    split = tuned.split
    return {
        "parent": str(base.key),
        "parent_checkpoint_sha256": _sha256(base.checkpoint),
        "normalisation": "the parent's, unchanged (not refitted on the new data)",
        "data": {"train": _ranges(split.user_train), "held_out": _ranges(split.user_val)},
        "replay": {
            "what": "evenly spaced windows of the parent's training data outside the held-out "
            "blocks, mixed into every epoch"
            if split.replay_train is not None
            else "none: the parent's training data is not at hand",
            "train": _ranges(split.replay_train),
            "held_out": _ranges(split.replay_val),
        },
        "early_stopping": "lowest grade loss on the held-out contiguous blocks of the new data "
        "and of the replayed data together; epoch 0 is the parent itself",
        "discriminants": "refitted on the union of both training parts, except where the "
        "parent's graded the held-out blocks better: "
        + (", ".join(tuned.parent_discriminants) or "none"),
        "held_out_accuracy": tuned.figures,
        "note": "the replayed held-out windows may have been in the parent's own training "
        "data: there they measure what the fine-tune kept, not how the parent generalises",
    }


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def finetune_and_save(
    base: BaseModel,
    windows: LabelledWindows,
    out_dir: Path,
    config: TrainConfig,
    *,
    model_id: str,
    model_version: str,
    command: str,
    replay: LabelledWindows | None = None,
    notes: list[str] | None = None,
    progress: Progress = NO_PROGRESS,
    log: Callable[[str], None] = print,
    device: str = "auto",
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune, then write model.pt, model.onnx (parity-checked), card.json and card.md;
    ``on_epoch`` also gets every epoch's record (the retraining tab's curves)."""
    from gnn.contract import REQUIRED_SENSOR_DROP
    from training.card import build_card, write_card
    from training.pipeline import _dependence_section, _epoch_line, _save_and_export
    from training.train import required_sensors, sensor_dependence

    def each_epoch(record: EpochRecord) -> None:
        log(_epoch_line(record))
        if on_epoch is not None:
            on_epoch(record)

    tuned = finetune_model(
        base,
        windows,
        config,
        replay=replay,
        progress=progress,
        on_epoch=each_epoch,
        device=device,
    )
    result = tuned.result
    dependence = sensor_dependence(
        result.model,
        result.spec,
        make_tensors(result.spec, windows, result.fault_types),
        result.graded_components,
    )
    meta = base.meta.model_copy(
        update={
            "model_id": model_id,
            "model_version": model_version,
            "forecast_reference": result.forecast_reference,
            "required_sensors": required_sensors(dependence, REQUIRED_SENSOR_DROP),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    worst = _save_and_export(result, meta, out_dir, log)
    card = build_card(
        result,
        windows,
        model_id=model_id,
        model_version=model_version,
        command=command,
        notes=[f"fine-tuned from {base.key}", *(notes or [])],
    )
    card["parent"] = str(base.key)
    card["onnx_parity_max_abs_diff"] = worst
    card["sensor_dependence"] = _dependence_section(dependence, meta.required_sensors)
    card["fine_tuning"] = fine_tuning_section(base, tuned)
    write_card(out_dir, card)
    with (out_dir / "card.md").open("a", encoding="utf-8") as md:
        md.write(fine_tuning_markdown(card["fine_tuning"]))
    for part, fig in tuned.figures.items():
        log(f"held-out {part}: base {_acc_line(fig['base'])}; fine-tuned {_acc_line(fig['tuned'])}")
    return card


def fine_tuning_markdown(section: Mapping[str, Any]) -> str:
    """The card's ``fine_tuning`` as a Markdown section (appended to card.md)."""
    lines = [
        "",
        "## Fine-tuning",
        "",
        f"- Parent: `{section['parent']}` (checkpoint sha256 "
        f"`{section['parent_checkpoint_sha256'][:16]}…`); normalisation: "
        f"{section['normalisation']}",
        f"- Replay: {section['replay']['what']}",
        f"- Early stopping: {section['early_stopping']}",
        f"- Discriminants: {section['discriminants']}",
    ]
    for part, fig in section["held_out_accuracy"].items():
        lines.append(
            f"- Held-out {part} windows, grade accuracy %: parent {_acc_line(fig['base'])}; "
            f"fine-tuned {_acc_line(fig['tuned'])}"
        )
    lines += [f"- Note: {section['note']}", ""]
    return "\n".join(lines)


def _acc_line(acc: Mapping[str, float]) -> str:
    return "  ".join(f"{c} {100 * a:.1f}" for c, a in acc.items())
