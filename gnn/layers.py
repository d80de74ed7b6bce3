"""The building blocks of the temporal graph model: the GATv2 layer and the forms of linear
and ELU that export to fast ONNX, each numerically the same as its torch original in eager mode.

Everything here exports to ONNX with a dynamic batch, time, node and edge count: the
snapshots share one graph, so they are processed as one batched disjoint graph with gathers
along the node and edge axes and reductions through a padded table of each node's incoming
edges — no Python loop over edges, no sparse ops, no reducing scatter.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812


def _glorot(t: Tensor) -> None:
    nn.init.xavier_uniform_(t)


class GATv2Layer(nn.Module):
    r"""GATv2 attention (Brody et al., 2022) on a graph shared by many snapshots.

    Numerically the same as ``torch_geometric.nn.GATv2Conv(add_self_loops=False,
    edge_dim=edge_dim)`` applied to the disjoint union of the ``S`` snapshots (a test proves it),
    but written with gathers and dense reductions so that it exports to ONNX with every
    dimension dynamic:

    .. math::
        \alpha_{ij} = \mathrm{softmax}_{j \in \mathcal{N}(i)}\, a^\top \mathrm{LeakyReLU}(
            W_r x_i + W_l x_j + W_e e_{ji}), \qquad
        x_i' = \sum_j \alpha_{ij} W_l x_j + b

    Args:
        in_channels: size of each input node feature.
        out_channels: size of each head's output.
        heads: number of attention heads.
        concat: concatenate the heads' outputs (else average them).
        negative_slope: LeakyReLU slope of the attention score.
        dropout: dropout on the attention coefficients (training only).
        edge_dim: size of edge features, or ``None`` for none.
        bias: add a learnable output bias.

    Cost: per snapshot O(E * H * C) for the messages plus O(N * Dmax * H * C) for the per-node
    maximum and sums (Dmax = largest in-degree), gathered through :meth:`incoming_table`;
    the table itself is O(E * N) per call, shared by all snapshots. The earlier formulation
    (one-hot [E, N] matmuls and a masked [S, E, N, H] maximum) was O(E * N) per snapshot and
    slower at every graph size measured, the 11-node rig included (docs/diagnosis.md).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        edge_dim: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.heads = heads
        self.concat = concat
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.edge_dim = edge_dim
        self.lin_l = nn.Linear(in_channels, heads * out_channels, bias=bias)
        self.lin_r = nn.Linear(in_channels, heads * out_channels, bias=bias)
        self.att = nn.Parameter(torch.empty(1, heads, out_channels))
        self.lin_edge = (
            nn.Linear(edge_dim, heads * out_channels, bias=False) if edge_dim is not None else None
        )
        total = heads * out_channels if concat else out_channels
        self.bias = nn.Parameter(torch.empty(total)) if bias else None
        self.reset_parameters()

    @property
    def out_size(self) -> int:
        return self.heads * self.out_channels if self.concat else self.out_channels

    def reset_parameters(self) -> None:
        for lin in (self.lin_l, self.lin_r, self.lin_edge):
            if lin is not None:
                _glorot(lin.weight)
                if lin.bias is not None:
                    nn.init.zeros_(lin.bias)
        _glorot(self.att)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attend over incoming edges in every snapshot.

        Args:
            x: node features of each snapshot.
            edge_index: ``[source; target]`` node indices, shared by every snapshot.
            edge_attr: edge features, shared by every snapshot.

        Returns:
            ``(out, alpha)``: new node features and the attention coefficient of every edge.

        Shapes:
            - x: [S, N, in_channels]
            - edge_index: [2, E] int64
            - edge_attr: [E, edge_dim]
            - out: [S, N, heads * out_channels] (concat) or [S, N, out_channels]
            - alpha: [S, E, heads], summing to 1 over the incoming edges of each node
        """
        n = x.shape[1]
        table = self.incoming_table(edge_index, n).reshape(-1)  # [N * Dmax], padding E
        out, alpha = self.propagate(
            x.transpose(0, 1), edge_index[0], edge_index[1], table, edge_attr
        )
        return out.transpose(0, 1), alpha.transpose(0, 1)

    def propagate(
        self,
        xt: Tensor,
        src: Tensor,
        dst: Tensor,
        table: Tensor,
        edge_attr: Tensor | None = None,
        xt_target: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward` in node-major layout, with the incoming-edge table given.

        A stack of layers (:class:`TemporalGNN`) keeps its node states node-major between
        layers and builds the table once, instead of transposing and rebuilding it per layer.
        ``xt_target``, when given, is what a node shows as a receiver (the query side of the
        attention) in place of ``xt``: :class:`gnn.model.NormalGNN` lets a node attend to its
        neighbours' present values without its own present value steering the weights.

        Shapes:
            - xt, xt_target: [N, S, in_channels]
            - src, dst: [E] int64 (``edge_index[0]``, ``edge_index[1]``)
            - table: [N * Dmax] int64, :meth:`incoming_table` flattened
            - edge_attr: [E, edge_dim]
            - returns: out [N, S, heads * out_channels] (or [N, S, out_channels]),
              alpha [E, S, heads]
        """
        n, s = xt.shape[0], xt.shape[1]
        h, c = self.heads, self.out_channels
        exporting = torch.onnx.is_in_onnx_export()  # 1.4 us a call: asked once
        # Per-head weights as matrices, so that per-head products are MatMuls (ONNX Runtime's
        # broadcasting over a small inner axis is slow): ``attend`` [H*C, H] is block-diagonal
        # with each head's attention vector, ``spread`` [H, H*C] repeats a head's value over
        # its C channels. Constants after export (constant folding).
        eye = torch.eye(h, dtype=xt.dtype, device=xt.device)
        attend = (self.att.view(h, c, 1) * eye.view(h, 1, h)).reshape(h * c, h)
        spread = eye.repeat_interleave(c, dim=1)
        # Node- and edge-major layout ([N, S, ...], [E, S, ...]): every gather along the node
        # or edge axis moves whole contiguous rows of S * H * C values, and every reduction
        # over a node's incoming edges adds such rows.
        x_j = linear(self.lin_l, xt).index_select(0, src)  # [E, S, H*C] message senders
        receivers = xt if xt_target is None else xt_target
        x_i = linear(self.lin_r, receivers).index_select(0, dst)  # [E, S, H*C] receivers
        m = x_j + x_i
        if self.lin_edge is not None and edge_attr is not None:
            # expanded first: ONNX Runtime adds equal shapes far faster than it broadcasts
            # over the middle axis (47 vs 118 us at E=158, S=60, H*C=16)
            m = m + self.lin_edge(edge_attr).unsqueeze(1).expand_as(m)
        if exporting:
            # (attend^T act^T)^T: MLAS computes a product in panels of 16 output columns, so
            # [E*S, 16] x [16, 2] costs what [E*S, 16] x [16, 16] does (51 us at E = 158,
            # S = 60); with E*S as the output columns (ONNX Runtime fuses the Transpose into
            # the MatMul) it takes 27 us, plus 10 us to transpose the [H, E*S] result back.
            act = F.leaky_relu(m, self.negative_slope).view(-1, h * c)
            logit = torch.matmul(attend.t(), act.t()).t().contiguous().view(-1, s, h)
        else:
            # (no named temporary: torch eager's speed here hangs on which [E, S, H*C]
            # buffers are alive at once, through glibc's malloc thresholds)
            logit = torch.matmul(F.leaky_relu(m, self.negative_slope), attend)  # [E, S, H]

        # Segment softmax over each node's incoming edges, shifted by the per-node maximum
        # (no gradient flows through a softmax shift). Per-node reductions gather a node's
        # edges through the table and reduce over its Dmax axis; the padding id E points at
        # an appended row, -inf for the maximum and 0 for the sums. A node without incoming
        # edges gets -inf and 0 there, which no edge reads.
        with torch.no_grad():
            padded = F.pad(logit, (0, 0, 0, 0, 0, 1), value=float("-inf"))
            node_max = padded.index_select(0, table).view(n, -1, s, h).amax(dim=1)  # [N, S, H]
        ex = torch.exp(logit - node_max.index_select(0, dst))  # [E, S, H]
        denom = F.pad(ex, (0, 0, 0, 0, 0, 1)).index_select(0, table).view(n, -1, s, h).sum(1)
        denom = denom + 1e-16  # [N, S, H]
        alpha = ex / denom.index_select(0, dst)
        # out_i = sum_j alpha_ij x_j = (sum_j ex_ij x_j) / denom_i; dropout on ex in the
        # numerator only is dropout on alpha.
        # (An extra dummy edge row carrying the padding's zeros, instead of this Pad, saved
        # ONNX Runtime ~20 us per layer but made torch eager up to 2x slower: its [E+1, S, H*C]
        # tensors fell on the wrong side of glibc's malloc mmap/trim thresholds here.)
        if exporting:
            # sum_j alpha_ij x_j: alpha is computed anyway (an output), so the export skips
            # the [N, S, H*C] division by the denominators (within float rounding)
            weighted = F.pad(x_j * torch.matmul(alpha, spread), (0, 0, 0, 0, 0, 1))
            out = weighted.index_select(0, table).view(n, -1, s, h * c).sum(1)
        else:
            ex_used = F.dropout(ex, p=self.dropout, training=self.training)
            weighted = F.pad(x_j * torch.matmul(ex_used, spread), (0, 0, 0, 0, 0, 1))
            out = weighted.index_select(0, table).view(n, -1, s, h * c).sum(1)  # [N, S, H*C]
            out = out / torch.matmul(denom, spread)
        if not self.concat:
            out = out.reshape(n, s, h, c).mean(dim=2)
        if self.bias is not None:
            out = out + self.bias.expand_as(out)  # expanded: see linear()
        return out, alpha

    @staticmethod
    def incoming_table(edge_index: Tensor, num_nodes: int) -> Tensor:
        """Ids of the edges entering each node, padded with ``E`` to the largest in-degree.

        Built from ``edge_index`` and the node count alone with a cumulative sum and one
        non-reducing scatter, so every size stays dynamic in ONNX. Costs O(E * N) once per
        call, independent of the number of snapshots.

        Shapes:
            - edge_index: [2, E] int64
            - returns: [N, Dmax] int64, ``Dmax = max(1, largest in-degree)``; row ``i`` lists
              the edges with target ``i`` in edge order, then ``E`` (padding)
        """
        dst = edge_index[1]
        e = dst.shape[0]
        nodes = torch.arange(num_nodes, device=dst.device)
        incidence = (dst.unsqueeze(1) == nodes.unsqueeze(0)).long()  # [E, N]
        # rank of each edge among the edges entering the same node (0, 1, ...)
        rank = torch.cumsum(incidence, dim=0).gather(1, dst.unsqueeze(1)).squeeze(1) - 1
        # the largest in-degree from the ranks (ONNX Runtime sums int64 columns slowly)
        dmax = F.pad(rank, (0, 1)).max() + 1
        # a tensor end (not int(dmax)) keeps Dmax a computed, dynamic size in the ONNX trace
        slots: Tensor = torch.arange(dmax, device=dst.device)  # type: ignore[call-overload]
        table = (nodes.unsqueeze(1) + slots.unsqueeze(0)) * 0 + e  # [N, Dmax] filled with E
        ids = torch.arange(e, device=dst.device)
        table = table.view(-1).scatter(0, dst * dmax + rank, ids)
        return table.view(num_nodes, -1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"heads={self.heads}, edge_dim={self.edge_dim})"
        )


def linear(layer: nn.Module, x: Tensor) -> Tensor:
    """``layer(x)`` on the rows of ``x`` flattened to 2-D (numerically the same in torch).

    A 2-D linear exports as one ONNX Gemm with the bias inside, where a 3-D or 4-D one exports
    as MatMul plus an Add that broadcasts the bias over every row, which ONNX Runtime runs row
    by row: 34 us for 40 x 60 rows of 16 against 10 us for an Add of equal shapes.
    """
    out: Tensor = layer(x.reshape(-1, x.shape[-1]))
    return out.view(*x.shape[:-1], -1)


def elu(x: Tensor) -> Tensor:
    """``F.elu``; in an ONNX export, the same function from ops ONNX Runtime vectorises.

    ONNX Runtime's Elu kernel is scalar: 66 us on 38 400 values (40 nodes x 60 steps x 16)
    against about 20 us for ``max(x, exp(min(x, 0)) - 1)`` (``e^x - 1 >= x``), which is exact
    for x > 0 and within 1e-7 of ``expm1`` below. Torch eager keeps its own kernel.
    """
    if torch.onnx.is_in_onnx_export():
        return torch.maximum(x, torch.exp(torch.clamp(x, max=0.0)) - 1.0)
    return F.elu(x)
