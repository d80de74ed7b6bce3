"""gnn.runtime on a real model exported by training/export.py (tiny, untrained): checks and parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from gnn import contract
from gnn.graph import GraphSpec, build_inputs
from gnn.model import InferenceModel, TemporalGNN
from gnn.runtime import ModelError, load_model
from ingestion.profiles import load_profile
from training.export import ModelMeta, export_onnx


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemporalGNN, Path]:
    torch.manual_seed(1)
    spec = GraphSpec.from_profile(load_profile("zema-test-rig")).with_normalisation(
        {"PS1": (155.0, 10.0), "TS1": (45.0, 5.0)}
    )
    model = TemporalGNN(spec.num_features, num_fault_types=2, hidden_channels=8, heads=2).eval()
    meta = ModelMeta(
        model_id="tiny",
        model_version="0.1",
        graph_spec=spec,
        fault_types=("cooler_efficiency_loss", "valve_switching_lag"),
        graded_components=("C1", "V10"),
        forecast_reference={"MP1": 0.5},
    )
    return model, export_onnx(model, meta, tmp_path_factory.mktemp("tiny") / "model.onnx")


def test_exported_model_loads_for_its_profile_and_matches_torch(
    exported: tuple[TemporalGNN, Path],
) -> None:
    net, path = exported
    rig = load_profile("zema-test-rig")
    model = load_model(path, provider="cpu", profile=rig, equipment="rig")
    assert (model.model_id, model.model_version) == ("tiny", "0.1")
    assert model.graded_components == ("C1", "V10")
    assert model.graph_spec.sensor("PS1").mean == 155.0
    rng = np.random.default_rng(0)
    values = {"PS1": rng.normal(150, 5, (5, 60)), "TS1": rng.normal(45, 1, (5, 60))}
    values["TS1"][2, 10:20] = np.nan
    x, mask = build_inputs(model.graph_spec, values)
    ours = model.run(x, mask, batch_size=2)
    static = [torch.from_numpy(a) for a in model.static_inputs().values()]
    with torch.no_grad():
        ref = InferenceModel(net).eval()(torch.from_numpy(x), torch.from_numpy(mask), *static)
    for name, theirs in zip(contract.OUTPUTS, ref, strict=True):
        np.testing.assert_allclose(getattr(ours, name), theirs.numpy(), atol=1e-4, err_msg=name)


def test_edited_metadata_is_refused(exported: tuple[TemporalGNN, Path], tmp_path: Path) -> None:
    _, path = exported
    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        if entry.key == contract.META_CONTRACT_VERSION:
            entry.value = str(contract.CONTRACT_VERSION + 1)
    newer = tmp_path / "newer.onnx"
    onnx.save(proto, str(newer))
    with pytest.raises(ModelError, match=f"contract version {contract.CONTRACT_VERSION + 1}"):
        load_model(newer)

    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        if entry.key == contract.META_GRAPH_SPEC:
            spec = json.loads(entry.value)
            spec["profile_id"] = "zema-test-rig"
            spec["nodes"] = spec["nodes"][:-1]  # a profile with one component less
            entry.value = json.dumps(spec)
        if entry.key == contract.META_PROFILE_SHA256:
            entry.value = "a" * 64
    other = tmp_path / "other-graph.onnx"
    onnx.save(proto, str(other))
    with pytest.raises(ModelError, match="different version of profile 'zema-test-rig'"):
        load_model(other, profile=load_profile("zema-test-rig"))
