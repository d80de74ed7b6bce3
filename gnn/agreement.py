"""How a diagnosis's per-window grades agree with the workspace's condition labels
(``hydrodiag diagnose --labels``)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from gnn.results import Diagnosis
from gnn.windowing import DEFAULT_RATE_HZ
from ingestion.queries import Windows
from ingestion.workspace import Store


class LabelAgreement(BaseModel):
    """How a diagnosis's per-window grades agree with the workspace's condition labels."""

    model_config = ConfigDict(frozen=True)

    component_id: str
    n_windows: int  # windows with both a label and a grade
    accuracy: float | None  # share of exactly matching grades
    within_one: float | None  # share within one grade
    confusion: tuple[tuple[int, ...], ...]  # [label][grade] counts, 4 x 4


def compare_with_labels(store: Store, diagnosis: Diagnosis) -> dict[str, LabelAgreement]:
    """Per graded component, agreement of the window grades with the labels (``labels`` table)."""
    from ingestion.queries import cycle_labels

    windows = diagnosis.windows
    frame = Windows(
        starts=np.asarray([w.start for w in windows], dtype="datetime64[us]"),
        ends=np.asarray([w.end for w in windows], dtype="datetime64[us]"),
        cycle_numbers=None,
        values={},
        rate_hz=diagnosis.rate_hz or DEFAULT_RATE_HZ,
    )
    labels = cycle_labels(store, diagnosis.equipment_id, frame)
    out: dict[str, LabelAgreement] = {}
    for comp, truth in labels.items():
        confusion = np.zeros((4, 4), dtype=np.int64)
        for w, label in zip(windows, truth, strict=True):
            grade = w.grade.get(comp)
            if grade is not None and 0 <= label <= 3:
                confusion[int(label), grade] += 1
        n = int(confusion.sum())
        if n == 0:
            continue
        diff = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
        out[comp] = LabelAgreement(
            component_id=comp,
            n_windows=n,
            accuracy=float(np.trace(confusion) / n),
            within_one=float(confusion[diff <= 1].sum() / n),
            confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        )
    return out
