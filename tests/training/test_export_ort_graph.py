"""The exported graph avoids what ONNX Runtime runs slowly, without changing what it computes.

ONNX Runtime (CPU) runs Elu with a scalar kernel and an Add that broadcasts a short vector over
many rows row by row; the export therefore writes ELU from vectorised ops and every linear as a
2-D Gemm (bias inside), and builds the incoming-edge table once for all GATv2 layers
(docs/diagnosis.md, "ONNX Runtime export graph"); the second pass feeds the LSTM time-major,
computes the attention logits with E*S as the product's output columns and puts only the
window pieces through the encoder's first product. These tests pin both the speed-relevant
shape of the graph and that torch and ONNX Runtime still agree.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from gnn.graph import GraphSpec
from gnn.layers import elu, linear
from gnn.model import TemporalGNN
from tests.onnx_models import export_small_model
from training.export import (
    PARITY_TOLERANCE,
    default_parity_cases,
    parity_check,
)


def _export(module: nn.Module, example: Tensor, path: Path) -> ort.InferenceSession:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            opset_version=18,
            dynamic_axes={"x": {0: "a", 1: "b"}, "y": {0: "a", 1: "b"}},
            dynamo=False,
        )
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


class _Elu(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return elu(x)


def test_elu_export_matches_torch_elu_without_an_elu_node(tmp_path: Path) -> None:
    values = torch.tensor(
        [-1e4, -100.0, -20.0, -1.0, -1e-3, -1e-8, 0.0, 1e-8, 1e-3, 0.5, 1.0, 20.0, 100.0, 3e38]
    )
    x = values.repeat(3, 1)
    session = _export(_Elu(), torch.randn(2, 5), tmp_path / "elu.onnx")
    ops = {n.op_type for n in onnx.load(str(tmp_path / "elu.onnx")).graph.node}
    assert "Elu" not in ops  # ORT's Elu kernel is the slow one
    (got,) = session.run(None, {"x": x.numpy()})
    want = F.elu(x).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert np.array_equal(got[x.numpy() > 0], want[x.numpy() > 0])  # exact above 0
    assert torch.equal(elu(x), F.elu(x))  # torch eager keeps its own kernel


def test_linear_is_the_layer_exactly_and_exports_as_gemm(tmp_path: Path) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(16, 8)
    for x in (
        torch.randn(5, 7, 16),
        torch.randn(2, 3, 4, 16),
        torch.randn(7, 5, 16).transpose(0, 1),
    ):
        assert torch.equal(linear(layer, x), layer(x))

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, x: Tensor) -> Tensor:
            return linear(self.layer, x)

    session = _export(Wrap(), torch.randn(3, 4, 16), tmp_path / "linear.onnx")
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "linear.onnx")).graph.node)
    assert ops["Gemm"] == 1 and ops["Add"] == 0
    x = torch.randn(6, 9, 16)
    (got,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(got, layer(x).detach().numpy(), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[TemporalGNN, GraphSpec, Path]:
    model, meta, path = export_small_model(
        tmp_path_factory.mktemp("ort-graph") / "model.onnx",
        seed=3,
        model_id="test-ort-graph",
        model_version="0",
        fault_types=("a", "b"),
        meta={"graded_components": ("C1",), "fault_components": {"a": ("C1",), "b": ("C1",)}},
        num_layers=2,
        time_frequencies=2,
        readout_layers=1,
    )
    return model, meta.graph_spec, path


def _static_shapes(
    path: Path, dims: dict[str, int]
) -> tuple[onnx.ModelProto, dict[str, list[int]]]:
    """The graph with its dynamic input sizes fixed, and every value's inferred shape."""
    proto = onnx.load(str(path))
    for value in [*proto.graph.input, *proto.graph.output]:
        for d in value.type.tensor_type.shape.dim:
            if d.dim_param in dims:
                size = dims[d.dim_param]
                d.Clear()
                d.dim_value = size
    proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    shapes: dict[str, list[int]] = {}
    for value in [*proto.graph.value_info, *proto.graph.input, *proto.graph.output]:
        dim = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dim):
            shapes[value.name] = [d.dim_value for d in dim]
    for init in proto.graph.initializer:
        shapes[init.name] = list(init.dims)
    for node in proto.graph.node:
        if node.op_type == "Constant":
            shapes[node.output[0]] = list(onnx.numpy_helper.to_array(node.attribute[0].t).shape)
    return proto, shapes


def test_exported_graph_avoids_ort_slow_paths(
    exported: tuple[TemporalGNN, GraphSpec, Path],
) -> None:
    _, spec, path = exported
    proto, shapes = _static_shapes(
        path, {"B": 1, "T": 60, "N": spec.num_nodes, "E": spec.num_edges}
    )
    ops = Counter(n.op_type for n in proto.graph.node)
    assert ops["Elu"] == 2  # only the small grade/fault heads keep torch's ELU
    # the incoming-edge table (its one ScatterElements) is built once for all 3 GATv2 layers
    assert ops["ScatterElements"] == 1
    slow = []
    for node in proto.graph.node:
        if node.op_type not in ("Add", "Sub", "Mul", "Div"):
            continue
        out = shapes.get(node.output[0])
        if out is None or int(np.prod(out)) < 1000:
            continue
        for name in node.input:
            size = int(np.prod(shapes[name])) if name in shapes else -1
            if 1 < size < int(np.prod(out)) and shapes[name][-1] == out[-1] and len(out) >= 2:
                slow.append((node.name, shapes[name], out))  # a row vector broadcast over rows
    assert not slow, slow


def test_exported_graph_parity(exported: tuple[TemporalGNN, GraphSpec, Path]) -> None:
    model, spec, path = exported
    cases = default_parity_cases(spec)
    assert len({c[0].shape[1] for c in cases}) >= 3  # several N (and E, T)
    for case, report in zip(cases, parity_check(model, path, cases), strict=True):
        assert max(report.values()) <= PARITY_TOLERANCE, (case[0].shape, report)


def _constant_shapes(proto: onnx.ModelProto) -> dict[str, list[int]]:
    shapes = {i.name: list(i.dims) for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant":
            shapes[node.output[0]] = list(onnx.numpy_helper.to_array(node.attribute[0].t).shape)
    return shapes


def test_export_only_layouts(exported: tuple[TemporalGNN, GraphSpec, Path]) -> None:
    """The export-only rewrites of gnn/model.py are what the ONNX file contains."""
    model, spec, path = exported
    proto = onnx.load(str(path))
    nodes = list(proto.graph.node)
    producer = {out: node for node in nodes for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    constant = _constant_shapes(proto)

    # The LSTM is fed and read time-major through 4-D Transposes, not between the two 3-D
    # [B*N, T, H] <-> [T, B*N, H] Transposes a batch-first LSTM exports with.
    (lstm,) = [n for n in nodes if n.op_type == "LSTM"]
    before = producer[lstm.input[0]]
    while before.op_type in ("Reshape", "Squeeze", "Unsqueeze"):
        before = producer[before.input[0]]
    after = consumers[lstm.output[0]][0]
    while after.op_type in ("Reshape", "Squeeze", "Unsqueeze"):
        after = consumers[after.output[0]][0]
    for transpose in (before, after):
        assert transpose.op_type == "Transpose"
        (perm,) = [list(a.ints) for a in transpose.attribute if a.name == "perm"]
        assert perm == [2, 1, 0, 3]
    assert [a.i for a in lstm.attribute if a.name == "layout"] in ([], [0])

    # Attention logits: [H, H*C] x act^T (E*S output columns), never act x [H*C, H].
    h, hc = model.heads, model.hidden_channels
    products = [n for n in nodes if n.op_type in ("MatMul", "Gemm")]
    logits = [n for n in products if constant.get(n.input[0]) == [h, hc]]
    assert len(logits) == model.num_layers + model.readout_layers
    heads = ("grade_head", "fault_head")  # their [hc, G or K] weights may have that shape
    assert not [
        n
        for n in products
        if constant.get(n.input[1]) == [hc, h] and not any(k in n.name for k in heads)
    ]

    # Encoder: only the window pieces (x, mask, delta: 3F values) go through a product per
    # node and step; node type and clock are added as a table.
    f = spec.num_features
    assert [n for n in products if constant.get(n.input[1]) == [3 * f, hc]]
    wide = 3 * f + model.type_dim + 2 * model.time_frequencies
    assert not [n for n in products if wide in (constant.get(n.input[1]) or [])]
