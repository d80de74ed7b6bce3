"""Learning a machine's normal without labels (training/normal.py, training/normal_calibration.py,
gnn.model.NormalGNN): the model never sees what it predicts, exports with parity, and a fit on
a real workspace diagnoses and evaluates through the product; bad input says what is wrong."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gnn.anomaly_eval import evaluate_anomalies
from gnn.engine import diagnose
from gnn.graph import GraphSpec, build_inputs
from gnn.model import NormalGNN
from gnn.registry import list_models, model_in_use
from gnn.results import Status
from ingestion.csv_import import ingest_csv
from ingestion.csv_plan import CsvOptions
from ingestion.errors import HydroDiagError
from ingestion.profiles import parse_profile_text
from ingestion.progress import CancelledError
from ingestion.workspace import open_workspace
from tests.pump_rig_proxy import FIT_SAMPLES, PROFILE_YAML, START, make_log, write_log
from training.normal import (
    FitOptions,
    FitSelection,
    export_normal,
    fit_linear,
    fit_normal,
    register_fit,
)
from training.normal_calibration import choose_window

FAST = FitOptions(epochs=2, seed=0)
FIT_END = START + timedelta(seconds=FIT_SAMPLES)


@pytest.fixture(scope="module")
def spec() -> GraphSpec:
    return GraphSpec.from_profile(parse_profile_text(PROFILE_YAML, "pump.yaml"))


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace holding one proxy log (an outlet-valve closure after sample 400), imported
    with its label column."""
    log = make_log(1)
    csv = write_log(log, tmp_path / "log.csv")
    ws = tmp_path / "ws.duckdb"
    with open_workspace(ws) as store:
        ingest_csv(
            store,
            csv,
            equipment_id="rig",
            profile=parse_profile_text(PROFILE_YAML, "pump.yaml"),
            options=CsvOptions(label_column="anomaly", skip=("changepoint",)),
        )
    return ws


def test_the_model_never_sees_the_value_it_predicts(spec: GraphSpec) -> None:
    torch.manual_seed(0)
    model = NormalGNN(spec.num_nodes, spec.num_features, own_means=(3, 5)).eval()
    n, f = spec.num_nodes, spec.num_features
    model.set_linear(
        torch.randn(n, f, 3),
        torch.randn(n, f, 2),
        torch.randn(n, f, n, f),
        torch.randn(n, f, n, f),
        torch.randn(n, f),
    )
    torch.nn.init.normal_(model.head_out.weight)
    x = torch.randn(1, n, 12, f, requires_grad=True)
    forecast, _ = model(
        x,
        torch.ones_like(x),
        *(torch.from_numpy(a) for a in (spec.node_type(), spec.edge_index(), spec.edge_type())),
    )
    for sensor in spec.sensors:
        (grad,) = torch.autograd.grad(
            forecast[0, sensor.node, 5, sensor.slot], x, retain_graph=True
        )
        assert grad[0, sensor.node, 6, sensor.slot] == 0.0  # its own present value
        assert grad[0, :, 7:].abs().sum() == 0.0  # the future
        assert grad[0, :, 6].abs().sum() > 0  # the neighbours' present values
        assert grad[0, sensor.node, :6, sensor.slot].abs().sum() > 0  # its own past


def test_export_matches_torch_at_any_batch_and_length(spec: GraphSpec) -> None:
    torch.manual_seed(1)
    model = NormalGNN(spec.num_nodes, spec.num_features).eval()
    torch.nn.init.normal_(model.head_out.weight)
    data, worst = export_normal(model, spec, {"hydrodiag.model_id": "t"}, 16)
    assert worst <= 1e-4
    assert len(data) > 10_000


def test_the_linear_part_recovers_a_linear_relation(spec: GraphSpec) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    flow = rng.normal(0, 1, n)
    values = {s: rng.normal(0, 1, n) for s in spec.sensor_ids}
    values["FLOW"] = flow
    values["PRESS"] = 0.8 * flow + rng.normal(0, 0.1, n)  # the pump's pressure follows flow
    spec = spec.fit_normalisation(values)
    x, m = build_inputs(spec, {k: v[None, :] for k, v in values.items()})
    own, _, now, _, _ = fit_linear(spec, [(x[0], m[0])], hops=2, lags=2, ridge=1e-4)
    press, flow_s = spec.sensor("PRESS"), spec.sensor("FLOW")
    weight = now[press.node, press.slot, flow_s.node, flow_s.slot]
    assert weight == pytest.approx(0.99, abs=0.03)  # normalised units: both std ~1
    assert abs(own[press.node, press.slot, 0]) < 0.05  # its own past adds nothing here


def test_the_window_comes_from_the_data() -> None:
    t = np.arange(3000)
    rng = np.random.default_rng(0)
    cyclic = {"a": np.sin(2 * np.pi * t / 60) + rng.normal(0, 0.1, t.size)}
    assert choose_window([cyclic]).samples == 60
    noise = {"a": rng.normal(0, 1, t.size)}
    choice = choose_window([noise])
    assert choice.period is None and choice.samples == 64
    assert choose_window([noise], given=30).how == "given"


@pytest.mark.slow
def test_fit_diagnose_and_evaluate_a_new_machine(workspace: Path) -> None:
    with open_workspace(workspace, read_only=True) as store:
        result = fit_normal(store, "rig", FitSelection(end=FIT_END), FAST)
    card = result.card
    assert card["kind"] == "anomaly" and card["data"]["train_samples"] == 300
    assert card["window"]["length_s"] >= 60 and card["data"]["digest"]
    with open_workspace(workspace) as store:
        registration = register_fit(store, result, activate=True)
        assert registration.entry.kind == "anomaly"
        assert model_in_use(store, "rig").entry.key == registration.entry.key
        d = diagnose(store, "rig", save=True)
        assert d.model_kind == "anomaly" and d.overall_health is None
        v2 = d.component("V2")  # the inlet valve has no sensor
        assert v2.status is Status.NOT_ASSESSED and not v2.assessed
        assert all(c.health is None and c.grade is None for c in d.components)
        log = make_log(1)
        lo, hi = log.segments[0]
        fault = (START + timedelta(seconds=lo), START + timedelta(seconds=hi))
        hits = [e for e in d.episodes if e.start < fault[1] and e.end > fault[0]]
        assert hits, d.verdict
        assert "anomalous" in d.verdict and "UTC:" in d.verdict
        assert "not assessed (no sensors): Inlet valve V2" in d.verdict
        evaluation = evaluate_anomalies(store, "rig")
        assert evaluation.points.f1 is not None and evaluation.points.f1 > 0.5
        assert evaluation.events_detected == 1
        assert evaluation.points_outside_fit is not None


def test_too_little_data_says_how_much_is_needed(workspace: Path) -> None:
    with (
        open_workspace(workspace, read_only=True) as store,
        pytest.raises(HydroDiagError, match=r"too little normal data.*needs at least [\d,]+ \("),
    ):
        fit_normal(store, "rig", FitSelection(end=START + timedelta(seconds=120)), FAST)


def _with_bad_sensors(tmp_path: Path) -> Path:
    log = make_log(2)
    log.values["VOLT"][:] = 230.0  # constant
    log.values["FLOW"][100:160] = np.nan  # a gap
    csv = write_log(log, tmp_path / "bad.csv")
    ws = tmp_path / "bad.duckdb"
    with open_workspace(ws) as store:
        ingest_csv(
            store,
            csv,
            equipment_id="rig",
            profile=parse_profile_text(PROFILE_YAML, "pump.yaml"),
            options=CsvOptions(label_column="anomaly", skip=("changepoint",)),
        )
    return ws


def test_constant_sensors_and_gaps_are_masked_with_a_warning(tmp_path: Path) -> None:
    ws = _with_bad_sensors(tmp_path)
    with open_workspace(ws, read_only=True) as store:
        result = fit_normal(store, "rig", FitSelection(end=FIT_END), FitOptions(epochs=0))
    assert result.calibration.masked_sensors == ("VOLT",)
    assert "VOLT" not in result.calibration.residuals
    assert any("VOLT: constant (230)" in w for w in result.warnings)
    assert any(w.startswith("FLOW: 15.0 % of the fit stretch missing") for w in result.warnings)


def test_labelled_faults_in_the_stretch_are_left_out_or_refused(workspace: Path) -> None:
    whole = FitSelection()  # the whole log: its fault is labelled
    with open_workspace(workspace, read_only=True) as store:
        with pytest.raises(HydroDiagError, match=r"holds labelled faults.*not all normal"):
            fit_normal(store, "rig", whole, FitOptions(epochs=0, labelled_faults="refuse"))
        result = fit_normal(store, "rig", whole, FitOptions(epochs=0))
    assert result.card["data"]["excluded"]
    assert any(w.startswith("left out: log label 1 ") for w in result.warnings)


class _CancelAfter:
    def __init__(self, updates: int) -> None:
        self.left = updates

    @property
    def cancelled(self) -> bool:
        return self.left <= 0

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None:
        pass

    def update(self, done: int, total: int | None = None) -> None:
        self.left -= 1

    def finish(self) -> None:
        pass


def test_a_cancelled_fit_leaves_the_registry_unchanged(workspace: Path) -> None:
    with open_workspace(workspace, read_only=True) as store:
        before = [e.key for e in list_models(store)]
        with pytest.raises(CancelledError):
            fit_normal(store, "rig", FitSelection(end=FIT_END), FAST, progress=_CancelAfter(1))
    with open_workspace(workspace, read_only=True) as store:
        assert [e.key for e in list_models(store)] == before


def test_a_taken_version_is_refused_before_fitting(workspace: Path) -> None:
    with open_workspace(workspace, read_only=True) as store:
        result = fit_normal(store, "rig", FitSelection(end=FIT_END), FitOptions(epochs=0))
    with open_workspace(workspace) as store:
        register_fit(store, result)
    options: dict[str, Any] = {"epochs": 0, "model_version": result.model_version}
    with (
        open_workspace(workspace, read_only=True) as store,
        pytest.raises(HydroDiagError, match=r"already holds model rig-normal@1\.0\.0"),
    ):
        fit_normal(store, "rig", FitSelection(end=FIT_END), FitOptions(**options))
