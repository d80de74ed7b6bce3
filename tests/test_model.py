"""The GATv2 layer against PyG's reference, and the temporal model's shapes and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn import GATv2Conv

from gnn.contract import GRADE_HEALTH
from gnn.graph import GraphSpec, build_inputs
from gnn.model import GATv2Layer, InferenceModel, TemporalGNN
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
    # gradients flow through our layer like through the reference
    out.sum().backward()
    ref_out.sum().backward()
    assert ref.att.grad is not None and mine.att.grad is not None
    torch.testing.assert_close(mine.att.grad, ref.att.grad, atol=1e-5, rtol=1e-4)


def test_gatv2_attention_sums_to_one_per_target() -> None:
    torch.manual_seed(1)
    layer = GATv2Layer(4, 2, heads=2, edge_dim=None)
    edge_index = torch.tensor([[0, 1, 2, 2], [1, 1, 1, 0]])
    _, alpha = layer(torch.randn(3, 3, 4), edge_index)
    sums = torch.zeros(3, 3, 2).index_add_(1, edge_index[1], alpha)
    torch.testing.assert_close(sums[:, :2], torch.ones(3, 2, 2))
    assert torch.all(sums[:, 2] == 0)  # node 2 receives nothing


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
