"""The demo workspace: simulated rig data with cycles and ground truth, diagnosed over time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from app.cli import main
from app.commands.demo import diagnose_demo
from gnn.graph import default_model_path
from ingestion.demo import DEMO_EQUIPMENT, build_demo_workspace
from ingestion.resources import demo_workspace_path
from ingestion.workspace import open_workspace

END = datetime(2026, 3, 2, 12, 0)


def test_demo_workspace_holds_cycles_data_and_ground_truth(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    summary = build_demo_workspace(path, hours=1.0, end=END)
    assert summary.cycles == 60 and summary.values == 60 * 60 * 17
    assert summary.diagnoses == []  # building is data only: the caller diagnoses
    with open_workspace(path, read_only=True) as store:
        assert (
            store.query("SELECT count(*) FROM cycles WHERE equipment_id = ?", [DEMO_EQUIPMENT])[0][
                0
            ]
            == 60
        )
        first, last = store.query("SELECT min(ts), max(ts) FROM measurements")[0]
        assert last < END and (END - first).total_seconds() == 3600
        truth = store.query(
            "SELECT component_id, max(grade) FROM labels WHERE origin = 'simulator' GROUP BY 1"
        )
        source = store.query("SELECT kind, status, value_count FROM sources")[0]
    grades = dict(truth)
    assert grades["ACC"] >= 1 and grades["MP1"] == 1 and grades["C1"] == 0 and grades["V10"] == 0
    assert source == ("simulator", "complete", summary.values)
    # rebuilding replaces, it does not append
    build_demo_workspace(path, hours=1.0, end=END)
    with open_workspace(path, read_only=True) as store:
        assert store.query("SELECT count(*) FROM measurements")[0][0] == summary.values


def test_demo_without_a_model_still_builds_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYDRODIAG_MODEL", str(tmp_path / "missing.onnx"))
    summary = build_demo_workspace(tmp_path / "demo.duckdb", hours=0.5, end=END)
    diagnose_demo(summary)
    assert summary.diagnoses and summary.diagnoses[0].startswith("not diagnosed:")
    assert "missing.onnx" in summary.diagnoses[0]


def test_cli_demo_builds_once_and_reuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HYDRODIAG_MODEL", str(tmp_path / "missing.onnx"))  # fast: no inference
    assert main(["demo", "--no-gui"]) == 0
    assert demo_workspace_path().exists()
    assert "simulated cycles" in capsys.readouterr().out
    assert main(["demo", "--no-gui"]) == 0
    assert "using the demo workspace" in capsys.readouterr().out


def test_cli_demo_honours_workspace_and_never_replaces_real_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HYDRODIAG_MODEL", str(tmp_path / "missing.onnx"))  # fast: no inference
    demo = tmp_path / "my-demo.duckdb"
    assert main(["--workspace", str(demo), "demo", "--no-gui"]) == 0
    assert demo.exists() and not demo_workspace_path().exists()
    assert str(demo) in capsys.readouterr().err
    assert main(["--workspace", str(demo), "demo", "--no-gui", "--rebuild"]) == 0
    capsys.readouterr()

    real = tmp_path / "real.duckdb"
    with open_workspace(real) as store:
        from ingestion.catalog import ensure_equipment
        from ingestion.profiles import load_profile

        with store.transaction() as con:
            ensure_equipment(con, "press-7", load_profile("zema-test-rig"))
    before = real.read_bytes()
    for extra in ([], ["--rebuild"]):
        assert main(["--workspace", str(real), "demo", "--no-gui", *extra]) == 1
        err = capsys.readouterr().err
        assert "holds equipment 'press-7', not the demo" in err and str(real) in err
    assert real.read_bytes() == before


def _stand_in_model(folder: Path) -> Path:
    """A contract-shaped ONNX model (not trained: it grades by mean input) for the plumbing."""
    import json

    import numpy as np

    from gnn.graph import GraphSpec, profile_sha256
    from ingestion.profiles import load_profile
    from ingestion.simulator import Conditions, RigSimulator
    from tests.gnn.test_runtime_models import build_contract_model, save_model

    sim = RigSimulator(0, rate_hz=1.0)
    cycles = np.stack([sim.next_cycle(Conditions()) for _ in range(20)])
    spec = GraphSpec.from_profile(load_profile("zema-test-rig")).fit_normalisation(
        {s: cycles[:, i] for i, s in enumerate(sim.sensors)}
    )
    model = build_contract_model(
        profile_id=spec.profile_id,
        profile_sha256=profile_sha256(spec),
        graph_spec=json.loads(spec.to_json()),
        graded_components=("C1", "V10", "MP1", "ACC"),
        fault_types=("accumulator_precharge_loss",),
    )
    return save_model(model, folder / "model.onnx", card={"metrics": {}})


def test_demo_is_diagnosed_every_half_hour_through_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYDRODIAG_MODEL", str(_stand_in_model(tmp_path / "model")))
    summary = build_demo_workspace(tmp_path / "demo.duckdb", hours=2.0, end=END)
    diagnose_demo(summary)
    assert len(summary.diagnoses) == 4, summary.diagnoses
    assert all(d.startswith(("10:00", "10:30", "11:00", "11:30")) for d in summary.diagnoses)
    with open_workspace(tmp_path / "demo.duckdb", read_only=True) as store:
        windows = store.query("SELECT window_start, window_end FROM diagnoses ORDER BY id")
        history = store.query("SELECT count(DISTINCT component_id) FROM health_history")[0][0]
    assert [(e - s).total_seconds() for s, e in windows] == [1800.0] * 4
    assert history >= 4


@pytest.mark.slow
def test_demo_diagnosis_finds_the_injected_faults(tmp_path: Path) -> None:
    if not default_model_path().exists():
        pytest.skip("no shipped model yet")
    summary = build_demo_workspace(tmp_path / "demo.duckdb", end=END)
    diagnose_demo(summary)
    assert len(summary.diagnoses) >= 6 and not summary.diagnoses[0].startswith("not diagnosed")
    with open_workspace(tmp_path / "demo.duckdb", read_only=True) as store:
        rows = store.query(
            "SELECT component_id, grade, health FROM health_history h "
            "WHERE diagnosis_id = (SELECT max(id) FROM diagnoses) AND window_end > ?",
            [datetime(2026, 3, 2, 11, 30)],
        )
        first = store.query(
            "SELECT component_id, avg(health) FROM health_history "
            "WHERE diagnosis_id = (SELECT min(id) FROM diagnoses) GROUP BY 1"
        )
    late: dict[str, list[int]] = {}
    for component, grade, _ in rows:
        late.setdefault(component, []).append(int(grade))
    share = {c: sum(g > 0 for g in v) / len(v) for c, v in late.items()}
    assert share["ACC"] >= 0.8, share  # precharge at 100 bar: degraded
    assert share["MP1"] >= 0.8, share  # weak leak
    assert share["C1"] <= 0.2 and share["V10"] <= 0.2, share
    early = dict(first)
    assert early["ACC"] > 0.7  # healthy at the start: the trend is real


def test_rolling_diagnosis_of_the_latest_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.commands.live import rolling_diagnosis

    monkeypatch.setenv("HYDRODIAG_MODEL", str(_stand_in_model(tmp_path / "model")))
    build_demo_workspace(tmp_path / "demo.duckdb", hours=0.5, end=END)
    with open_workspace(tmp_path / "demo.duckdb") as store:
        line = rolling_diagnosis(store, DEMO_EQUIPMENT, 600.0)
        stored = store.query("SELECT window_start, window_end FROM diagnoses")
    assert " health " in line
    assert len(stored) == 1 and (stored[0][1] - stored[0][0]).total_seconds() <= 600
