"""Missing data with the shipped model on real cycles: short gaps are filled, and a component
whose grade needs a sensor that is missing is reported as insufficient data, not guessed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from gnn import contract
from gnn.engine import diagnose
from gnn.graph import default_model_path
from gnn.results import Status
from gnn.runtime import ModelError, load_model
from ingestion.uci_import import ingest_uci
from ingestion.workspace import Store, open_workspace
from tests.gnn.test_engine import write_uci_subset
from tests.onnx_models import export_small_model

N_CYCLES = 30


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import UCI_DIR

    root = tmp_path_factory.mktemp("missing")
    # cycles from a stretch where the pump leaks (grades 0 and 1 both appear)
    folder = write_uci_subset(UCI_DIR, root / "uci", slice(1100, 1100 + N_CYCLES))
    ws = root / "ws.duckdb"
    with open_workspace(ws) as store:
        ingest_uci(store, folder, equipment_id="rig")
    return ws


@pytest.fixture
def store(base: Path, tmp_path: Path) -> Store:
    copy = tmp_path / "ws.duckdb"
    shutil.copy(base, copy)
    return open_workspace(copy)


def test_the_shipped_model_knows_which_sensors_each_grade_needs() -> None:
    model = load_model(default_model_path(), provider="cpu")
    needs = model.required_sensors
    assert set(needs) == {"C1", "V10", "MP1", "ACC"}
    assert "PS2" in needs["MP1"] and needs["MP1"]["PS2"] < 0.5
    # since 1.7.0 the cooler's discriminant reads one hop (T, F1, C1), no longer PS1
    assert set(needs["C1"]) == {"CE"}
    card = json.loads(default_model_path().with_name("card.json").read_text())
    assert card["sensor_dependence"]["required"] == needs


def test_a_missing_sensor_withholds_the_grades_that_need_it(store: Store) -> None:
    full = diagnose(store, "rig", model_path=default_model_path())
    store.con.execute("DELETE FROM measurements_long WHERE sensor_id = 'PS2'")
    d = diagnose(store, "rig", model_path=default_model_path())
    # PS2 carries the pump, valve and accumulator grades: without it they read 21-53 %
    # right at full confidence, so the engine does not give them
    for comp in ("MP1", "V10", "ACC"):
        result = d.component(comp)
        assert result.status is Status.INSUFFICIENT_DATA and result.grade is None, comp
    assert d.component("C1").grade == full.component("C1").grade  # C1 does not need PS2
    warned = [w for w in d.data_quality if w.kind == "missing_required_sensor"]
    assert {w.sensor_id for w in warned} == {"PS2"}
    mp1 = next(w for w in warned if w.message.startswith("MP1"))
    assert f"in {N_CYCLES} of {N_CYCLES} window(s): it needs PS2" in mp1.message
    # the same warning serves a flat-lined or out-of-range sensor, masked like a missing one
    assert "missing or masked (see PS2's own warning)" in mp1.message
    assert all("MP1" not in w.grade for w in d.windows)


def test_a_long_gap_withholds_those_windows_only(store: Store) -> None:
    full = diagnose(store, "rig", model_path=default_model_path())
    # 20 s of PS2 missing in each of the first five cycles
    first = full.windows[0].start
    store.con.execute(
        "DELETE FROM measurements_long WHERE sensor_id = 'PS2' AND ts < ? "
        "AND extract('second' FROM ts) BETWEEN 20 AND 39",
        [full.windows[5].start],
    )
    d = diagnose(store, "rig", model_path=default_model_path())
    assert [("MP1" in w.grade) for w in d.windows[:7]] == [False] * 5 + [True] * 2
    assert d.component("MP1").n_windows == N_CYCLES - 5
    assert d.component("MP1").grade is not None
    assert d.windows[0].start == first


def test_short_gaps_are_filled_and_the_grades_hold(store: Store) -> None:
    full = diagnose(store, "rig", model_path=default_model_path())
    # one second missing in every cycle of every pressure sensor, three of PS1 in a row
    store.con.execute(
        "DELETE FROM measurements_long WHERE sensor_id LIKE 'PS%' "
        "AND extract('second' FROM ts) = 17"
    )
    store.con.execute(
        "DELETE FROM measurements_long WHERE sensor_id = 'PS1' "
        "AND extract('second' FROM ts) BETWEEN 40 AND 42"
    )
    d = diagnose(store, "rig", model_path=default_model_path())
    assert not [w for w in d.data_quality if w.kind == "missing_required_sensor"]
    gaps = [w for w in d.data_quality if w.kind == "gap"]
    assert gaps and all("interpolated" in w.message for w in gaps)
    for before, after in zip(full.windows, d.windows, strict=True):
        assert after.grade == before.grade


def test_required_sensors_travel_in_the_metadata_and_bad_ones_are_refused(
    tmp_path: Path,
) -> None:
    needs = {"MP1": {"PS2": 0.21}}
    _, _, path = export_small_model(
        tmp_path / "m.onnx",
        seed=0,
        model_id="needs",
        fault_types=(),
        meta={"graded_components": ("MP1",), "required_sensors": needs},
    )
    assert load_model(path, provider="cpu").required_sensors == needs
    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        if entry.key == contract.META_REQUIRED_SENSORS:
            entry.value = json.dumps({"MP1": {"NOPE": 0.2}})
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    with pytest.raises(ModelError, match=r"required_sensors: 'MP1' .* does not fit"):
        load_model(bad, provider="cpu")
