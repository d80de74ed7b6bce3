"""Small, real ONNX models that follow gnn/contract.py, built by hand with the onnx package.

The engine's tests need a model whose answer they can predict: here a node's grade is the
integer nearest to the mean of its (masked) inputs, its fault probabilities rise with that mean,
the forecast is persistence (x itself) and attention is uniform per layer. So a test that writes
data whose normalised mean is 2 on one component expects grade 2 there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx.helper as oh
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper

from gnn import contract

N_LAYERS = 2


def _const(name: str, values: Any, dtype: Any = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name)


def build_contract_model(
    *,
    fault_types: Sequence[str] = ("leak",),
    graded_components: Sequence[str] = ("A",),
    graph_spec: Mapping[str, Any] | None = None,
    metadata: Mapping[str, str | None] | None = None,
    profile_id: str = "test-profile",
    profile_sha256: str = "0" * 64,
    input_names: Sequence[str] = contract.INPUTS,
    output_names: Sequence[str] = contract.OUTPUTS,
    sharpness: float = 8.0,
) -> onnx.ModelProto:
    """A contract-shaped model: grade = nearest integer to the mean of the node's valid inputs.

    ``metadata`` overrides (or, with None values, removes) metadata entries.
    """
    x, mask, node_type, edge_index, edge_type = input_names
    k = len(fault_types)
    nodes = [
        oh.make_node("Mul", [x, mask], ["xm"]),
        oh.make_node("ReduceSum", ["xm", "axes_tf"], ["sx"], keepdims=0),  # [B, N]
        oh.make_node("ReduceSum", [mask, "axes_tf"], ["sm"], keepdims=0),
        oh.make_node("Add", ["sm", "eps"], ["sm1"]),
        oh.make_node("Div", ["sx", "sm1"], ["m"]),  # mean over valid entries (0 when none)
        oh.make_node("Unsqueeze", ["m", "axis_last"], ["m1"]),  # [B, N, 1]
        oh.make_node("Sub", ["m1", "centres"], ["d"]),  # [B, N, G]
        oh.make_node("Mul", ["d", "d"], ["d2"]),
        oh.make_node("Mul", ["d2", "neg_sharp"], ["logits"]),
        oh.make_node("Softmax", ["logits"], [output_names[0]], axis=-1),
        oh.make_node("Mul", [output_names[0], "grade_health"], ["gh"]),
        oh.make_node("ReduceSum", ["gh", "axis_last"], [output_names[1]], keepdims=0),
        oh.make_node("Mul", ["m1", "fault_w"], ["fl"]),  # [B, N, K]
        oh.make_node("Add", ["fl", "fault_b"], ["fl2"]),
        oh.make_node("Sigmoid", ["fl2"], [output_names[2]]),
        oh.make_node("Identity", [x], [output_names[3]]),
        # attention [B, L, E]: sigmoid(window mean) on every edge, halved on layer 2
        oh.make_node("ReduceMean", ["m", "axis_one"], ["mb"], keepdims=0),  # [B]
        oh.make_node("Sigmoid", ["mb"], ["sb"]),
        oh.make_node("Unsqueeze", ["sb", "axes_12"], ["sb3"]),  # [B, 1, 1]
        oh.make_node("Cast", [edge_type], ["et_f"], to=TensorProto.FLOAT),
        oh.make_node("Mul", ["et_f", "zero"], ["et0"]),
        oh.make_node("Add", ["et0", "one"], ["ones_e"]),  # [E]
        oh.make_node("Unsqueeze", ["ones_e", "axes_01"], ["ones_e3"]),  # [1, 1, E]
        oh.make_node("Mul", ["sb3", "ones_e3"], ["att1"]),  # [B, 1, E]
        oh.make_node("Mul", ["att1", "half"], ["att2"]),
        oh.make_node("Concat", ["att1", "att2"], [output_names[4]], axis=1),
        # node_type and edge_index are inputs of the contract; keep them in the graph.
        oh.make_node("Cast", [node_type], ["nt_f"], to=TensorProto.FLOAT),
        oh.make_node("Cast", [edge_index], ["ei_f"], to=TensorProto.FLOAT),
    ]
    inits = [
        _const("axes_tf", [2, 3], np.int64),
        _const("axis_last", [-1], np.int64),
        _const("axis_one", [1], np.int64),
        _const("axes_12", [1, 2], np.int64),
        _const("axes_01", [0, 1], np.int64),
        _const("centres", [0.0, 1.0, 2.0, 3.0]),
        _const("neg_sharp", -sharpness),
        _const("grade_health", contract.GRADE_HEALTH),
        _const("fault_w", np.full(k, 3.0)),
        _const("fault_b", np.full(k, -3.0)),
        _const("zero", 0.0),
        _const("one", 1.0),
        _const("half", 0.5),
        _const("eps", 1e-6),
    ]
    f32 = TensorProto.FLOAT
    i64 = TensorProto.INT64
    graph = oh.make_graph(
        nodes,
        "hydrodiag-test",
        [
            oh.make_tensor_value_info(x, f32, ["B", "N", "T", "F"]),
            oh.make_tensor_value_info(mask, f32, ["B", "N", "T", "F"]),
            oh.make_tensor_value_info(node_type, i64, ["N"]),
            oh.make_tensor_value_info(edge_index, i64, [2, "E"]),
            oh.make_tensor_value_info(edge_type, i64, ["E"]),
        ],
        [
            oh.make_tensor_value_info(output_names[0], f32, ["B", "N", 4]),
            oh.make_tensor_value_info(output_names[1], f32, ["B", "N"]),
            oh.make_tensor_value_info(output_names[2], f32, ["B", "N", k]),
            oh.make_tensor_value_info(output_names[3], f32, ["B", "N", "T", "F"]),
            oh.make_tensor_value_info(output_names[4], f32, ["B", N_LAYERS, "E"]),
        ],
        inits,
    )
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", contract.OPSET)])
    model.ir_version = 9
    meta: dict[str, str | None] = {
        contract.META_CONTRACT_VERSION: str(contract.CONTRACT_VERSION),
        contract.META_MODEL_ID: "test-model",
        contract.META_MODEL_VERSION: "0.0.1",
        contract.META_PROFILE_ID: profile_id,
        contract.META_PROFILE_SHA256: profile_sha256,
        contract.META_GRAPH_SPEC: json.dumps(dict(graph_spec or {"nodes": []})),
        contract.META_FAULT_TYPES: json.dumps(list(fault_types)),
        contract.META_GRADED_COMPONENTS: json.dumps(list(graded_components)),
    }
    meta.update(metadata or {})
    oh.set_model_props(model, {key: v for key, v in meta.items() if v is not None})
    onnx.checker.check_model(model)
    return model


def save_model(model: onnx.ModelProto, path: Path, card: Mapping[str, Any] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    if card is not None:
        (path.parent / "card.json").write_text(json.dumps(card), encoding="utf-8")
    return path


def line_graph_static(n_nodes: int) -> dict[str, np.ndarray]:
    """node_type, edge_index, edge_type of a chain 0-1-…-(n-1), both directions plus self loops."""
    src: list[int] = []
    dst: list[int] = []
    for i in range(n_nodes - 1):
        src += [i, i + 1]
        dst += [i + 1, i]
    src += list(range(n_nodes))
    dst += list(range(n_nodes))
    return {
        contract.INPUT_NODE_TYPE: np.zeros(n_nodes, dtype=np.int64),
        contract.INPUT_EDGE_INDEX: np.asarray([src, dst], dtype=np.int64),
        contract.INPUT_EDGE_TYPE: np.zeros(len(src), dtype=np.int64),
    }


def test_built_model_grades_by_mean_input(tmp_path: Path) -> None:
    path = save_model(build_contract_model(fault_types=("a", "b")), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.zeros((2, 3, 5, 2), dtype=np.float32)
    x[0, 1] = 2.0
    x[1, 2] = 3.0
    feeds = {"x": x, "mask": np.ones_like(x), **line_graph_static(3)}
    grade_probs, health, fault_probs, forecast, attention = session.run(None, feeds)
    assert grade_probs.argmax(-1).tolist() == [[0, 2, 0], [0, 0, 3]]
    assert health[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert health[1, 2] == pytest.approx(0.0, abs=1e-3)
    assert fault_probs.shape == (2, 3, 2)
    assert np.array_equal(forecast, x)
    assert attention.shape == (2, N_LAYERS, 7)
    assert attention[0, 1, 0] == pytest.approx(attention[0, 0, 0] / 2)
