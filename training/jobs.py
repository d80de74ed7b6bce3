"""A training job run in a separate process: what it is, the folder it lives in, and the JSON
lines it reports on. Torch-free: the desktop app builds jobs and reads their events with this
module; ``python -m training.worker JOB_DIR`` runs them.

A job folder holds:

- ``job.json``: the :class:`RetrainJob`;
- ``snapshot.duckdb``: the equipment's data (``ingestion.snapshot``), the only workspace the
  worker opens — it never writes into the user's workspace;
- ``active.onnx``: the model the equipment uses now, when it is a stored or built-in model to
  compare against;
- ``result/`` (``model.onnx``, ``card.json``, ``card.md``): written by the worker under another
  name and renamed when complete, so a folder named ``result`` is always whole;
- ``comparison.json``: the new and the active model on the same held-out windows.

The worker writes one JSON object per line on stdout (:data:`EVENTS`). Registration in the
user's workspace is the app's last step, one transaction, after the worker succeeded: a
cancelled, failed or killed run leaves the registry as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from training.normal import FitOptions, FitSelection

JOB_FILE: Final = "job.json"
SNAPSHOT_FILE: Final = "snapshot.duckdb"
ACTIVE_FILE: Final = "active.onnx"
RESULT_DIR: Final = "result"
COMPARISON_FILE: Final = "comparison.json"

Mode = Literal["normal", "finetune", "scratch"]
MODES: Final[dict[str, str]] = {
    "normal": "Learn normal (no labels)",
    "finetune": "Fine-tune grades on labelled ranges",
    "scratch": "Train from scratch (labelled)",
}
IMPLEMENTED_MODES: Final = ("normal", "finetune", "scratch")

EVENTS: Final[dict[str, str]] = {
    "start": "pid, mode, equipment",
    "stage": "text: what the worker does now",
    "progress": "stage, done, total, eta_s (None while unknown)",
    "epoch": "epoch, epochs (planned), loss, val_loss, seconds (of the epoch), eta_s; "
    "val_accuracy per component for a graded model",
    "result": "model_id, model_version, seconds, stopped, warnings",
    "comparison": "models: per-model figures on the same held-out windows (learn normal: "
    "held_out start/end pairs; train from scratch and fine-tune: validation_windows, accuracy "
    "per component)",
    "error": "message: a sentence for the user",
    "done": "ok",
}


class ActiveModel(BaseModel):
    """The model the equipment uses when the job starts (compared with the new one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str  # id@version
    kind: str  # graded, anomaly
    card: dict[str, Any] | None = None


class RetrainJob(BaseModel):
    """What to train, on what, for how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    equipment_id: str
    mode: Mode = "normal"
    selection: FitSelection = FitSelection()
    options: FitOptions = FitOptions()
    active: ActiveModel | None = None

    def write(self, job_dir: Path) -> None:
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / JOB_FILE).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def read(cls, job_dir: Path) -> RetrainJob:
        return cls.model_validate_json((job_dir / JOB_FILE).read_text(encoding="utf-8"))


def event_line(kind: str, **fields: Any) -> str:
    """One event as the worker writes it (a JSON object on one line)."""
    if kind not in EVENTS:
        raise ValueError(f"unknown event {kind!r}")
    return json.dumps({"event": kind, **fields}, default=str, allow_nan=False)


def parse_event(line: str | bytes) -> dict[str, Any] | None:
    """An event read back from a line of the worker's stdout; None for anything else (blank
    lines, stray prints of a library)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("event") not in EVENTS:
        return None
    return data
