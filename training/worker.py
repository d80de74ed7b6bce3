"""Run a training job in its own process and report on stdout, one JSON object per line.

    python -m training.worker JOB_DIR

The desktop app's retraining tab starts this (so the GUI never loads torch and stays
responsive) and reads the events of :mod:`training.jobs`. The worker opens only the job's
snapshot workspace; it writes the fitted model into ``JOB_DIR/result`` (renamed into place when
whole) and the comparison with the active model into ``JOB_DIR/comparison.json``. Killing it
at any moment leaves no ``result`` folder and the user's workspace untouched.

Exit status: 0 done, 2 refused (the ``error`` event says why in a sentence), 1 a bug (the
traceback goes to stderr).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.errors import HydroDiagError
from ingestion.workspace import Store, open_workspace
from training.jobs import (
    ACTIVE_FILE,
    COMPARISON_FILE,
    IMPLEMENTED_MODES,
    MODES,
    RESULT_DIR,
    SNAPSHOT_FILE,
    RetrainJob,
    event_line,
)
from training.normal import FitEpoch, FitResult, fit_normal

if TYPE_CHECKING:
    from training.train import EpochRecord


def emit(kind: str, **fields: Any) -> None:
    sys.stdout.write(event_line(kind, **fields) + "\n")
    sys.stdout.flush()


class JsonProgress:
    """``ingestion.progress.Progress`` as events: the stage, batches done with an ETA (at most
    four a second), and each epoch's losses."""

    cancelled = False

    def __init__(self, say: Callable[..., None] = emit, interval_s: float = 0.25) -> None:
        self._say = say
        self._interval_s = interval_s
        self._stage = ""
        self._total: int | None = None
        self._done = 0
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._epoch_steps: int | None = None
        self.planned_epochs: int | None = None

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None:
        self._stage, self._total, self._done = task, total, 0
        self._t0 = time.perf_counter()
        self._say("stage", text=task)

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self._total = total
        self._done = done
        now = time.perf_counter()
        if now - self._last >= self._interval_s:
            self._last = now
            self._say(
                "progress", stage=self._stage, done=done, total=self._total, eta_s=self.eta_s()
            )

    def finish(self) -> None:
        self._say("progress", stage=self._stage, done=self._total, total=self._total, eta_s=0.0)

    def eta_s(self) -> float | None:
        if not self._total or self._done <= 0:
            return None
        elapsed = time.perf_counter() - self._t0
        return round(elapsed * (self._total - self._done) / self._done, 1)

    def epoch(self, record: FitEpoch) -> None:
        if self._epoch_steps is None and record.epoch == 1 and self._done > 0:
            self._epoch_steps = self._done
        planned = (
            math.ceil(self._total / self._epoch_steps)
            if self._total and self._epoch_steps
            else None
        )
        self._say(
            "epoch",
            epoch=record.epoch,
            epochs=planned,
            loss=_finite(record.loss),
            val_loss=_finite(record.val_loss),
            seconds=round(record.seconds, 3),
            eta_s=self.eta_s(),
        )

    def graded_epoch(self, record: EpochRecord) -> None:
        """A graded model's epoch (``training.train``): losses and validation accuracy."""
        self._say(
            "epoch",
            epoch=record.epoch,
            epochs=self.planned_epochs,
            loss=_finite(record.train_loss),
            val_loss=_finite(record.val_loss),
            val_accuracy={c: round(a, 4) for c, a in record.val_accuracy.items()},
            seconds=round(record.seconds, 3),
            eta_s=self.eta_s(),
        )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def held_out_spans(card: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    """The end of each fit range that was held out to calibrate (the share in the card's
    options): the windows on which a new and an active model are compared."""
    share = float(card["hyperparameters"]["holdout"])
    spans = []
    for r in card["data"]["ranges"]:
        a, b = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
        spans.append((b - (b - a) * share, b))
    return spans


def model_figures(
    store: Store, equipment_id: str, model: Any, spans: Sequence[tuple[datetime, datetime]]
) -> dict[str, Any]:
    """An anomaly model on the held-out windows (share of samples flagged, alarm episodes) and,
    when the equipment has labels from a log's label column, against them."""
    from gnn.anomaly_eval import assess_range, evaluate_anomalies
    from gnn.selection import EngineError

    flagged = scored = episodes = 0
    hours = 0.0
    for a, b in spans:
        assessed = assess_range(store, equipment_id, model, a, b)
        mask = assessed.alarm_mask() & assessed.predicted
        flagged += int(mask.sum())
        scored += int(assessed.predicted.sum())
        episodes += len(assessed.alarms)
        hours += assessed.series.length / assessed.series.rate_hz / 3600
    figures: dict[str, Any] = {
        "held_out_flagged": flagged / scored if scored else None,
        "held_out_samples": scored,
        "held_out_episodes_per_hour": episodes / hours if hours > 0 else None,
        "labels": None,
    }
    try:
        evaluation = evaluate_anomalies(store, equipment_id, model=model)
    except EngineError:  # no labels from a log's label column: nothing to detect against
        return figures
    points = evaluation.points_outside_fit or evaluation.points
    figures["labels"] = {
        "f1": points.f1,
        "false_alarm_rate": points.false_alarm_rate,
        "missed_alarm_rate": points.missed_alarm_rate,
        "events": len(evaluation.events),
        "events_detected": evaluation.events_detected,
        "mean_delay_s": evaluation.mean_delay_s,
        "outside_fit": evaluation.points_outside_fit is not None,
    }
    return figures


def compare(store: Store, job: RetrainJob, job_dir: Path, result: FitResult) -> dict[str, Any]:
    """The new model and the active one on the same held-out windows (and labels)."""
    from gnn.anomaly import calibration_of
    from gnn.runtime import load_model_bytes

    spans = held_out_spans(result.card)
    new = load_model_bytes(result.onnx, name=f"{result.model_id}@{result.model_version}")
    rows = [
        {
            "role": "new",
            "key": f"{result.model_id}@{result.model_version}",
            "kind": "anomaly",
            **model_figures(store, job.equipment_id, new, spans),
        }
    ]
    active_file = job_dir / ACTIVE_FILE
    if job.active is not None:
        row: dict[str, Any] = {"role": "active", "key": job.active.key, "kind": job.active.kind}
        if active_file.is_file():
            model = load_model_bytes(
                active_file.read_bytes(), name=job.active.key, card=job.active.card
            )
            if calibration_of(model) is not None:
                row.update(model_figures(store, job.equipment_id, model, spans))
            else:
                row["note"] = "grades conditions: no false-alarm figures on held-out normal data"
        rows.append(row)
    return {
        "held_out": [[a.isoformat(), b.isoformat()] for a, b in spans],
        "models": rows,
    }


def run(job_dir: Path) -> int:
    job = RetrainJob.read(job_dir)
    emit("start", pid=os.getpid(), mode=job.mode, equipment=job.equipment_id)
    if job.mode not in IMPLEMENTED_MODES:
        emit(
            "error",
            message=f"{MODES[job.mode]} is not available in the retraining tab yet; use "
            f"`hydrodiag train --equipment {job.equipment_id} ...` for a graded model.",
        )
        return 2
    runs = {"normal": _run_normal, "scratch": _run_scratch, "finetune": _run_finetune}
    comparison = runs[job.mode](job, job_dir)
    (job_dir / COMPARISON_FILE).write_text(
        json.dumps(comparison, indent=2, default=str), encoding="utf-8"
    )
    emit("comparison", **comparison)
    emit("done", ok=True)
    return 0


def _publish(partial: Path, job_dir: Path) -> None:
    """The result folder renamed into place once whole."""
    os.replace(partial, job_dir / RESULT_DIR)


def _run_normal(job: RetrainJob, job_dir: Path) -> dict[str, Any]:
    progress = JsonProgress()
    with open_workspace(job_dir / SNAPSHOT_FILE, read_only=True) as store:
        result = fit_normal(
            store,
            job.equipment_id,
            job.selection,
            job.options,
            progress=progress,
            on_epoch=progress.epoch,
        )
        partial = job_dir / (RESULT_DIR + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        result.write(partial)
        _publish(partial, job_dir)
        emit(
            "result",
            model_id=result.model_id,
            model_version=result.model_version,
            seconds=round(result.seconds, 1),
            stopped=result.card["training"]["stopped"],
            warnings=result.warnings,
        )
        emit("stage", text="comparing with the active model on the held-out windows")
        return compare(store, job, job_dir, result)


def _run_scratch(job: RetrainJob, job_dir: Path) -> dict[str, Any]:
    """A graded model trained from scratch on the equipment's labelled data (what `hydrodiag
    train --equipment` does), then the new and the active graded model scored on the same
    validation windows."""
    from training.config import TrainConfig
    from training.datasets import from_workspace, validation_blocks
    from training.pipeline import train_and_save

    progress = JsonProgress()
    emit("stage", text="reading the labelled windows")
    windows, profile = from_workspace(job_dir / SNAPSHOT_FILE, job.equipment_id)
    # a fifth of the windows, in whole blocks, held out: early stopping and the comparison
    config = TrainConfig(epochs=max(1, job.options.epochs), seed=job.options.seed, val_fraction=0.2)
    progress.planned_epochs = config.epochs
    partial = job_dir / (RESULT_DIR + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    assert job.options.model_id is not None and job.options.model_version is not None
    card = train_and_save(
        windows,
        profile,
        partial,
        config,
        model_id=job.options.model_id,
        model_version=job.options.model_version,
        command="the retraining tab (train from scratch)",
        progress=progress,
        log=lambda _line: None,
        device=job.options.device,
        on_epoch=progress.graded_epoch,
    )
    assert card is not None  # one process: rank 0
    (partial / "model.pt").unlink(missing_ok=True)  # the registry keeps ONNX and the card
    _publish(partial, job_dir)
    emit(
        "result",
        model_id=job.options.model_id,
        model_version=job.options.model_version,
        seconds=round(float(card["training"]["seconds"]), 1),
        stopped=f"{card['training']['epochs_run']} epochs, kept epoch "
        f"{card['training']['best_epoch']} (best validation loss)",
        warnings=[],
    )
    emit("stage", text="scoring the new and the active model on the same validation windows")
    _, val = validation_blocks(windows.n_windows, config.val_fraction, seed=config.seed)
    held = windows.subset(val)
    if not held.n_windows:
        return {
            "validation_windows": 0,
            "models": [
                {
                    "role": "new",
                    "key": f"{job.options.model_id}@{job.options.model_version}",
                    "kind": "graded",
                    "note": "too few labelled windows to hold any out",
                }
            ],
        }
    rows = [
        _graded_row(
            "new",
            f"{job.options.model_id}@{job.options.model_version}",
            job_dir / RESULT_DIR / "model.onnx",
            held,
        )
    ]
    if job.active is not None:
        active_file = job_dir / ACTIVE_FILE
        if job.active.kind == "graded" and active_file.is_file():
            rows.append(_graded_row("active", job.active.key, active_file, held))
        else:
            rows.append(
                {
                    "role": "active",
                    "key": job.active.key,
                    "kind": job.active.kind,
                    "note": "learned normal: grades nothing",
                }
            )
    return {"validation_windows": held.n_windows, "models": rows}


def _run_finetune(job: RetrainJob, job_dir: Path) -> dict[str, Any]:
    """The equipment's graded model fine-tuned on its labelled windows (what `hydrodiag train
    --finetune-from` does: the parent's weights and normalisation, replay of its reference
    data where at hand), then both scored on the same held-out blocks of the new windows."""
    from training.datasets import from_workspace
    from training.finetune import (
        check_profile,
        finetune_and_save,
        finetune_config,
        load_base,
        reference_windows,
        split_data,
    )

    if job.active is None or job.active.kind != "graded":
        raise HydroDiagError("fine-tuning needs the equipment's graded model to start from.")
    base_ref = job.active.key.removesuffix(" (built-in)")
    progress = JsonProgress()
    emit("stage", text=f"reading the labelled windows and {base_ref}")
    windows, profile = from_workspace(job_dir / SNAPSHOT_FILE, job.equipment_id)
    with open_workspace(job_dir / SNAPSHOT_FILE, read_only=True) as store:
        base = load_base(base_ref, store)
    check_profile(base, profile)
    config = finetune_config(base, epochs=max(1, job.options.epochs), seed=job.options.seed)
    replay = reference_windows(base, profile)
    progress.planned_epochs = config.epochs
    partial = job_dir / (RESULT_DIR + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    assert job.options.model_id is not None and job.options.model_version is not None
    card = finetune_and_save(
        base,
        windows,
        partial,
        config,
        model_id=job.options.model_id,
        model_version=job.options.model_version,
        command=f"the retraining tab (fine-tune {base_ref})",
        replay=replay,
        progress=progress,
        log=lambda _line: None,
        device=job.options.device,
        on_epoch=progress.graded_epoch,
    )
    (partial / "model.pt").unlink(missing_ok=True)  # the registry keeps ONNX and the card
    _publish(partial, job_dir)
    emit(
        "result",
        model_id=job.options.model_id,
        model_version=job.options.model_version,
        seconds=round(float(card["training"]["seconds"]), 1),
        stopped=f"{card['training']['epochs_run']} epochs, kept epoch "
        f"{card['training']['best_epoch']} (epoch 0: the parent itself)",
        warnings=[],
    )
    emit("stage", text="scoring the new and the active model on the same held-out windows")
    held = split_data(windows, None, config).user_val  # the blocks the fine-tune held out
    rows = [
        _graded_row(
            "new",
            f"{job.options.model_id}@{job.options.model_version}",
            job_dir / RESULT_DIR / "model.onnx",
            held,
        ),
        _graded_row("active", job.active.key, job_dir / ACTIVE_FILE, held),
    ]
    return {"validation_windows": held.n_windows, "models": rows}


def _graded_row(role: str, key: str, onnx: Path, windows: Any) -> dict[str, Any]:
    from training.evaluate import evaluate_onnx

    row: dict[str, Any] = {"role": role, "key": key, "kind": "graded"}
    try:
        report = evaluate_onnx(onnx, windows, provider="cpu")
    except HydroDiagError as exc:  # e.g. made for other windows
        row["note"] = f"not scored on these windows: {exc}"
        return row
    row["accuracy"] = {c: float(v["accuracy"]) for c, v in report["components"].items()}
    return row


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not Path(args[0]).is_dir():
        emit("error", message="usage: python -m training.worker JOB_DIR (an existing folder)")
        return 2
    try:
        return run(Path(args[0]))
    except HydroDiagError as exc:
        emit("error", message=str(exc))
        return 2
    except Exception as exc:  # a bug: the user gets a sentence, the log the traceback
        traceback.print_exc()
        emit("error", message=f"training failed unexpectedly ({type(exc).__name__}: {exc}).")
        return 1


if __name__ == "__main__":
    sys.exit(main())
