"""Exported ONNX == torch on graphs of several sizes and lengths; metadata the engine relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from gnn import contract
from gnn.graph import GraphSpec, profile_sha256
from gnn.model import TemporalGNN
from ingestion.profiles import load_profile
from tests.onnx_models import export_small_model
from training.export import (
    PARITY_TOLERANCE,
    ModelMeta,
    default_parity_cases,
    load_checkpoint,
    parity_check,
    random_graph_inputs,
    save_checkpoint,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemporalGNN, ModelMeta, Path]:
    return export_small_model(
        tmp_path_factory.mktemp("onnx") / "model.onnx",
        seed=0,
        model_id="test-model",
        fault_types=("a", "b", "c"),
        spec=GraphSpec.from_profile(load_profile("zema-test-rig")).with_normalisation(
            {"PS1": (150.0, 5.0)}
        ),
        meta={"graded_components": ("C1", "ACC"), "forecast_reference": {"MP1": 0.5}},
        num_layers=2,
        time_frequencies=3,
        readout_layers=1,
    )


def test_checker_names_opset_and_metadata(exported: tuple[TemporalGNN, ModelMeta, Path]) -> None:
    _model, meta, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == list(contract.INPUTS)
    assert [o.name for o in proto.graph.output] == list(contract.OUTPUTS)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == (
        contract.OPSET
    )
    x_dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert x_dims[:3] == ["B", "N", "T"]  # dynamic batch, nodes and time
    props = {p.key: p.value for p in proto.metadata_props}
    assert props[contract.META_CONTRACT_VERSION] == str(contract.CONTRACT_VERSION)
    assert props[contract.META_MODEL_ID] == "test-model"
    assert props[contract.META_PROFILE_ID] == "zema-test-rig"
    assert props[contract.META_PROFILE_SHA256] == profile_sha256(meta.graph_spec)
    spec = GraphSpec.from_json(props[contract.META_GRAPH_SPEC])
    assert spec == meta.graph_spec and spec.sensor("PS1").mean == 150.0
    assert json.loads(props[contract.META_FAULT_TYPES]) == ["a", "b", "c"]
    assert json.loads(props[contract.META_GRADED_COMPONENTS]) == ["C1", "ACC"]


def test_parity_on_graphs_of_several_sizes(exported: tuple[TemporalGNN, ModelMeta, Path]) -> None:
    model, meta, path = exported
    cases = default_parity_cases(meta.graph_spec)
    cases.append(random_graph_inputs(6, 25, 90, meta.graph_spec.num_features, batch=5, seed=9))
    sizes = {(c[0].shape[1], c[3].shape[1], c[0].shape[2]) for c in cases}
    assert len({n for n, _, _ in sizes}) >= 3 and len({t for _, _, t in sizes}) >= 3
    for case, report in zip(cases, parity_check(model, path, cases), strict=True):
        assert set(report) == set(contract.OUTPUTS)
        worst = max(report.values())
        assert worst <= PARITY_TOLERANCE, (case[0].shape, report)


def test_runtime_loads_export(exported: tuple[TemporalGNN, ModelMeta, Path]) -> None:
    from gnn.runtime import load_model

    _, meta, path = exported
    loaded = load_model(path, provider="cpu", profile=load_profile("zema-test-rig"))
    assert loaded.provider == "CPUExecutionProvider"
    assert loaded.fault_types == ("a", "b", "c")
    x, mask, *_ = default_parity_cases(meta.graph_spec)[0]
    out = loaded.run(x, mask)
    assert out.grade_probs.shape == (3, 11, 4)
    np.testing.assert_allclose(out.grade_probs.sum(-1), 1.0, atol=1e-5)


def test_checkpoint_round_trip(
    tmp_path: Path, exported: tuple[TemporalGNN, ModelMeta, Path]
) -> None:
    model, meta, _ = exported
    save_checkpoint(tmp_path / "m.pt", model, meta, {"note": "x"})
    again, meta2, extra = load_checkpoint(tmp_path / "m.pt")
    assert meta2 == meta and extra == {"note": "x"}
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_parity_with_fourier_moments(tmp_path: Path) -> None:
    """The moment pooling (basis built from T inside forward) exports with T dynamic."""
    model, meta, path = export_small_model(
        tmp_path / "model.onnx",
        seed=1,
        model_id="test-moments",
        fault_types=("a", "b"),
        meta={"graded_components": ("ACC",), "forecast_reference": {}},
        readout_layers=1,
        moment_frequencies=4,
    )
    spec = meta.graph_spec
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["hydrodiag.hparams"])["moment_frequencies"] == 4
    cases = default_parity_cases(spec)
    cases.append(random_graph_inputs(6, 25, 90, spec.num_features, batch=5, seed=9))
    assert len({c[0].shape[2] for c in cases}) >= 3
    for case, report in zip(cases, parity_check(model, path, cases), strict=True):
        assert max(report.values()) <= PARITY_TOLERANCE, (case[0].shape, report)
    save_checkpoint(tmp_path / "m.pt", model, meta, {})
    again, _, _ = load_checkpoint(tmp_path / "m.pt")
    assert again.moment_frequencies == 4
