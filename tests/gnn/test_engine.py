"""gnn.engine on real DuckDB workspaces holding real UCI cycles and a real (hand-built) ONNX model.

The model grades a component by the mean of its normalised inputs (tests/gnn/test_runtime_models.py),
so shifting the normalisation of the cooler's sensors by 2 standard deviations makes it grade 2
there and 0 elsewhere: the engine's output can be predicted exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from gnn.contract import GRADE_RANGE_LEVEL, grade_range
from gnn.engine import diagnose
from gnn.graph import GraphSpec, profile_sha256
from gnn.persist import list_diagnoses, load_diagnosis, load_health_history
from gnn.results import Status
from gnn.runtime import ModelError
from gnn.selection import EngineError, Selection, parse_cycles, parse_duration
from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile
from ingestion.progress import CancelledError
from ingestion.uci import UCI_SENSORS
from ingestion.uci_import import ingest_uci
from ingestion.workspace import Store, open_workspace
from tests.gnn.test_runtime_models import build_contract_model, save_model

N_CYCLES = 40
UCI_FAULTS = (
    "cooler_efficiency_loss",
    "valve_switching_lag",
    "pump_internal_leakage",
    "accumulator_precharge_loss",
)
COOLER_SENSORS = ("TS2", "TS4", "CE", "CP")


def write_uci_subset(uci_dir: Path, target: Path, rows: slice) -> Path:
    """The real UCI files cut to ``rows`` (cycles), for fast engine tests."""
    target.mkdir(parents=True)
    for name in [*UCI_SENSORS, "profile", "cycles"]:
        lines = (uci_dir / f"{name}.txt").read_text(encoding="utf-8").splitlines()[rows]
        (target / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(workspace file with 40 real cycles, model file) built once for the module."""
    from tests.conftest import UCI_DIR

    root = tmp_path_factory.mktemp("engine")
    folder = write_uci_subset(UCI_DIR, root / "uci", slice(0, N_CYCLES))
    ws_path = root / "ws.duckdb"
    with open_workspace(ws_path) as ws:
        ingest_uci(ws, folder, equipment_id="rig")
    return ws_path, cooler_shifted_model(folder, root / "model" / "model.onnx")


def cooler_shifted_model(folder: Path, out: Path) -> Path:
    """The contract model on the rig's graph, normalised on ``folder``'s cycles but with the
    cooler's sensors shifted by 2 standard deviations: C1 comes out degraded, the rest not."""
    rig = load_profile("zema-test-rig")
    data = {s: np.loadtxt(folder / f"{s}.txt") for s in UCI_SENSORS}
    spec = GraphSpec.from_profile(rig).fit_normalisation(data)
    shifted = {}
    for s in COOLER_SENSORS:
        sensor = spec.sensor(s)
        shifted[s] = (sensor.mean - 2.0 * sensor.std, sensor.std)
    spec = spec.with_normalisation(shifted)
    model = build_contract_model(
        profile_id=rig.id,
        profile_sha256=profile_sha256(spec),
        graph_spec=json.loads(spec.to_json()),
        graded_components=("C1", "V10", "MP1", "ACC"),
        fault_types=UCI_FAULTS,
        sharpness=2.0,
    )
    return save_model(model, out, card={"metrics": {"accuracy": {"C1": 1.0}}})


@pytest.fixture
def store(base: tuple[Path, Path], tmp_path: Path) -> Store:
    copy = tmp_path / "ws.duckdb"
    shutil.copy(base[0], copy)
    return open_workspace(copy)


@pytest.fixture
def model_path(base: tuple[Path, Path]) -> Path:
    return base[1]


def _count(store: Store, table: str) -> int:
    row = store.con.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_diagnosis_of_real_cycles_is_complete_and_stored(store: Store, model_path: Path) -> None:
    d = diagnose(store, "rig", model_path=model_path, provider="cpu")
    assert d.id is not None
    assert d.n_windows == N_CYCLES and d.n_valid_windows == N_CYCLES
    assert d.provider == "CPUExecutionProvider"
    assert d.model.model_id == "test-model" and d.model.card_metrics == {"accuracy.C1": 1.0}
    assert d.selection == "all data" and d.rate_hz == 1.0

    c1 = d.component("C1")
    # the current state is the latest 10 windows (grade 3 there); the selection's mean is 2
    assert c1.assessed and c1.grade == 3 and c1.status is Status.CRITICAL
    assert c1.selection_grade == 2 and c1.current_windows == 10
    assert (c1.current_start, c1.current_end) == (d.windows[-10].start, d.windows[-1].end)
    assert (d.current_start, d.current_end) == (c1.current_start, c1.current_end)
    assert c1.health is not None and c1.health < 0.5
    assert len(c1.grade_probs) == 4 and c1.confidence is not None
    # the run of adjacent grades the model cannot tell apart, from the pooled probabilities
    assert c1.grade_range == grade_range(c1.grade_probs)
    lowest, highest = c1.grade_range
    assert lowest <= c1.grade <= highest
    assert c1.grade_range_probability == pytest.approx(sum(c1.grade_probs[lowest : highest + 1]))
    assert c1.grade_range_probability >= GRADE_RANGE_LEVEL - 1e-6 or (lowest, highest) == (0, 3)
    assert d.model.calibrated_on == ""  # a model without hydrodiag.calibration
    assert set(c1.fault_probs) == {"cooler_efficiency_loss"}  # labelled type of the cooler
    assert c1.fault_probs["cooler_efficiency_loss"] > 0.8
    assert c1.sensors == ("TS2", "TS4", "CE", "CP")
    for cid in ("V10", "MP1", "ACC"):
        assert d.component(cid).grade == 0 and d.component(cid).status is Status.HEALTHY
    tank = d.component("T")
    assert not tank.assessed and tank.status is Status.NOT_ASSESSED and tank.health is None
    assert tank.anomaly is not None and tank.anomaly.reference == "selection median"
    assert d.component("ACC").anomaly is None  # no sensors of its own

    assert d.overall_status is Status.CRITICAL
    assert d.overall_health == pytest.approx(c1.health)
    # this contract model grades the cooler 1, 2 or 3 in blocks of cycles (25 / 47.5 / 27.5 %)
    assert c1.selection_grade_share == (0.0, 0.25, 0.475, 0.275)
    assert c1.grade_share == (0.0, 0.0, 0.0, 1.0)  # the latest 10 cycles: all grade 3
    # the contract model's probabilities put 2 and 3 close: the verdict names the range
    assert c1.grade_range == (2, 3)
    assert d.verdict.startswith(
        "CRITICAL: Cooler C1 critical (severely degraded to near failure, health"
    )
    # cycles 1-16 end in five cycles of grade 1 and five of grade 2: the verdict says the
    # grade varied instead of naming the mean's argmax
    mixed = diagnose(
        store, "rig", model_path=model_path, selection=Selection(cycles=(1, 16)), save=False
    )
    assert mixed.component("C1").grade_share == (0.0, 0.5, 0.5, 0.0)
    assert "Cooler C1 " in mixed.verdict and "(grade varied, health" in mixed.verdict

    assert {r.rule_id for r in d.recommendations if r.component_id == "C1"} == {
        "cooler-efficiency-critical"
    }
    assert all(r.evidence for r in d.recommendations)
    assert d.findings[0].component_id == "C1"

    # attention: every edge of the graph, per layer and combined, and per window
    assert len(d.edges) == 2 * 15 + 11
    assert len(d.edges[0].per_layer) == 2
    assert len(d.windows) == N_CYCLES and len(d.windows[0].attention) == len(d.edges)
    assert d.windows[0].cycle == 1
    assert all(w.grade["C1"] >= 1 and w.grade["V10"] == 0 for w in d.windows)
    assert c1.attention_neighbours and c1.attention_neighbours[0][0] in {"F1", "T"}

    assert not c1.trend or not c1.trend.enough_history  # 40 cycles = 0.7 h: too short
    assert c1.trend is not None and "not enough history (40 windows" in c1.trend.message

    # stored: the body round-trips and the flat tables are filled in the same transaction
    assert load_diagnosis(store, d.id) == d.model_copy(
        update={"timings_ms": load_diagnosis(store, d.id).timings_ms}
    )
    assert _count(store, "health_history") == 4 * N_CYCLES
    assert _count(store, "recommendations") == len(d.recommendations)
    assert [s.id for s in list_diagnoses(store, "rig")] == [d.id]
    for key in ("query", "quality", "inference", "postprocess", "store", "total"):
        assert key in d.timings_ms


def test_cycle_selection_and_trend_history_accumulate(store: Store, model_path: Path) -> None:
    d = diagnose(store, "rig", model_path=model_path, selection=Selection(cycles=(5, 14)))
    assert d.n_windows == 10 and d.selection == "cycles 5-14"
    assert [w.cycle for w in d.windows] == list(range(5, 15))
    history = load_health_history(store, "rig")
    assert len(history["C1"].health) == 10
    again = diagnose(store, "rig", model_path=model_path, selection=Selection(cycles=(10, 30)))
    history = load_health_history(store, "rig")
    assert len(history["C1"].health) == 26  # cycles 5..30, overlapping windows counted once
    trend = again.component("C1").trend
    assert trend is not None and trend.n_points == 26


def test_last_duration_selects_the_newest_cycles(store: Store, model_path: Path) -> None:
    d = diagnose(
        store, "rig", model_path=model_path, selection=Selection(last=timedelta(minutes=5))
    )
    assert [w.cycle for w in d.windows] == [36, 37, 38, 39, 40]


def test_missing_sensor_is_masked_and_warned(store: Store, model_path: Path) -> None:
    store.con.execute("DELETE FROM measurements_long WHERE sensor_id = 'FS2'")
    d = diagnose(store, "rig", model_path=model_path)
    assert [w.kind for w in d.data_quality if w.sensor_id == "FS2"] == ["missing_sensor"]
    assert d.n_valid_windows == N_CYCLES
    assert d.component("C1").selection_grade == 2 and d.component("C1").grade == 3


def test_windows_with_too_little_data_are_insufficient_not_guessed(
    store: Store, model_path: Path
) -> None:
    # cycles 1-5 keep only PS1: 1 of 17 sensors
    store.con.execute(
        "DELETE FROM measurements_long WHERE sensor_id <> 'PS1' AND ts < TIMESTAMP '2015-01-01 00:05:00'"
    )
    d = diagnose(store, "rig", model_path=model_path)
    assert d.n_valid_windows == N_CYCLES - 5
    assert [w.valid for w in d.windows[:6]] == [False] * 5 + [True]
    assert d.windows[0].health == {} and d.windows[0].attention == ()
    assert any(w.kind == "insufficient_data" and "5 of 40" in w.message for w in d.data_quality)
    assert _count(store, "health_history") == 4 * (N_CYCLES - 5)

    only_thin = diagnose(store, "rig", model_path=model_path, selection=Selection(cycles=(1, 5)))
    assert only_thin.overall_status is Status.INSUFFICIENT_DATA
    assert only_thin.overall_health is None
    assert only_thin.verdict.startswith("Insufficient data: 0 of 5 window(s)")
    for c in only_thin.components:
        assert c.health is None
        assert c.status in (Status.INSUFFICIENT_DATA, Status.NOT_ASSESSED)
    assert {r.component_id for r in only_thin.recommendations} >= {"C1", "V10", "MP1", "ACC"}


def test_component_without_data_around_it_is_insufficient(store: Store, model_path: Path) -> None:
    store.con.execute(
        "DELETE FROM measurements_long WHERE sensor_id IN ('TS2', 'TS4', 'CE', 'CP', 'PS6', 'TS1')"
    )
    d = diagnose(store, "rig", model_path=model_path)
    c1 = d.component("C1")
    assert c1.status is Status.INSUFFICIENT_DATA and c1.grade is None
    assert any(
        r.rule_id == "insufficient-data" and r.component_id == "C1" for r in d.recommendations
    )
    assert "not assessed for lack of data: Cooler C1" in d.verdict
    # the CLI table's columns stay aligned with the longest status text
    from app.commands.diagnose import summary

    lines = summary(d).splitlines()
    top = next(
        i for i, line in enumerate(lines) if line.startswith("component ") and "health" in line
    )
    end = lines[top].index("health") + len("health")
    row = next(line for line in lines if line.startswith("C1 Cooler C1"))
    assert "insufficient data" in row and row[end - 6 : end].strip() == "—"


def test_continuous_data_without_cycles_uses_sliding_windows(
    store: Store, model_path: Path
) -> None:
    store.con.execute("DELETE FROM cycles")
    d = diagnose(store, "rig", model_path=model_path)
    assert d.n_windows == N_CYCLES
    assert all(w.cycle is None for w in d.windows)
    assert d.component("C1").selection_grade == 2 and d.component("C1").grade == 3
    with pytest.raises(EngineError, match="no load cycles"):
        diagnose(store, "rig", model_path=model_path, selection=Selection(cycles=(1, 2)))


def test_bad_requests_store_nothing(store: Store, model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(HydroDiagError, match="no equipment 'pump7'"):
        diagnose(store, "pump7", model_path=model_path)
    with pytest.raises(
        EngineError,
        match=r"no data for equipment 'rig' in the selected range \(cycles 500-600\).*cycles 1-40",
    ):
        diagnose(store, "rig", model_path=model_path, selection=Selection(cycles=(500, 600)))
    other = save_model(build_contract_model(profile_id="excavator"), tmp_path / "x" / "m.onnx")
    with pytest.raises(ModelError, match="trained for profile 'excavator'"):
        diagnose(store, "rig", model_path=other)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x01garbage")
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        diagnose(store, "rig", model_path=junk)

    class CancelAtOnce:
        cancelled = True

        def start(self, task: str, total: int | None = None, unit: str = "rows") -> None: ...
        def update(self, done: int, total: int | None = None) -> None: ...
        def finish(self) -> None: ...

    with pytest.raises(CancelledError):
        diagnose(store, "rig", model_path=model_path, progress=CancelAtOnce())
    assert _count(store, "diagnoses") == 0
    assert _count(store, "health_history") == 0
    assert _count(store, "recommendations") == 0


def test_parse_helpers() -> None:
    assert parse_cycles("3:9") == (3, 9) and parse_cycles("4") == (4, 4)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("15min") == timedelta(minutes=15)
    with pytest.raises(EngineError, match="FIRST:LAST"):
        parse_cycles("9:3")
    with pytest.raises(EngineError, match="not a duration"):
        parse_duration("two hours")
    with pytest.raises(ValueError, match="choose one of"):
        Selection(cycles=(1, 2), last=timedelta(hours=1))


def test_anomaly_reference_from_the_model_metadata(store: Store, tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    spec = GraphSpec.from_profile(rig).fit_normalisation(
        {s: np.loadtxt(write_uci_subset_path() / f"{s}.txt") for s in UCI_SENSORS}
    )
    # the tank's typical error is tiny in this "training data": its real error scores high
    reference = {node: 1.0 for node in spec.node_ids} | {"T": 1e-6}
    model = build_contract_model(
        profile_id=rig.id,
        profile_sha256=profile_sha256(spec),
        graph_spec=json.loads(spec.to_json()),
        graded_components=("C1",),
        metadata={"hydrodiag.forecast_error_reference": json.dumps(reference)},
    )
    path = save_model(model, tmp_path / "ref" / "model.onnx")
    d = diagnose(store, "rig", model_path=path)
    tank = d.component("T")
    assert tank.anomaly is not None and tank.anomaly.reference == "model card"
    assert tank.anomaly.is_anomalous and tank.anomaly.top_sensors[0].sensor_id == "TS1"
    assert any(f.kind == "unexplained_anomaly" and f.component_id == "T" for f in d.findings)
    assert any(
        r.rule_id == "unexplained-anomaly" and r.component_id == "T" for r in d.recommendations
    )


def write_uci_subset_path() -> Path:
    from tests.conftest import UCI_DIR

    return UCI_DIR


def test_grades_compared_with_labels(store: Store, model_path: Path) -> None:
    from gnn.agreement import compare_with_labels

    d = diagnose(store, "rig", model_path=model_path)
    agreement = compare_with_labels(store, d)
    # the first 40 UCI cycles: cooler at 3 % (grade 3), valve 100 %, no leakage, 130 bar
    assert set(agreement) == {"C1", "V10", "MP1", "ACC"}
    assert agreement["V10"].accuracy == 1.0 and agreement["V10"].n_windows == N_CYCLES
    c1 = agreement["C1"]
    assert sum(c1.confusion[3]) == N_CYCLES  # every label is grade 3
    assert c1.accuracy == c1.confusion[3][3] / N_CYCLES


def test_component_trends_from_stored_history(store: Store, model_path: Path) -> None:
    from gnn.persist import component_trends

    assert component_trends(store, "rig") == {}
    diagnose(store, "rig", model_path=model_path)
    trends = component_trends(store, "rig")
    assert set(trends) == {"C1", "V10", "MP1", "ACC"}
    assert trends["C1"].n_points == N_CYCLES and not trends["C1"].enough_history


def test_loaded_model_is_reused_until_the_file_changes(tmp_path: Path, model_path: Path) -> None:
    from gnn.model_cache import cached_model

    path = tmp_path / "m" / "model.onnx"
    path.parent.mkdir()
    shutil.copy(model_path, path)
    first = cached_model(path, provider="cpu")
    assert cached_model(path, provider="cpu") is first
    os.utime(path, ns=(10**18, 10**18))  # the file was replaced (new modification time)
    assert cached_model(path, provider="cpu") is not first


def test_model_cache_is_shared_across_threads_and_keeps_the_newest(model_path: Path) -> None:
    """The GUI diagnoses from worker threads: they all get the one loaded model."""
    from concurrent.futures import ThreadPoolExecutor

    from gnn.model_cache import ModelCache

    cache = ModelCache(size=2)
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: cache.get(model_path, provider="cpu"), range(8)))
    assert all(m is models[0] for m in models)
    first = cache.get(model_path, provider="cpu", threads=1)
    cache.get(model_path, provider="cpu", threads=2)
    assert cache.get(model_path, provider="cpu", threads=1) is first
    cache.get(model_path, provider="cpu", threads=3)  # a third: the oldest goes
    assert cache.get(model_path, provider="cpu", threads=1) is not first


def test_grade_share_and_recent_condition(store: Store, model_path: Path) -> None:
    d = diagnose(store, "rig", model_path=model_path)
    c1 = d.component("C1")
    window_grades = [w.grade["C1"] for w in d.windows]
    assert sum(c1.selection_grade_share) == pytest.approx(1.0, abs=1e-3)
    assert c1.selection_grade_share[2] == pytest.approx(window_grades.count(2) / N_CYCLES, abs=1e-3)
    last = d.windows[-10:]
    now = np.mean([w.health["C1"] for w in last])
    assert c1.health == pytest.approx(now, abs=1e-3) and c1.recent_health == c1.health
    mean = np.mean([w.health["C1"] for w in d.windows])
    assert c1.selection_health == pytest.approx(mean, abs=1e-3)
    assert d.component("V10").grade_share == (1.0, 0.0, 0.0, 0.0)


def _with_metadata(model_path: Path, target: Path, extra: dict[str, str]) -> Path:
    """A copy of the test model (and its card) with metadata entries added."""
    import onnx

    target.mkdir(parents=True)
    shutil.copy(model_path.with_name("card.json"), target / "card.json")
    proto = onnx.load(str(model_path))
    for key, value in extra.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(target / "model.onnx"))
    return target / "model.onnx"


def test_fault_components_come_from_the_model_metadata(
    store: Store, model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The model's own mapping decides which fault types a component shows, not the labels."""
    from gnn import contract

    mapping = {
        "cooler_efficiency_loss": ["C1"],
        "valve_switching_lag": ["V10", "C1"],  # unlike the labels: also on the cooler
        "pump_internal_leakage": ["MP1"],
        "accumulator_precharge_loss": ["ACC"],
    }
    path = _with_metadata(
        model_path, tmp_path / "explicit", {contract.META_FAULT_COMPONENTS: json.dumps(mapping)}
    )
    with caplog.at_level("WARNING", logger="gnn.faults"):
        d = diagnose(store, "rig", model_path=path, save=False)
    assert list(d.component("C1").fault_probs) == [
        "cooler_efficiency_loss",
        "valve_switching_lag",
    ]  # in the model's fault order
    assert list(d.component("V10").fault_probs) == ["valve_switching_lag"]
    assert contract.META_FAULT_COMPONENTS not in caplog.text  # nothing inferred


def test_older_model_without_the_key_is_inferred_from_labels_with_a_warning(
    store: Store, model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _with_metadata(model_path, tmp_path / "old", {})  # a fresh path: warned once per model
    with caplog.at_level("WARNING", logger="gnn.faults"):
        d = diagnose(store, "rig", model_path=path, save=False)
        diagnose(store, "rig", model_path=path, save=False)
    assert set(d.component("C1").fault_probs) == {"cooler_efficiency_loss"}
    warnings = [r.getMessage() for r in caplog.records if "fault_components" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and "inferred from equipment 'rig''s labels" in warnings[0]


def test_model_mapping_a_fault_to_an_unknown_component_is_refused(
    store: Store, model_path: Path, tmp_path: Path
) -> None:
    from gnn import contract

    mapping = {f: ["C1"] for f in UCI_FAULTS} | {"valve_switching_lag": ["V99"]}
    path = _with_metadata(
        model_path, tmp_path / "bad", {contract.META_FAULT_COMPONENTS: json.dumps(mapping)}
    )
    before = _count(store, "diagnoses")
    with pytest.raises(ModelError, match=r"fault_components maps fault type 'valve_switching_lag'"):
        diagnose(store, "rig", model_path=path)
    assert _count(store, "diagnoses") == before
