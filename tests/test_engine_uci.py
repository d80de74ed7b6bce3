"""Integration: `hydrodiag ingest uci` of the shared data, then diagnose with the shipped model.

The grades per window are compared with the UCI labels. The shipped model saw these cycles in
training (the evaluation blocks are withheld elsewhere), so it must reach at least the accuracy
its card reports on held-out blocks, less a small tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from gnn.engine import compare_with_labels, diagnose
from gnn.graph import default_model_path
from gnn.results import Status
from ingestion.store import open_workspace

pytestmark = pytest.mark.slow

GRADED = ("C1", "V10", "MP1", "ACC")
TOLERANCE = 0.05


def _card_accuracy(model_dir: Path, component: str) -> float | None:
    """The card's blocked cross-validation accuracy of a component (training/card.py)."""
    card_file = model_dir / "card.json"
    if not card_file.exists():
        return None
    card = json.loads(card_file.read_text(encoding="utf-8"))
    value = card.get("metrics", {}).get("blocked_cv", {}).get(component, {}).get("accuracy")
    return float(value) if isinstance(value, int | float) else None


def test_shipped_model_on_the_uci_workspace(uci_dir: Path, tmp_path: Path) -> None:
    model_path = default_model_path()
    if not model_path.exists():
        pytest.skip(f"no shipped model at {model_path}")
    ws = tmp_path / "uci.duckdb"
    assert main(["--workspace", str(ws), "ingest", "uci", str(uci_dir), "--equipment", "rig"]) == 0
    with open_workspace(ws) as store:
        d = diagnose(store, "rig")
        assert d.id is not None and d.n_windows == 1805 and d.n_valid_windows == 1805
        assert d.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
        agreement = compare_with_labels(store, d)
    for comp in GRADED:
        result = d.component(comp)
        assert result.assessed and result.status is not Status.INSUFFICIENT_DATA
        assert result.trend is not None and result.trend.enough_history  # 30 operating hours
        a = agreement[comp]
        assert a.n_windows == 1805
        expected = _card_accuracy(model_path.parent, comp)
        floor = (expected - TOLERANCE) if expected is not None else 0.6
        assert a.accuracy is not None and a.accuracy >= floor, (comp, a.accuracy, expected)
    unhealthy = [c for c in d.components if c.status in (Status.WARNING, Status.CRITICAL)]
    for c in unhealthy:
        recs = [r for r in d.recommendations if r.component_id == c.component_id]
        assert recs and all(r.evidence for r in recs), c.component_id
