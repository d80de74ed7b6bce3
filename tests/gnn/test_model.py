"""The GATv2 layer against PyG's reference, and the temporal model's shapes and invariants."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.nn import GATv2Conv

from gnn.contract import GRADE_HEALTH
from gnn.graph import GraphSpec, build_inputs
from gnn.layers import GATv2Layer
from gnn.model import InferenceModel, TemporalGNN
from ingestion.profiles import load_profile


def _copy_weights(mine: GATv2Layer, ref: GATv2Conv) -> None:
    with torch.no_grad():
        ref.lin_l.weight.copy_(mine.lin_l.weight)
        ref.lin_l.bias.copy_(mine.lin_l.bias)
        ref.lin_r.weight.copy_(mine.lin_r.weight)
        ref.lin_r.bias.copy_(mine.lin_r.bias)
        ref.att.copy_(mine.att)
        assert mine.lin_edge is not None
        ref.lin_edge.weight.copy_(mine.lin_edge.weight)
        assert mine.bias is not None
        mine.bias.copy_(torch.randn_like(mine.bias))  # a non-zero bias is compared too
        ref.bias.copy_(mine.bias)


@pytest.mark.parametrize(("concat", "heads"), [(True, 3), (False, 2), (True, 1)])
def test_gatv2_layer_equals_pyg_on_disjoint_batched_graph(concat: bool, heads: int) -> None:
    torch.manual_seed(0)
    s, n, c_in, c_out, d = 6, 7, 5, 4, 3
    # a multigraph with parallel edges, self loops and a node (6) without incoming edges
    edge_index = torch.tensor(
        [[0, 1, 2, 3, 4, 5, 0, 1, 1, 2, 3, 3], [1, 2, 3, 4, 5, 0, 0, 1, 3, 3, 4, 4]]
    )
    edge_attr = torch.randn(edge_index.shape[1], d)
    mine = GATv2Layer(c_in, c_out, heads=heads, concat=concat, edge_dim=d)
    ref = GATv2Conv(c_in, c_out, heads=heads, concat=concat, edge_dim=d, add_self_loops=False)
    _copy_weights(mine, ref)
    x = torch.randn(s, n, c_in)
    out, alpha = mine(x, edge_index, edge_attr)

    # the S snapshots as one disjoint graph, the way PyG batches them
    big_index = torch.cat([edge_index + k * n for k in range(s)], dim=1)
    ref_out, (ref_index, ref_alpha) = ref(
        x.reshape(s * n, c_in), big_index, edge_attr.repeat(s, 1), return_attention_weights=True
    )
    assert torch.equal(ref_index, big_index)
    torch.testing.assert_close(out.reshape(s * n, -1), ref_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(alpha.reshape(-1, heads), ref_alpha, atol=1e-6, rtol=1e-5)
    # gradients flow through our layer like through the reference: every weight and the input
    x.requires_grad_(True)
    x_ref = x.detach().reshape(s * n, c_in).requires_grad_(True)
    out, _ = mine(x, edge_index, edge_attr)
    ref_out = ref(x_ref, big_index, edge_attr.repeat(s, 1))
    weights = torch.randn_like(ref_out)  # a loss that weighs every output differently
    (out.reshape(s * n, -1) * weights).sum().backward()
    (ref_out * weights).sum().backward()
    assert x.grad is not None and x_ref.grad is not None
    torch.testing.assert_close(x.grad.reshape(s * n, c_in), x_ref.grad, atol=1e-5, rtol=1e-4)
    assert mine.lin_edge is not None
    for a, b in [
        (mine.att, ref.att),
        (mine.lin_l.weight, ref.lin_l.weight),
        (mine.lin_l.bias, ref.lin_l.bias),
        (mine.lin_r.weight, ref.lin_r.weight),
        (mine.lin_r.bias, ref.lin_r.bias),
        (mine.lin_edge.weight, ref.lin_edge.weight),
        (mine.bias, ref.bias),
    ]:
        assert a is not None and b is not None and a.grad is not None and b.grad is not None
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4)


def test_gatv2_attention_sums_to_one_per_target() -> None:
    torch.manual_seed(1)
    layer = GATv2Layer(4, 2, heads=2, edge_dim=None)
    edge_index = torch.tensor([[0, 1, 2, 2], [1, 1, 1, 0]])
    _, alpha = layer(torch.randn(3, 3, 4), edge_index)
    sums = torch.zeros(3, 3, 2).index_add_(1, edge_index[1], alpha)
    torch.testing.assert_close(sums[:, :2], torch.ones(3, 2, 2))
    assert torch.all(sums[:, 2] == 0)  # node 2 receives nothing


def test_incoming_table_lists_each_edge_once_under_its_target() -> None:
    # parallel edges (0->1 twice), a self loop, node 3 without incoming edges
    edge_index = torch.tensor([[0, 1, 0, 2, 2, 0], [1, 1, 1, 0, 2, 2]])
    table = GATv2Layer.incoming_table(edge_index, 4)
    e = edge_index.shape[1]
    assert table.tolist() == [[3, e, e], [0, 1, 2], [4, 5, e], [e, e, e]]
    # one edge, one node; no edge at all (the table keeps one padding column)
    assert GATv2Layer.incoming_table(torch.tensor([[0], [0]]), 1).tolist() == [[0]]
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert GATv2Layer.incoming_table(empty, 2).tolist() == [[0], [0]]
    # a random multigraph: every edge exactly once, in the row of its target
    gen = torch.Generator().manual_seed(5)
    edge_index = torch.randint(0, 9, (2, 40), generator=gen)
    table = GATv2Layer.incoming_table(edge_index, 9)
    real = table[table < 40]
    assert sorted(real.tolist()) == list(range(40))
    rows = torch.arange(9).unsqueeze(1).expand_as(table)[table < 40]
    assert torch.equal(edge_index[1, real], rows)
    assert table.shape[1] == int(torch.bincount(edge_index[1]).max())


def _layer_graphs() -> list[tuple[int, torch.Tensor]]:
    """(N, edge_index) of graphs whose largest in-degree differs from the exported one."""
    gen = torch.Generator().manual_seed(6)
    return [
        (1, torch.tensor([[0], [0]])),  # N = 1, E = 1
        (3, torch.tensor([[2], [0]])),  # E = 1, two nodes without incoming edges
        (7, torch.tensor([[0, 1, 2, 3, 4, 5, 0, 1, 1], [1, 2, 3, 4, 5, 0, 0, 1, 1]])),
        (5, torch.tensor([[0, 1, 2, 3, 4, 0], [4, 4, 4, 4, 4, 4]])),  # in-degree 6, 4 empty
        (17, torch.randint(0, 17, (2, 57), generator=gen)),
    ]


def test_gatv2_layer_onnx_parity_with_dynamic_sizes(tmp_path: Path) -> None:
    """The layer alone through ONNX Runtime: S, N, E and the table's width all dynamic."""
    import onnx
    import onnxruntime as ort

    torch.manual_seed(7)
    d = 3
    layer = GATv2Layer(5, 4, heads=2, edge_dim=d).eval()
    with torch.no_grad():
        assert layer.bias is not None
        layer.bias.copy_(torch.randn_like(layer.bias))
    path = tmp_path / "gatv2.onnx"
    trace_index = torch.tensor([[0, 1, 2, 0], [1, 2, 0, 0]])  # largest in-degree 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            layer,
            (torch.randn(4, 3, 5), trace_index, torch.randn(4, d)),
            str(path),
            input_names=["x", "edge_index", "edge_attr"],
            output_names=["out", "alpha"],
            opset_version=18,
            dynamic_axes={
                "x": {0: "S", 1: "N"},
                "edge_index": {1: "E"},
                "edge_attr": {0: "E"},
                "out": {0: "S", 1: "N"},
                "alpha": {0: "S", 1: "E"},
            },
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    # no reducing scatter (ORT runs them slowly): per-node reductions go through the table
    for node in onnx.load(str(path)).graph.node:
        for attr in node.attribute:
            assert attr.name != "reduction" or attr.s == b"none", node.name
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for s, (n, edge_index) in zip([1, 2, 5, 60, 9], _layer_graphs(), strict=True):
        x = torch.randn(s, n, 5)
        edge_attr = torch.randn(edge_index.shape[1], d)
        with torch.no_grad():
            want_out, want_alpha = layer(x, edge_index, edge_attr)
        got_out, got_alpha = session.run(
            None, {"x": x.numpy(), "edge_index": edge_index.numpy(), "edge_attr": edge_attr.numpy()}
        )
        np.testing.assert_allclose(got_out, want_out.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(got_alpha, want_alpha.numpy(), atol=1e-5, rtol=0)
        # nodes without incoming edges get the bias alone; attention sums to 1 per target
        empty = torch.ones(n, dtype=torch.bool)
        empty[edge_index[1]] = False
        np.testing.assert_allclose(
            got_out[:, empty.numpy()],
            np.broadcast_to(layer.bias.detach().numpy(), got_out[:, empty.numpy()].shape),
            atol=1e-6,
        )
        sums = torch.zeros(s, n, 2).index_add_(1, edge_index[1], torch.from_numpy(got_alpha))
        torch.testing.assert_close(sums[:, ~empty], torch.ones(s, int((~empty).sum()), 2))


def test_reset_parameters_reinitialises() -> None:
    torch.manual_seed(2)
    model = TemporalGNN(num_features=3, num_fault_types=2, hidden_channels=8, heads=2)
    before = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed > len(before) // 2
    rebuilt = TemporalGNN(**model.hparams())  # type: ignore[arg-type]
    with_readout = TemporalGNN(3, 2, hidden_channels=8, heads=2, readout_layers=1)
    out = with_readout(
        torch.randn(2, 3, 5, 3),
        torch.ones(2, 3, 5, 3),
        torch.tensor([0, 1, 2]),
        torch.tensor([[0, 1, 2, 0], [1, 2, 0, 0]]),
        torch.tensor([0, 1, 2, 3]),
    )
    assert out.attention.shape == (2, 3, 4)  # 2 per-step layers + 1 readout layer
    assert rebuilt.hparams() == model.hparams()


def test_temporal_model_on_rig_graph() -> None:
    torch.manual_seed(3)
    spec = GraphSpec.from_profile(load_profile("zema-test-rig"))
    rng = np.random.default_rng(0)
    b, t = 2, 9
    values = {sid: rng.normal(size=(b, t)) for sid in spec.sensor_ids}
    x, mask = build_inputs(spec, values)
    model = TemporalGNN(spec.num_features, num_fault_types=4, hidden_channels=8, heads=2)
    wrapped = InferenceModel(model).eval()
    static = (
        torch.from_numpy(spec.node_type()),
        torch.from_numpy(spec.edge_index()),
        torch.from_numpy(spec.edge_type()),
    )
    with torch.no_grad():
        grade, health, fault, forecast, attention = wrapped(
            torch.from_numpy(x), torch.from_numpy(mask), *static
        )
    n, e = spec.num_nodes, spec.num_edges
    assert grade.shape == (b, n, 4) and health.shape == (b, n) and fault.shape == (b, n, 4)
    assert forecast.shape == x.shape and attention.shape == (b, 2, e)
    torch.testing.assert_close(grade.sum(-1), torch.ones(b, n))
    torch.testing.assert_close(health, grade @ torch.tensor(GRADE_HEALTH))
    assert torch.all((fault > 0) & (fault < 1))
    # per node, attention over incoming edges (averaged over heads and time) sums to 1
    sums = torch.zeros(b, 2, n).index_add_(2, static[1][1], attention)
    torch.testing.assert_close(sums, torch.ones(b, 2, n))
    # the forecast is causal: changing the last step does not change earlier forecasts
    x2 = x.copy()
    x2[:, :, -1] += 5.0
    with torch.no_grad():
        _, _, _, forecast2, _ = wrapped(torch.from_numpy(x2), torch.from_numpy(mask), *static)
    torch.testing.assert_close(forecast2[:, :, :-1], forecast[:, :, :-1])
    assert not torch.allclose(forecast2[:, :, -1], forecast[:, :, -1])


def test_masked_values_do_not_matter() -> None:
    torch.manual_seed(4)
    model = TemporalGNN(num_features=2, num_fault_types=1, hidden_channels=4, heads=1).eval()
    x = torch.randn(1, 3, 5, 2)
    mask = torch.ones_like(x)
    mask[0, 1, 2, 0] = 0
    static = (
        torch.tensor([0, 1, 2]),
        torch.tensor([[0, 1, 2], [1, 2, 0]]),
        torch.tensor([0, 1, 2]),
    )
    x2 = x.clone()
    x2[0, 1, 2, 0] = 123.0
    with torch.no_grad():
        a = model(x, mask, *static)
        b = model(x2, mask, *static)
    torch.testing.assert_close(a.grade_logits, b.grade_logits)
