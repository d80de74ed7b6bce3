"""DiagnosisSummaryBar: overall health, verdict, model version and inference provider.

Sits above every tab so the headline of the current diagnosis is always visible.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.core import timefmt
from app.core.presentation import format_health
from app.gui.views.widgets import StatusBadge
from gnn.results import Diagnosis, Status


def provider_label(provider: str, note: str = "") -> str:
    """``CUDAExecutionProvider`` -> ``CUDA (GPU)``; the user wants to know GPU or CPU, and why
    not the GPU (``note``, gnn.gpu's sentence: "running on the CPU: no NVIDIA GPU driver found
    (libcuda.so.1)" -> "CPU (no NVIDIA GPU driver found)")."""
    short = provider.removesuffix("ExecutionProvider")
    if short in {"CUDA", "TensorRT", "ROCM"}:
        return f"{short} (GPU)"
    why = note.removeprefix("running on the CPU: ").split(";")[0].split(" (")[0]
    return f"{short} ({why})" if why else short


NO_DIAGNOSIS = "No diagnosis yet — import data and press Diagnose (F5)."


class DiagnosisSummaryBar(QFrame):
    """One line: equipment, overall health + status, verdict; model and provider on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DiagnosisSummaryBar")
        self.setStyleSheet(
            "#DiagnosisSummaryBar { background: #f3f5f7; border-bottom: 1px solid #d5dbe1; }"
        )
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(12)
        self.equipment = QLabel("No equipment")
        self.equipment.setStyleSheet("font-weight: bold; font-size: 13px;")
        self.health = QLabel("—")
        self.health.setStyleSheet("font-size: 20px; font-weight: bold;")
        self.health.setToolTip("Overall health: the lowest health of the graded components")
        self.badge = StatusBadge(Status.NOT_ASSESSED)
        verdict_box = QVBoxLayout()
        verdict_box.setSpacing(0)
        self.verdict = QLabel(NO_DIAGNOSIS)
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.span = QLabel("")
        self.span.setWordWrap(True)
        self.span.setStyleSheet("color: #5f6b76; font-size: 11px;")
        verdict_box.addWidget(self.verdict)
        verdict_box.addWidget(self.span)
        self.model = QLabel("Model: —")
        self.model.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.model.setStyleSheet("color: #3c4650; font-size: 11px;")
        layout.addWidget(self.equipment)
        layout.addWidget(self.health)
        layout.addWidget(self.badge)
        layout.addLayout(verdict_box, 1)
        layout.addWidget(self.model)

    def set_equipment(self, name: str) -> None:
        self.equipment.setText(name)

    def set_diagnosis(
        self, diagnosis: Diagnosis | None, model_hint: str = "", placeholder: str = ""
    ) -> None:
        """Show ``diagnosis``; without one, ``placeholder`` says what to do (or why nothing
        can be diagnosed) and ``model_hint`` which model would run."""
        if diagnosis is None:
            self.health.setText("—")
            self.badge.set_status(Status.NOT_ASSESSED)
            self.badge.setText("no diagnosis")
            self.verdict.setText(placeholder or NO_DIAGNOSIS)
            self.span.setText("")
            self.model.setText(model_hint or "Model: —")
            self.model.setToolTip("")
            return
        self.health.setText(format_health(diagnosis.overall_health))
        self.badge.set_status(diagnosis.overall_status)
        self.verdict.setText(diagnosis.verdict)
        self.span.setText(span_text(diagnosis))
        self.model.setText(
            f"Model {diagnosis.model.model_id} v{diagnosis.model.version}\n"
            f"Inference: {provider_label(diagnosis.provider, diagnosis.provider_note)}"
        )
        self.model.setToolTip(
            f"{diagnosis.model.path}\nprovider {diagnosis.provider}"
            + (f"\n{diagnosis.provider_note}" if diagnosis.provider_note else "")
        )


def span_text(diagnosis: Diagnosis) -> str:
    """What the headline is about: the current state's windows, the diagnosed range, quality."""
    d = diagnosis
    parts = []
    if d.current_start is not None and d.current_end is not None:
        parts.append(
            f"Current state: latest windows {timefmt.span(d.current_start, d.current_end)}"
        )
        parts.append(f"diagnosed {timefmt.span(d.window_start, d.window_end)}")
    else:
        parts.append(timefmt.span(d.window_start, d.window_end))
    parts.append(f"{d.n_valid_windows}/{d.n_windows} windows valid")
    if d.data_quality:
        parts.append(f"{len(d.data_quality)} data-quality warning(s)")
    return " · ".join(parts)
