"""The simulator is calibrated so that the shipped model diagnoses it: >= 90 % grade accuracy
for every component on simulated cycles of its own conditions (others optimal).

Runs whenever a shipped model exists; the full table comes from
``tests/benchmarks/bench_simulator_accuracy.py``.
"""

from __future__ import annotations

import pytest

from gnn.graph import default_model_path
from tests.benchmarks.bench_simulator_accuracy import TARGET, evaluate


@pytest.mark.slow
def test_shipped_model_grades_simulated_conditions() -> None:
    path = default_model_path()
    if not path.exists():
        pytest.skip(f"no shipped model at {path} yet")
    from gnn.runtime import load_model

    model = load_model(path, provider="cpu")
    results = evaluate(model, cycles=25)
    failures = {
        f: round(d["accuracy"], 3) for f, d in results["factors"].items() if d["accuracy"] < TARGET
    }
    assert not failures, f"components below {TARGET:.0%}: {failures}; full results: {results}"
