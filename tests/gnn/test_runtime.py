"""gnn.runtime: refusing bad model files before running, provider reporting, batched runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from gnn import contract
from gnn.graph import GraphSpec, build_inputs, profile_sha256
from gnn.runtime import ModelError, load_model
from ingestion.profiles import load_profile
from tests.gnn.test_runtime_models import build_contract_model, line_graph_static, save_model


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    return save_model(
        build_contract_model(fault_types=("leak", "lag")),
        tmp_path / "m" / "model.onnx",
        card={"metrics": {"accuracy": {"cooler": 0.99, "valve": 0.9}, "n_test": 400}},
    )


def test_loads_metadata_card_and_reports_cpu(model_path: Path) -> None:
    model = load_model(model_path, provider="cpu")
    assert model.provider == "CPUExecutionProvider"
    assert model.providers == ("CPUExecutionProvider",)
    assert model.provider_note == ""
    assert model.model_id == "test-model"
    assert model.model_version == "0.0.1"
    assert model.contract_version == contract.CONTRACT_VERSION
    assert model.fault_types == ("leak", "lag")
    assert model.graded_components == ("A",)
    assert model.card_metrics == {"accuracy.cooler": 0.99, "accuracy.valve": 0.9, "n_test": 400.0}


def test_provider_reported_is_the_one_that_runs(model_path: Path) -> None:
    from gnn.gpu import cuda_status

    model = load_model(model_path, provider="auto")
    # Whatever was asked for, the report must be what the session really uses.
    assert model.provider == model.session.get_providers()[0]
    if model.provider != "CUDAExecutionProvider":  # never a silent fallback: why, in words
        assert model.provider_note == cuda_status().reason
        assert model.provider_note.startswith("running on the CPU: ")
    cuda = load_model(model_path, provider="cuda")
    assert cuda.provider == cuda.session.get_providers()[0]
    if cuda.provider != "CUDAExecutionProvider":
        assert cuda.provider_note.startswith("running on the CPU: ")


@pytest.mark.parametrize(
    ("missing", "said"),
    [
        ("driver", "no NVIDIA GPU driver found"),
        ("cudart", "CUDA GPU found but the CUDA 12 runtime is missing"),
        ("cublas", "CUDA GPU found but cuBLAS 12 is missing"),
        ("cudnn", "CUDA GPU found but cuDNN 9 is missing"),
    ],
)
def test_a_missing_cuda_library_is_named(
    model_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str, said: str
) -> None:
    from gnn.gpu import SIMULATE_MISSING_ENV, cuda_status

    monkeypatch.setenv(SIMULATE_MISSING_ENV, missing)
    cuda_status.cache_clear()
    try:
        model = load_model(model_path, provider="auto")
        assert model.provider == "CPUExecutionProvider"
        assert model.provider_note.startswith(f"running on the CPU: {said}")
        assert load_model(model_path, provider="cpu").provider_note == ""  # asked for the CPU
    finally:
        cuda_status.cache_clear()


def test_run_batches_give_the_same_result(model_path: Path) -> None:
    model = load_model(model_path, provider="cpu")
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, size=(7, 4, 6, 3)).astype(np.float32)
    mask = (rng.random(x.shape) > 0.2).astype(np.float32)
    static = line_graph_static(4)
    whole = model.run(x, mask, static=static, batch_size=100)
    pieces = model.run(x, mask, static=static, batch_size=3)
    assert whole.n_windows == 7
    for name in ("grade_probs", "health", "fault_probs", "forecast", "attention"):
        assert np.allclose(getattr(whole, name), getattr(pieces, name), atol=1e-6), name
    assert whole.grade_probs.shape == (7, 4, 4)
    assert whole.fault_probs.shape == (7, 4, 2)
    assert whole.attention.shape == (7, 2, 10)


def test_nan_never_reaches_the_model(model_path: Path) -> None:
    model = load_model(model_path, provider="cpu")
    x = np.zeros((1, 2, 3, 1), dtype=np.float32)
    x[0, 0, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.run(x, np.ones_like(x), static=line_graph_static(2))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="it is a folder"):
        load_model(tmp_path)


def test_corrupt_file_is_refused(tmp_path: Path, model_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf \x00\xff\x10" * 10)
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        load_model(junk)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:200])
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        load_model(truncated)


def test_other_contract_version_is_refused(tmp_path: Path) -> None:
    path = save_model(
        build_contract_model(metadata={contract.META_CONTRACT_VERSION: "99"}), tmp_path / "v.onnx"
    )
    with pytest.raises(ModelError, match="contract version 99"):
        load_model(path)


def test_plain_onnx_without_metadata_is_refused(tmp_path: Path) -> None:
    path = save_model(
        build_contract_model(metadata={contract.META_CONTRACT_VERSION: None}), tmp_path / "p.onnx"
    )
    with pytest.raises(ModelError, match="no HydroDiag metadata"):
        load_model(path)


def test_incomplete_metadata_is_refused(tmp_path: Path) -> None:
    path = save_model(
        build_contract_model(metadata={contract.META_GRAPH_SPEC: None}), tmp_path / "g.onnx"
    )
    with pytest.raises(ModelError, match=r"missing hydrodiag\.graph_spec"):
        load_model(path)
    bad_json = save_model(
        build_contract_model(metadata={contract.META_FAULT_TYPES: "[not json"}),
        tmp_path / "j.onnx",
    )
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(bad_json)


def test_other_input_names_are_refused(tmp_path: Path) -> None:
    names = ("features", *contract.INPUTS[1:])
    path = save_model(build_contract_model(input_names=names), tmp_path / "i.onnx")
    with pytest.raises(ModelError, match="inputs are"):
        load_model(path)


def test_missing_output_is_refused(tmp_path: Path) -> None:
    names = (*contract.OUTPUTS[:-1], "attn")
    path = save_model(build_contract_model(output_names=names), tmp_path / "o.onnx")
    with pytest.raises(ModelError, match="lack \\['attention'\\]"):
        load_model(path)


def test_model_for_another_profile_is_refused(model_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    with pytest.raises(ModelError, match="trained for profile 'test-profile'"):
        load_model(model_path, profile=rig, equipment="rig")


def test_session_outputs_match_direct_onnxruntime(model_path: Path) -> None:
    model = load_model(model_path, provider="cpu")
    x = np.full((2, 3, 4, 2), 1.0, dtype=np.float32)
    mask = np.ones_like(x)
    static = line_graph_static(3)
    direct = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x, "mask": mask, **static}
    )
    ours = model.run(x, mask, static=static)
    assert np.allclose(ours.grade_probs, direct[0])
    assert ours.grade_probs[0, 0].argmax() == 1


def _rig_model(tmp_path: Path, *, sha: str | None = None) -> Path:
    rig = load_profile("zema-test-rig")
    spec = GraphSpec.from_profile(rig)
    return save_model(
        build_contract_model(
            profile_id=rig.id,
            profile_sha256=sha or profile_sha256(spec),
            graph_spec=json.loads(spec.to_json()),
            graded_components=("C1", "V10", "MP1", "ACC"),
        ),
        tmp_path / "rig" / "model.onnx",
    )


def test_model_for_the_rig_runs_with_its_own_graph(tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    model = load_model(_rig_model(tmp_path), provider="cpu", profile=rig, equipment="rig")
    spec = model.graph_spec
    assert spec.node_ids == rig.component_ids
    x, mask = build_inputs(spec, {"PS1": np.full((3, 60), 2.0), "TS1": np.full((3, 60), np.nan)})
    out = model.run(x, mask)
    assert out.grade_probs.shape == (3, spec.num_nodes, 4)
    assert out.attention.shape == (3, 2, spec.num_edges)


def test_model_for_a_changed_profile_is_refused(tmp_path: Path) -> None:
    rig = load_profile("zema-test-rig")
    path = _rig_model(tmp_path, sha="f" * 64)
    with pytest.raises(ModelError, match="different version of profile 'zema-test-rig'"):
        load_model(path, profile=rig, equipment="rig")


def test_one_thread_by_default_and_configurable(model_path: Path) -> None:
    assert load_model(model_path).session.get_session_options().intra_op_num_threads == 1
    two = load_model(model_path, threads=2).session.get_session_options()
    assert two.intra_op_num_threads == 2
    assert two.get_session_config_entry("session.intra_op.allow_spinning") == "0"
