"""Integration: `hydrodiag ingest uci` of the shared data, then diagnose with the shipped model.

The grades per window are compared with the UCI labels. The shipped model saw these cycles in
training (the evaluation blocks are withheld elsewhere), so it must reach at least the accuracy
its card reports on held-out blocks, less a small tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from gnn.agreement import compare_with_labels
from gnn.engine import diagnose
from gnn.graph import build_inputs, default_model_path
from gnn.results import Status
from gnn.runtime import load_model
from ingestion.uci import read_uci_folder
from ingestion.workspace import open_workspace

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
    # The engine (workspace query, quality checks, batching) reproduces the model run directly
    # on the files' arrays, window for window.
    data = read_uci_folder(uci_dir)
    model = load_model(model_path, provider="cpu")
    direct = model.run(*build_inputs(model.graph_spec, data.sensors))
    assert [w.cycle for w in d.windows] == data.cycle_numbers.tolist()
    for comp in GRADED:
        node = model.graph_spec.node_ids.index(comp)
        expected_grades = direct.grade_probs[:, node].argmax(-1).tolist()
        engine_grades = [w.grade[comp] for w in d.windows]
        same = np.mean(np.asarray(engine_grades) == np.asarray(expected_grades))
        assert same >= 0.999, (comp, same)
    for comp in GRADED:
        result = d.component(comp)
        assert result.assessed and result.status is not Status.INSUFFICIENT_DATA
        assert result.trend is not None and result.trend.enough_history  # 30 operating hours
        a = agreement[comp]
        assert a.n_windows == 1805
        expected = _card_accuracy(model_path.parent, comp)
        if expected is not None:  # the model saw these cycles: at least its held-out accuracy
            assert a.accuracy is not None and a.accuracy >= expected - TOLERANCE, (
                comp,
                a,
                expected,
            )
    unhealthy = [c for c in d.components if c.status in (Status.WARNING, Status.CRITICAL)]
    for c in unhealthy:
        recs = [r for r in d.recommendations if r.component_id == c.component_id]
        assert recs and all(r.evidence for r in recs), c.component_id
