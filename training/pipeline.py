"""Whole jobs behind the CLI: train and ship a model folder; cross-validate model and baselines."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gnn.graph import GraphSpec
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.progress import NO_PROGRESS, Progress
from training.config import TrainConfig
from training.datasets import LabelledWindows

if TYPE_CHECKING:
    from training.evaluate import Predictor
    from training.export import ModelMeta
    from training.train import EpochRecord, TrainResult

CHECKPOINT_FILE = "model.pt"
ONNX_FILE = "model.onnx"


def train_and_save(
    windows: LabelledWindows,
    profile: EquipmentProfile,
    out_dir: Path,
    config: TrainConfig,
    *,
    model_id: str,
    model_version: str,
    command: str,
    cv_report: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
    progress: Progress = NO_PROGRESS,
    log: Callable[[str], None] | None = None,
    resume: bool = False,
    device: str = "auto",
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> dict[str, Any] | None:
    """Train on ``windows``, write model.pt, model.onnx (parity-checked), card.json and card.md.
    ``on_epoch`` gets every epoch's record besides the line ``log`` prints (the retraining
    tab's worker streams it).

    Under ``torchrun`` only rank 0 writes the folder and returns the card; the other ranks
    return None once training is done. The training state after every epoch stays in
    ``out_dir/checkpoints/`` until the folder is written; ``resume`` continues from it.

    Raises:
        HydroDiagError: ``out_dir`` holds an interrupted run and ``resume`` is off (it would
            be overwritten), or ``resume`` is on and there is nothing (compatible) to resume.
    """
    from training import checkpoint
    from training.card import build_card, write_card
    from training.distributed import distributed_rank
    from training.train import make_tensors, sensor_dependence, train_model

    spec = GraphSpec.from_profile(profile)
    say = log or _print
    state_file = out_dir / "checkpoints" / checkpoint.FILE
    if state_file.exists() and not resume:
        raise HydroDiagError(
            f"{state_file} holds an interrupted run: add --resume to continue it, or delete "
            f"{state_file.parent} to start over."
        )

    def epoch_done(record: EpochRecord) -> None:
        say(_epoch_line(record))
        if on_epoch is not None:
            on_epoch(record)

    result = train_model(
        spec,
        windows,
        config,
        progress=progress,
        on_epoch=epoch_done,
        checkpoint_dir=state_file.parent,
        resume=resume,
        device=device,
    )
    if distributed_rank()[0] != 0:
        return None
    dependence = sensor_dependence(
        result.model,
        result.spec,
        make_tensors(result.spec, windows, result.fault_types),
        result.graded_components,
    )
    meta = _model_meta(result, windows, dependence, model_id, model_version)
    out_dir.mkdir(parents=True, exist_ok=True)
    worst = _save_and_export(result, meta, out_dir, say)
    card = build_card(
        result,
        windows,
        model_id=model_id,
        model_version=model_version,
        command=command,
        cv_report=cv_report,
        notes=notes,
    )
    card["onnx_parity_max_abs_diff"] = worst
    card["sensor_dependence"] = _dependence_section(dependence, meta.required_sensors)
    write_card(out_dir, card)
    # the run is complete: nothing left to resume
    state_file.unlink(missing_ok=True)
    if state_file.parent.is_dir() and not any(state_file.parent.iterdir()):
        state_file.parent.rmdir()
    return card


def _epoch_line(record: EpochRecord) -> str:
    acc = "  ".join(f"{c} {100 * a:.1f}" for c, a in record.val_accuracy.items())
    val = f"  val loss {record.val_loss:.4f}  {acc}" if record.val_loss is not None else ""
    return f"epoch {record.epoch:3d}  loss {record.train_loss:.4f}{val}  ({record.seconds:.1f} s)"


def _model_meta(
    result: TrainResult,
    windows: LabelledWindows,
    dependence: Mapping[str, Mapping[str, float]],
    model_id: str,
    model_version: str,
) -> ModelMeta:
    """What the checkpoint and the ONNX file carry besides the weights."""
    from gnn.contract import REQUIRED_SENSOR_DROP
    from training.export import ModelMeta, fault_components_from_targets
    from training.train import required_sensors

    return ModelMeta(
        model_id=model_id,
        model_version=model_version,
        graph_spec=result.spec,
        fault_types=result.fault_types,
        graded_components=result.graded_components,
        forecast_reference=result.forecast_reference,
        fault_components=fault_components_from_targets(
            windows.fault_types, result.fault_types, result.graded_components
        ),
        required_sensors=required_sensors(dependence, REQUIRED_SENSOR_DROP),
    )


def _save_and_export(
    result: TrainResult, meta: ModelMeta, out_dir: Path, log: Callable[[str], None]
) -> float:
    """Write model.pt and model.onnx; the largest torch-vs-ONNX difference of the parity check.

    Raises:
        RuntimeError: the ONNX export differs from torch by more than the tolerance.
    """
    from training.export import (
        PARITY_TOLERANCE,
        default_parity_cases,
        export_onnx,
        parity_check,
        save_checkpoint,
    )

    extra = {"config": result.config.model_dump()}
    save_checkpoint(out_dir / CHECKPOINT_FILE, result.model, meta, extra)
    onnx_path = export_onnx(result.model, meta, out_dir / ONNX_FILE)
    cases = default_parity_cases(
        result.spec, graph_agnostic=result.model.discriminant_frequencies == 0
    )
    report = parity_check(result.model, onnx_path, cases)
    worst = max(max(r.values()) for r in report)
    log(f"ONNX parity: max abs difference {worst:.2e} (tolerance {PARITY_TOLERANCE:g})")
    if worst > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export differs from torch by {worst:.2e}")
    return worst


def _dependence_section(
    dependence: Mapping[str, Mapping[str, float]], required: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    """The card's ``sensor_dependence``: accuracy without each sensor, and what is required."""
    from gnn.contract import REQUIRED_SENSOR_DROP

    return {
        "what": "grade accuracy on the training windows with all sensors, and with each "
        "sensor masked out alone (every k-th window, at most about 600); the engine leaves a "
        "component ungraded in windows where a sensor whose absence costs it more than "
        f"{100 * REQUIRED_SENSOR_DROP:g} percentage points is missing",
        "accuracy": dependence,
        "required": required,
    }


def _print(line: str) -> None:
    print(line, flush=True)


def cross_validate_config(
    windows: LabelledWindows,
    profile: EquipmentProfile,
    config: TrainConfig,
    *,
    sensors: Sequence[str],
    n_folds: int = 5,
    block_size: int = 100,
    folds: Sequence[int] | None = None,
    with_model: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Blocked CV of the model in ``config`` and the LDA baselines (on ``sensors``) on the same
    folds: the report ``hydrodiag evaluate cv`` writes and a card's cross-validation holds."""
    from training.baselines import BASELINES
    from training.evaluate import cross_validate

    methods: dict[str, Predictor] = {}
    if with_model:
        methods["gnn"] = gnn_predictor(profile, config)
    for name in BASELINES:
        methods[name] = baseline_predictor(name, list(sensors))
    report = cross_validate(windows, methods, n_folds=n_folds, block_size=block_size, folds=folds)
    report["command"] = command
    report["config"] = config.model_dump()
    report["data"] = [s.__dict__ for s in windows.sources]
    return report


def gnn_predictor(
    profile: EquipmentProfile, config: TrainConfig, log: Callable[[str], None] = print
) -> Callable[[LabelledWindows, LabelledWindows], dict[str, np.ndarray]]:
    """A cross-validation method: train on the fold's training windows, predict its validation."""
    from training.train import make_tensors, predict_grades, train_model

    def predict(train: LabelledWindows, val: LabelledWindows) -> dict[str, np.ndarray]:
        spec = GraphSpec.from_profile(profile)
        result = train_model(spec, train, config)
        log(
            f"    gnn: {len(result.history)} epochs (kept {result.best_epoch}), "
            f"{result.seconds:.0f} s"
        )
        data = make_tensors(result.spec, val, result.fault_types)
        pred = predict_grades(result.model, data, np.arange(val.n_windows))
        return {
            c: pred[:, result.spec.node_ids.index(c)]
            for c in val.grades
            if c in result.spec.node_ids
        }

    return predict


def baseline_predictor(
    method: str, sensors: list[str]
) -> Callable[[LabelledWindows, LabelledWindows], dict[str, np.ndarray]]:
    from training.baselines import fit_predict

    def predict(train: LabelledWindows, val: LabelledWindows) -> dict[str, np.ndarray]:
        return fit_predict(method, train, val, sensors)

    return predict


def command_line(omit: Sequence[str] = (), omit_flags: Sequence[str] = ()) -> str:
    """The running ``hydrodiag`` command, without the options in ``omit`` (and their values)
    and the flags in ``omit_flags``: what a card records is the command that reproduces the
    model, not its decorations."""
    args, kept = list(sys.argv[1:]), []
    while args:
        arg = args.pop(0)
        name = arg.split("=", 1)[0]
        if name in omit_flags:
            continue
        if name in omit:
            if "=" not in arg and args:
                args.pop(0)
            continue
        kept.append(shlex.quote(arg))
    return " ".join(["hydrodiag", *kept])
