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
    from training.evaluate import Grader, Method, Scheme
    from training.export import ModelMeta
    from training.train import EpochRecord, TrainResult

CHECKPOINT_FILE = "model.pt"
ONNX_FILE = "model.onnx"
RELIABILITY_FILE = "reliability.png"


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
    other_reports: Sequence[Mapping[str, Any]] = (),
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

    ``cv_report`` is the validation the card leads with (``other_reports`` go beside it).
    When it holds the model's held-out grade log-probabilities (``evaluate cv`` of the same
    options), the grade probabilities are calibrated on them before export
    (:mod:`training.calibration`), and the card gets the reliability diagram
    (``reliability.png``) and the expected calibration error.

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
    if cv_report is not None:
        check_report_config(cv_report, config)
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
    section = _calibrate(result, cv_report, say) if cv_report is not None else None
    meta = _model_meta(result, windows, dependence, model_id, model_version)
    if section is not None:
        from training.calibration import temperatures

        meta = meta.model_copy(
            update={
                "calibration": {"scheme": section["scheme"], "temperatures": temperatures(section)}
            }
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    worst = _save_and_export(result, meta, out_dir, say)
    if section is not None:
        from training.reliability_plot import write_reliability_png

        write_reliability_png(section, out_dir / RELIABILITY_FILE)
    card = build_card(
        result,
        windows,
        model_id=model_id,
        model_version=model_version,
        command=command,
        cv_report=cv_report,
        other_reports=other_reports,
        calibration=section,
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


def check_report_config(report: Mapping[str, Any], config: TrainConfig) -> None:
    """A report whose held-out predictions calibrate a model must come from that model's
    options (the number of threads aside, which changes no result).

    Raises:
        HydroDiagError: naming the options that differ.
    """
    if not any(v.get("log_probs") for v in report.get("methods", {}).get("gnn", {}).values()):
        return  # nothing to calibrate with: the report is only shown
    theirs = dict(report.get("config") or {})
    ours = config.model_dump()
    differ = sorted(k for k in ours if k != "threads" and theirs.get(k) != ours[k])
    if differ:
        raise HydroDiagError(
            "the cross-validation report was run with other options ("
            + ", ".join(f"{k}: {theirs.get(k)!r} there, {ours[k]!r} here" for k in differ)
            + "); its held-out predictions cannot calibrate this model. Run `hydrodiag "
            "evaluate cv` with the same options, or train with the report's."
        )


def _calibrate(
    result: TrainResult, report: Mapping[str, Any], log: Callable[[str], None]
) -> dict[str, Any] | None:
    """Fit each graded component's temperature on the report's held-out predictions and
    install them in the model; the calibration section of the card (None when the report
    has no held-out predictions or the model cannot be calibrated)."""
    import torch

    from training.calibration import calibration_section, temperatures

    section = calibration_section(report)
    if not section["components"] or not result.model.grade_calibration:
        return None
    fitted = temperatures(section)
    t = torch.ones(result.spec.num_nodes)
    for component, value in fitted.items():
        if component in result.spec.node_ids:
            t[result.spec.node_ids.index(component)] = value
    result.model.set_grade_temperature(t)
    log(
        "grade probabilities calibrated on the held-out windows of "
        f"{section['scheme']}: temperatures "
        + ", ".join(f"{c} {v:.3g}" for c, v in fitted.items())
        + "; ECE "
        + ", ".join(
            f"{c} {100 * v['uncalibrated']['ece']:.1f} -> {100 * v['calibrated']['ece']:.1f} %"
            for c, v in section["components"].items()
        )
    )
    return section


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
        required_sensors=required_sensors(dependence, REQUIRED_SENSOR_DROP, result.discriminants),
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
        f"{100 * REQUIRED_SENSOR_DROP:g} percentage points is missing — there, or, for a "
        "component graded from its neighbours alone, on held-out blocks of the training "
        "windows (the accuracy then listed)",
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
    scheme: Scheme | None = None,
    n_folds: int = 5,
    block_size: int = 100,
    folds: Sequence[int] | None = None,
    with_model: bool = True,
    conditions: Sequence[str] = (),
    command: str = "",
) -> dict[str, Any]:
    """Cross-validation of the model in ``config`` and the LDA baselines (on ``sensors``) on
    the same folds (``scheme``; default blocked): the report ``hydrodiag evaluate cv`` writes
    and a card's cross-validation holds. With ``conditions`` (``training.robustness``) every
    fold's validation windows are also graded with a sensor offset and with data missing."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    from training.baselines import BASELINES
    from training.evaluate import cross_validate
    from training.robustness import conditions_of

    methods: dict[str, Method] = {}
    if with_model:
        methods["gnn"] = gnn_method(profile, config, withhold_missing="missing" in conditions)
    for name in BASELINES:
        methods[name] = baseline_method(name, list(sensors))
    # One BLAS thread, as torch gets one (config.threads): a run is one process per core, and
    # the LDA baselines' SVDs took 4x longer with threads fighting over a busy 2-core CPU.
    with threadpool_limits(limits=config.threads) if config.threads else nullcontext():
        report = cross_validate(
            windows,
            methods,
            scheme=scheme,
            n_folds=n_folds,
            block_size=block_size,
            folds=folds,
            conditions=conditions_of(conditions) if conditions else None,
            reference="gnn" if with_model else None,
        )
    report["command"] = command
    report["config"] = config.model_dump()
    report["data"] = [s.__dict__ for s in windows.sources]
    return report


def gnn_method(
    profile: EquipmentProfile,
    config: TrainConfig,
    *,
    withhold_missing: bool = False,
    log: Callable[[str], None] = print,
) -> Method:
    """A cross-validation method: train on the fold's training windows (the shipped training
    protocol), then give the grade log-probabilities of any windows.

    With ``withhold_missing`` a component is left ungraded (NaN) in a window where a sensor
    its grade needs still has samples missing after short gaps are filled — what the engine
    does (``gnn.engine``), with the needed sensors measured on the fold's training windows as
    ``train_and_save`` measures them for a shipped model.
    """
    from gnn.contract import REQUIRED_SENSOR_DROP
    from gnn.graph import fill_short_gaps
    from training.train import (
        make_tensors,
        predict_log_probs,
        required_sensors,
        sensor_dependence,
        train_model,
    )

    def fit(train: LabelledWindows) -> Grader:
        result = train_model(GraphSpec.from_profile(profile), train, config)
        log(
            f"    gnn: {len(result.history)} epochs (kept {result.best_epoch}), "
            f"{result.seconds:.0f} s"
        )
        required: dict[str, dict[str, float]] = {}
        if withhold_missing:
            dependence = sensor_dependence(
                result.model,
                result.spec,
                make_tensors(result.spec, train, result.fault_types),
                result.graded_components,
            )
            required = required_sensors(dependence, REQUIRED_SENSOR_DROP, result.discriminants)

        def grade(windows: LabelledWindows) -> dict[str, np.ndarray]:
            data = make_tensors(result.spec, windows, result.fault_types)
            log_probs = predict_log_probs(result.model, data, np.arange(windows.n_windows))
            out = {}
            for c in windows.grades:
                if c not in result.spec.node_ids:
                    continue
                lp = log_probs[:, result.spec.node_ids.index(c)].astype(np.float64)
                complete = np.ones(windows.n_windows, dtype=bool)
                for sensor in required.get(c, {}):
                    if sensor in windows.values:
                        filled = fill_short_gaps(np.asarray(windows.values[sensor], np.float64))
                        complete &= np.isfinite(filled).all(axis=1)
                out[c] = np.where(complete[:, None], lp, np.nan)
            return out

        return grade

    return fit


def baseline_method(method: str, sensors: list[str]) -> Method:
    """A cross-validation method: ``training.baselines.fit_baseline``."""
    from training.baselines import fit_baseline

    def fit(train: LabelledWindows) -> Grader:
        return fit_baseline(method, train, sensors)

    return fit


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
