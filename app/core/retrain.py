"""The retraining tab's Qt-free logic: build a job, run its worker, register what it made.

A job (:class:`training.jobs.RetrainJob`) is prepared in a folder of its own: the equipment's
data copied into a snapshot workspace (the app keeps its workspace open, and DuckDB lets no
other process open it), the active model's bytes to compare against, and ``job.json``. The
worker runs as ``python -m training.worker JOB_DIR`` (:func:`worker_command`): torch loads
there, never in the app. It streams JSON lines (:func:`training.jobs.parse_event`). When it
succeeded, :func:`register_result` stores the new model in the user's workspace in one
transaction — the only write of a run; Cancel kills the worker and :func:`discard` deletes the
folder, so nothing half-written is kept anywhere.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gnn.registry import (
    ModelEntry,
    activate,
    list_models,
    model_bytes,
    model_in_use,
    next_version,
    parse_model_ref,
    register_model,
    rollback,
)
from ingestion.errors import HydroDiagError
from ingestion.model_registry import ModelKey
from ingestion.snapshot import snapshot_equipment
from ingestion.workspace import Store
from training.jobs import (
    ACTIVE_FILE,
    COMPARISON_FILE,
    IMPLEMENTED_MODES,
    MODES,
    RESULT_DIR,
    SNAPSHOT_FILE,
    ActiveModel,
    Mode,
    RetrainJob,
    parse_event,
)
from training.normal import FitOptions, FitSelection

__all__ = [
    "IMPLEMENTED_MODES",
    "MODES",
    "PreparedJob",
    "RegistryRow",
    "activate_model",
    "discard",
    "prepare_job",
    "read_comparison",
    "register_result",
    "registry_rows",
    "roll_back",
    "run_blocking",
    "worker_command",
]


@dataclass(frozen=True)
class PreparedJob:
    job: RetrainJob
    folder: Path
    rows_copied: int


def prepare_job(
    store: Store,
    equipment_id: str,
    selection: FitSelection,
    *,
    mode: Mode = "normal",
    time_budget_s: float | None = None,
    false_alarm_budget: float = 0.01,
    epochs: int = 30,
    device: str = "auto",
    root: Path | None = None,
) -> PreparedJob:
    """A job folder ready for the worker (under ``root`` or the system's temporary folder).

    Raises:
        HydroDiagError: an unknown equipment, a mode not available, options out of range.
    """
    if mode not in IMPLEMENTED_MODES:
        raise HydroDiagError(
            f"{MODES[mode]} is not available in the retraining tab yet; use `hydrodiag train "
            f"--equipment {equipment_id} ...` for a graded model."
        )
    in_use = model_in_use(store, equipment_id)
    active = (
        ActiveModel(key=str(in_use.entry.key), kind=in_use.entry.kind, card=in_use.entry.card)
        if in_use.entry is not None
        else None
    )
    if mode == "finetune" and (active is None or active.kind != "graded"):
        uses = (
            "no model" if active is None else f"{active.key}, a learned normal that grades nothing"
        )
        raise HydroDiagError(
            f"Fine-tuning adapts the graded model {equipment_id} uses to its labelled ranges, "
            f"and {equipment_id} uses {uses}. Activate a graded model for it first, or train "
            "one from scratch."
        )
    # the names `hydrodiag fit` and `hydrodiag train --equipment` give
    model_id = f"{equipment_id}-normal" if mode == "normal" else f"{equipment_id}-gatv2-lstm"
    try:
        options = FitOptions(
            model_id=model_id,
            model_version=next_version(store, model_id),
            time_budget_s=time_budget_s if mode == "normal" else None,  # epochs bound a graded run
            budget=false_alarm_budget,
            epochs=epochs,
            device=device,  # type: ignore[arg-type]  # validated by pydantic
        )
    except ValueError as exc:
        raise HydroDiagError(f"the training options are not valid: {exc}") from exc
    job = RetrainJob(
        equipment_id=equipment_id, mode=mode, selection=selection, options=options, active=active
    )
    folder = Path(tempfile.mkdtemp(prefix="hydrodiag-retrain-", dir=root))
    try:
        rows = snapshot_equipment(store, equipment_id, folder / SNAPSHOT_FILE)
        if in_use.entry is not None:
            (folder / ACTIVE_FILE).write_bytes(model_bytes(store, in_use.entry))
        job.write(folder)
    except BaseException:
        discard(folder)
        raise
    return PreparedJob(job, folder, rows)


def training_unavailable(*, frozen: bool | None = None, has_torch: bool | None = None) -> str:
    """Why this installation cannot train ("" when it can): the bundle holds inference only,
    and a Python install needs the [train] extra. Looks for torch without importing it."""
    import importlib.util

    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    if frozen:
        return (
            "Training is not part of this bundle, which holds diagnosis only. Fit or train on a "
            "PC with HydroDiag's Python install (pip install 'hydrodiag[train]'), then import "
            "the model here (hydrodiag model export / import)."
        )
    has_torch = importlib.util.find_spec("torch") is not None if has_torch is None else has_torch
    if not has_torch:
        return (
            "Training needs PyTorch, which this installation lacks: install HydroDiag with its "
            "training extra (pip install 'hydrodiag[train]') and restart the app."
        )
    return ""


def worker_command(folder: Path) -> list[str]:
    """The worker process: this interpreter, ``-m training.worker FOLDER``."""
    return [sys.executable, "-m", "training.worker", str(folder)]


def run_blocking(
    folder: Path,
    on_event: Callable[[dict[str, Any]], None],
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Run the worker and hand each event to ``on_event`` until it exits (the CLI's and the
    tests' way; the GUI uses a QProcess). ``should_stop`` is asked after every line: when it
    says so, the worker is killed. Returns the exit status (negative: killed)."""
    with subprocess.Popen(
        worker_command(folder),
        stdout=subprocess.PIPE,
        text=True,  # stderr: ours (the log)
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            event = parse_event(line)
            if event is not None:
                on_event(event)
            if should_stop():
                process.kill()
                break
        process.wait()
        return process.returncode


def discard(folder: Path) -> None:
    """Delete a job folder (after Cancel, a failure, or once its model is registered)."""
    shutil.rmtree(folder, ignore_errors=True)


def register_result(store: Store, folder: Path) -> ModelEntry:
    """Store the worker's model in the workspace's registry (learn normal: kind anomaly, origin
    fitted; train from scratch and fine-tune: graded, trained, the active model its parent), not
    activated: one transaction.

    Raises:
        HydroDiagError: the worker left no complete result.
    """
    result = folder / RESULT_DIR
    onnx, card_file = result / "model.onnx", result / "card.json"
    if not (onnx.is_file() and card_file.is_file()):
        raise HydroDiagError(f"the training run left no complete model in {result}.")
    card = json.loads(card_file.read_text(encoding="utf-8"))
    job = RetrainJob.read(folder)
    parent = None
    if job.active is not None:  # the model it would replace
        model_id, version = parse_model_ref(job.active.key.removesuffix(" (built-in)"))
        parent = ModelKey(model_id, version or "")
    registration = register_model(
        store,
        onnx.read_bytes(),
        card,
        origin="fitted" if job.mode == "normal" else "trained",
        kind="anomaly" if job.mode == "normal" else "graded",
        parent=parent,
        note={
            "normal": f"fitted in the retraining tab on {card.get('data', {}).get('selection')}",
            "scratch": "trained from scratch in the retraining tab on the equipment's labelled data",
            "finetune": f"fine-tuned in the retraining tab from {job.active.key if job.active else '?'} "
            "on the equipment's labelled data",
        }[job.mode],
    )
    return registration.entry


def read_comparison(folder: Path) -> dict[str, Any] | None:
    file = folder / COMPARISON_FILE
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None


@dataclass(frozen=True)
class RegistryRow:
    """One line of the tab's model list."""

    key: str
    kind: str
    origin: str
    created: datetime
    active: bool
    note: str


def registry_rows(store: Store, equipment_id: str) -> list[RegistryRow]:
    """The models that fit the equipment, newest first, the one in use marked."""
    in_use = model_in_use(store, equipment_id).entry
    rows = [
        RegistryRow(
            key=e.label,
            kind=e.kind,
            origin=e.origin,
            created=e.created_at,
            active=in_use is not None and e.key == in_use.key,
            note=e.note,
        )
        for e in list_models(store, equipment_id=equipment_id)
    ]
    return sorted(rows, key=lambda r: r.created, reverse=True)


def activate_model(store: Store, equipment_id: str, key: str) -> None:
    activate(store, equipment_id, key.removesuffix(" (built-in)"), reason="retraining tab")


def roll_back(store: Store, equipment_id: str) -> str:
    """Back to the model the equipment used before; returns a sentence saying which.

    Raises:
        HydroDiagError: there is nothing to roll back to (gnn.registry's sentence).
    """
    done = rollback(store, equipment_id)
    return f"{equipment_id} now uses {done.current.label} (was {done.previous.label})."
