"""The training worker's protocol with a real fit in a separate process: JSON lines with epochs,
losses and an ETA, a result and a comparison; Cancel (killing it) and refusals leave the
registry as it was. Also the snapshot the worker reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.retrain import discard, prepare_job, register_result, registry_rows, run_blocking
from ingestion.errors import HydroDiagError
from ingestion.snapshot import snapshot_equipment
from ingestion.workspace import Store, open_workspace
from tests.gnn.test_engine import base  # noqa: F401  (module fixture: 40 UCI cycles)
from tests.pump_rig_proxy import proxy_workspace
from training.jobs import RESULT_DIR, SNAPSHOT_FILE, event_line, parse_event
from training.normal import FitSelection

FIT_END = datetime(2026, 3, 2, 9, 6, 40)  # the proxy log's first 400 samples are normal


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return proxy_workspace(tmp_path, {"p7": 7, "p8": 8})


def _models(store: Store) -> int:
    return int(store.query("SELECT count(*) FROM models")[0][0])


def test_events_round_trip_and_stray_lines_are_ignored() -> None:
    line = event_line("epoch", epoch=2, epochs=5, loss=0.5, val_loss=None, eta_s=3.0)
    assert parse_event(line) == {
        "event": "epoch",
        "epoch": 2,
        "epochs": 5,
        "loss": 0.5,
        "val_loss": None,
        "eta_s": 3.0,
    }
    assert parse_event("Warning: some library printed this") is None
    assert parse_event('{"event": "nonsense"}') is None
    with pytest.raises(ValueError, match="unknown event"):
        event_line("nonsense")


def test_snapshot_holds_one_equipment(workspace: Path, tmp_path: Path) -> None:
    with open_workspace(workspace) as store:
        rows = snapshot_equipment(store, "p7", tmp_path / "snap.duckdb")
        expected = store.query("SELECT count(*) FROM measurements WHERE equipment_id = 'p7'")
        labels = store.query("SELECT count(*) FROM labels WHERE equipment_id = 'p7'")
        with pytest.raises(HydroDiagError, match="exists already"):
            snapshot_equipment(store, "p7", tmp_path / "snap.duckdb")
        with pytest.raises(HydroDiagError, match="not in this workspace"):
            snapshot_equipment(store, "nope", tmp_path / "other.duckdb")
    assert rows == expected[0][0] > 0
    with open_workspace(tmp_path / "snap.duckdb", read_only=True) as snap:
        assert snap.query("SELECT DISTINCT equipment_id FROM measurements") == [("p7",)]
        assert snap.query("SELECT count(*) FROM measurements")[0][0] == rows
        assert snap.query("SELECT count(*) FROM labels") == labels
        assert snap.query("SELECT id FROM equipment") == [("p7",)]


@pytest.mark.slow
def test_worker_streams_a_real_fit_then_the_app_registers_it(workspace: Path) -> None:
    events: list[dict[str, Any]] = []
    with open_workspace(workspace) as store:
        job = prepare_job(store, "p7", FitSelection(end=FIT_END), epochs=3)
        assert (job.folder / SNAPSHOT_FILE).is_file()
        code = run_blocking(job.folder, events.append)
        assert code == 0, events
        kinds = [e["event"] for e in events]
        assert kinds[0] == "start" and kinds[-1] == "done"
        epochs = [e for e in events if e["event"] == "epoch"]
        assert [e["epoch"] for e in epochs] == [1, 2, 3]
        assert all(e["epochs"] == 3 and e["loss"] > 0 and e["val_loss"] > 0 for e in epochs)
        assert epochs[-1]["eta_s"] == 0.0
        assert any(e["event"] == "progress" and e["total"] for e in events)
        (result,) = [e for e in events if e["event"] == "result"]
        assert (result["model_id"], result["model_version"]) == ("p7-normal", "1.0.0")
        (comparison,) = [e for e in events if e["event"] == "comparison"]
        (new,) = comparison["models"]  # nothing fits the pump rig's profile but what is fitted
        assert new["role"] == "new" and new["held_out_flagged"] is not None
        assert new["labels"]["events"] == 1 and new["labels"]["f1"] > 0.5
        assert (job.folder / RESULT_DIR / "model.onnx").is_file()
        assert _models(store) == 0  # the worker wrote nothing into the workspace
        entry = register_result(store, job.folder)
        discard(job.folder)
        assert not job.folder.exists()
        assert (entry.kind, entry.origin) == ("anomaly", "fitted")
        (row,) = registry_rows(store, "p7")
        assert row.key == "p7-normal@1.0.0" and not row.active
        # a second run compares against the first once it is active
        from app.core.retrain import activate_model

        activate_model(store, "p7", row.key)
        events.clear()
        job = prepare_job(store, "p7", FitSelection(end=FIT_END), epochs=1)
        assert job.job.options.model_version == "1.0.1"
        assert run_blocking(job.folder, events.append) == 0
        discard(job.folder)
        (comparison,) = [e for e in events if e["event"] == "comparison"]
        roles = {m["role"]: m for m in comparison["models"]}
        assert roles["active"]["key"] == "p7-normal@1.0.0"
        assert roles["active"]["labels"]["events"] == 1


@pytest.mark.slow
def test_cancel_kills_the_worker_and_keeps_nothing(workspace: Path) -> None:
    events: list[dict[str, Any]] = []
    with open_workspace(workspace) as store:
        before = store.query("SELECT count(*) FROM measurements")
        job = prepare_job(store, "p7", FitSelection(end=FIT_END), epochs=400)
        code = run_blocking(
            job.folder,
            events.append,
            should_stop=lambda: any(e["event"] == "epoch" for e in events),
        )
        assert code != 0
        assert [e for e in events if e["event"] == "epoch"]
        assert not any(e["event"] in ("result", "done") for e in events)
        assert not (job.folder / RESULT_DIR).exists()
        with pytest.raises(HydroDiagError, match="no complete model"):
            register_result(store, job.folder)
        discard(job.folder)
        assert _models(store) == 0 and registry_rows(store, "p7") == []
        assert store.query("SELECT count(*) FROM measurements") == before


@pytest.mark.slow
def test_bad_input_is_an_error_event_and_a_refused_mode_a_sentence(workspace: Path) -> None:
    events: list[dict[str, Any]] = []
    start = datetime(2026, 3, 2, 9, 0, 0)
    with open_workspace(workspace) as store:
        job = prepare_job(store, "p7", FitSelection(start=start, end=start + timedelta(minutes=1)))
        assert run_blocking(job.folder, events.append) == 2
        discard(job.folder)
        (error,) = [e for e in events if e["event"] == "error"]
        assert "too little normal data" in error["message"]
        with pytest.raises(HydroDiagError, match=r"p7 uses no model\. Activate a graded model"):
            prepare_job(store, "p7", FitSelection(), mode="finetune")  # nothing to start from
        assert _models(store) == 0


@pytest.mark.slow
def test_train_from_scratch_streams_accuracy_and_scores_both_graded_models(
    base: tuple[Path, Path],  # noqa: F811
) -> None:
    events: list[dict[str, Any]] = []
    with open_workspace(base[0]) as store:
        job = prepare_job(store, "rig", FitSelection(), mode="scratch", epochs=2)
        assert job.job.options.model_id == "rig-gatv2-lstm"
        assert job.job.active is not None and job.job.active.kind == "graded"  # the built-in
        try:
            assert run_blocking(job.folder, events.append) == 0, events
            epochs = [e for e in events if e["event"] == "epoch"]
            assert [e["epoch"] for e in epochs] == [1, 2]
            assert set(epochs[0]["val_accuracy"]) == {"C1", "V10", "MP1", "ACC"}
            (comparison,) = [e for e in events if e["event"] == "comparison"]
            new, active = comparison["models"]
            assert comparison["validation_windows"] > 0
            assert set(new["accuracy"]) == set(active["accuracy"]) == {"C1", "V10", "MP1", "ACC"}
            assert all(0.0 <= v <= 1.0 for v in active["accuracy"].values())
            entry = register_result(store, job.folder)
        finally:
            discard(job.folder)
        assert (entry.kind, entry.origin) == ("graded", "trained")
        assert not (job.folder / RESULT_DIR / "model.pt").exists()


def test_fine_tune_starts_from_the_active_graded_model_and_scores_both(
    base: tuple[Path, Path],  # noqa: F811
) -> None:
    events: list[dict[str, Any]] = []
    with open_workspace(base[0]) as store:
        job = prepare_job(store, "rig", FitSelection(), mode="finetune", epochs=1)
        assert job.job.active is not None and job.job.active.kind == "graded"  # the built-in
        try:
            assert run_blocking(job.folder, events.append) == 0, events
            assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1]
            (comparison,) = [e for e in events if e["event"] == "comparison"]
            new, active = comparison["models"]
            assert (new["role"], active["role"]) == ("new", "active")
            assert comparison["validation_windows"] > 0
            assert set(new["accuracy"]) == set(active["accuracy"]) == {"C1", "V10", "MP1", "ACC"}
            entry = register_result(store, job.folder)
        finally:
            discard(job.folder)
        assert (entry.kind, entry.origin) == ("graded", "trained")
        assert entry.parent is not None and str(entry.parent) == job.job.active.key
        card = entry.card or {}
        assert card["fine_tuning"]["parent"] == job.job.active.key
