"""The temporal graph model: GATv2 over the component graph at every time step, an LSTM per
node over time, and per-node heads (condition grade, fault types, one-step forecast).

The only module of ``gnn`` that imports torch. Everything here exports to ONNX with a dynamic
batch, time, node and edge count: the B·T snapshots of a batch share one graph, so they are
processed as one batched disjoint graph with gathers along the node axis and sums through a
one-hot incidence matrix — no Python loop over time or edges, no sparse ops.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from gnn.contract import GRADE_HEALTH, GRADES
from gnn.graph import EDGE_TYPES, NODE_TYPES


def _glorot(t: Tensor) -> None:
    nn.init.xavier_uniform_(t)


class GATv2Layer(nn.Module):
    r"""GATv2 attention (Brody et al., 2022) on a graph shared by many snapshots.

    Numerically the same as ``torch_geometric.nn.GATv2Conv(add_self_loops=False,
    edge_dim=edge_dim)`` applied to the disjoint union of the ``S`` snapshots (a test proves it),
    but written with dense gathers and incidence-matrix sums so that it exports to ONNX with
    every dimension dynamic:

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
        s, n = x.shape[0], x.shape[1]
        h, c = self.heads, self.out_channels
        src, dst = edge_index[0], edge_index[1]
        # One-hot [E, N] incidence matrices: gathers and segment sums along the node axis
        # become small dense matmuls, which export to ONNX with every size dynamic and are
        # faster than index_add on CPU for equipment-sized graphs.
        nodes = torch.arange(n, device=x.device).unsqueeze(0)
        src_hot = (src.unsqueeze(1) == nodes).to(x.dtype)
        incidence = dst.unsqueeze(1) == nodes
        dst_hot = incidence.to(x.dtype)
        x_l = self.lin_l(x)  # [S, N, H*C]
        x_r = self.lin_r(x)
        x_j = torch.matmul(src_hot, x_l)  # [S, E, H*C] message senders
        x_i = torch.matmul(dst_hot, x_r)  # [S, E, H*C] receivers
        m = x_j + x_i
        if self.lin_edge is not None and edge_attr is not None:
            m = m + self.lin_edge(edge_attr).unsqueeze(0)
        m = F.leaky_relu(m, self.negative_slope)
        e = m.shape[1]
        logit = (m.view(s, e, h, c) * self.att.unsqueeze(0)).sum(-1)  # [S, E, H]

        # Segment softmax over each node's incoming edges, shifted by the per-node maximum
        # (no gradient flows through a softmax shift).
        with torch.no_grad():
            masked = logit.unsqueeze(2).masked_fill(~incidence.view(1, -1, n, 1), float("-inf"))
            node_max = masked.amax(dim=1)  # [S, N, H]
            node_max = torch.where(torch.isfinite(node_max), node_max, torch.zeros_like(node_max))
        ex = torch.exp(logit - torch.matmul(dst_hot, node_max))
        denom = torch.matmul(dst_hot.t(), ex) + 1e-16  # [S, N, H]
        alpha = ex / torch.matmul(dst_hot, denom)
        alpha_used = F.dropout(alpha, p=self.dropout, training=self.training)

        weighted = (x_j.view(s, e, h, c) * alpha_used.unsqueeze(-1)).view(s, e, h * c)
        out = torch.matmul(dst_hot.t(), weighted).view(s, n, h, c)
        out = out.reshape(s, n, h * c) if self.concat else out.mean(dim=2)
        if self.bias is not None:
            out = out + self.bias
        return out, alpha

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"heads={self.heads}, edge_dim={self.edge_dim})"
        )


class ModelOutput(NamedTuple):
    """Raw outputs of :class:`TemporalGNN` (logits; the export wrapper turns them into probabilities)."""

    grade_logits: Tensor  # [B, N, G]
    fault_logits: Tensor  # [B, N, K]
    forecast: Tensor  # [B, N, T, F]
    attention: Tensor  # [B, L, E]


class TemporalGNN(nn.Module):
    """GATv2 per time step + LSTM per node over time, with per-node heads.

    Each node's input at time ``t`` is its feature slots, their presence mask and their change
    since ``t - 1`` (so drift-free dynamics are explicit), plus an embedding of the node type.
    ``num_layers`` GATv2 layers with residual connections mix neighbours at every step (a node
    without sensors, such as the accumulator bank, sees the world only through them); an LSTM
    then runs over each node's sequence. Grade and fault heads read the last LSTM state
    together with mean and max pooling over time; the forecast head predicts the node's channels
    one step ahead from the causal LSTM output.

    Args:
        num_features: F, feature slots per node (from the graph spec).
        num_fault_types: K, fault types learnt from the training labels.
        hidden_channels: width of node states (must be divisible by ``heads``).
        heads: attention heads per GATv2 layer.
        num_layers: GATv2 layers (L of the attention output).
        lstm_layers: stacked LSTM layers.
        dropout: dropout on node states and attention (training only).
        num_node_types: size of the node type vocabulary.
        num_edge_types: size of the edge type vocabulary.
        type_dim: size of the node and edge type embeddings.
        num_grades: G, condition grades.
        readout_layers: GATv2 layers over the nodes' temporal summaries (after the LSTM), so
            a node without sensors also sees its neighbours' whole-window dynamics; they add
            to L of the attention output.
        time_frequencies: sine/cosine pairs encoding the position within the window
            (``t / T``), so that pooled states can tell when in a load cycle something
            happened; 0 for none.
        moment_frequencies: K of the per-node Fourier moments of the inputs, the mean over
            time of ``x[t] * sin/cos(2 pi k t / T)`` for k = 1..K plus the plain mean, per node
            and channel; a linear layer maps them into the pooled temporal summary (a
            T-agnostic linear functional of the whole window, which tells grades whose effect
            is a slow change of shape within the cycle). 0 for none.
    """

    def __init__(
        self,
        num_features: int,
        num_fault_types: int,
        hidden_channels: int = 32,
        heads: int = 4,
        num_layers: int = 2,
        lstm_layers: int = 1,
        dropout: float = 0.1,
        num_node_types: int = len(NODE_TYPES),
        num_edge_types: int = len(EDGE_TYPES),
        type_dim: int = 8,
        num_grades: int = len(GRADES),
        time_frequencies: int = 0,
        readout_layers: int = 0,
        moment_frequencies: int = 0,
    ) -> None:
        super().__init__()
        if hidden_channels % heads:
            raise ValueError(f"hidden_channels ({hidden_channels}) must be divisible by heads")
        self.num_features = num_features
        self.num_fault_types = num_fault_types
        self.hidden_channels = hidden_channels
        self.heads = heads
        self.num_layers = num_layers
        self.lstm_layers = lstm_layers
        self.dropout = dropout
        self.num_node_types = num_node_types
        self.num_edge_types = num_edge_types
        self.type_dim = type_dim
        self.num_grades = num_grades
        self.time_frequencies = time_frequencies
        self.readout_layers = readout_layers
        self.moment_frequencies = moment_frequencies

        hc = hidden_channels
        self.node_type_emb = nn.Embedding(num_node_types, type_dim)
        self.edge_type_emb = nn.Embedding(num_edge_types, type_dim)
        self.encoder = nn.Sequential(
            nn.Linear(3 * num_features + type_dim + 2 * time_frequencies, hc),
            nn.ELU(),
            nn.Linear(hc, hc),
        )
        self.convs = nn.ModuleList(
            GATv2Layer(hc, hc // heads, heads=heads, dropout=dropout, edge_dim=type_dim)
            for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hc) for _ in range(num_layers))
        self.lstm = nn.LSTM(hc, hc, num_layers=lstm_layers, batch_first=True)
        readout = 3 * hc + type_dim
        self.moments = (
            nn.Linear(num_features * (2 * moment_frequencies + 1), hc)
            if moment_frequencies > 0
            else None
        )
        if self.moments is not None:
            readout += hc
        self.summary = nn.Linear(readout, hc) if readout_layers > 0 else None
        self.readout_convs = nn.ModuleList(
            GATv2Layer(hc, hc // heads, heads=heads, dropout=dropout, edge_dim=type_dim)
            for _ in range(readout_layers)
        )
        self.readout_norms = nn.ModuleList(nn.LayerNorm(hc) for _ in range(readout_layers))
        if readout_layers > 0:
            readout += hc
        self.grade_head = nn.Sequential(nn.Linear(readout, hc), nn.ELU(), nn.Linear(hc, num_grades))
        self.fault_head = nn.Sequential(
            nn.Linear(readout, hc), nn.ELU(), nn.Linear(hc, max(num_fault_types, 1))
        )
        self.forecast_head = nn.Linear(hc, num_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.node_type_emb.reset_parameters()
        self.edge_type_emb.reset_parameters()
        for module in self.modules():
            if module is self:
                continue
            if isinstance(module, nn.Linear | nn.LayerNorm | nn.LSTM | GATv2Layer):
                module.reset_parameters()

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        node_type: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
    ) -> ModelOutput:
        """Run the model on a batch of windows of one equipment graph.

        Args:
            x: normalised channel values, 0 where absent (see ``gnn.graph.build_inputs``).
            mask: 1 where a value is present and valid.
            node_type: node type id of every node.
            edge_index: ``[source; target]`` of every directed edge (self loops included).
            edge_type: edge type id of every edge.

        Returns:
            grade and fault logits, the one-step forecast and the attention per layer and edge.

        Shapes:
            - x, mask: [B, N, T, F]
            - node_type: [N] int64
            - edge_index: [2, E] int64
            - edge_type: [E] int64
            - grade_logits: [B, N, G]; fault_logits: [B, N, K]
            - forecast: [B, N, T, F] (``forecast[..., t, :]`` predicts ``x[..., t + 1, :]``)
            - attention: [B, L, E] (mean over heads and time)
        """
        b, n, t = x.shape[0], x.shape[1], x.shape[2]
        hc = self.hidden_channels
        x = x * mask
        prev = torch.cat([x[:, :, :1], x[:, :, :-1]], dim=2)
        prev_mask = torch.cat([mask[:, :, :1], mask[:, :, :-1]], dim=2)
        delta = (x - prev) * mask * prev_mask
        type_emb = self.node_type_emb(node_type)  # [N, D]
        type_bt = type_emb.view(1, n, 1, -1).expand(b, n, t, -1)
        parts = [x, mask, delta, type_bt]
        if self.time_frequencies > 0:
            position = torch.arange(t, device=x.device, dtype=x.dtype) / t  # [T] in [0, 1)
            freqs = torch.arange(1, self.time_frequencies + 1, device=x.device, dtype=x.dtype)
            angle = 2 * torch.pi * position.unsqueeze(1) * freqs.unsqueeze(0)  # [T, K]
            clock = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
            parts.append(clock.view(1, 1, t, -1).expand(b, n, t, -1))
        h = self.encoder(torch.cat(parts, dim=-1))  # [B, N, T, H]

        # Snapshots (b, t) share the graph: [B, N, T, H] -> [B*T, N, H].
        h = h.permute(0, 2, 1, 3).reshape(b * t, n, hc)
        edge_attr = self.edge_type_emb(edge_type)
        attentions = []
        for conv, norm in zip(self.convs, self.norms, strict=True):
            out, alpha = conv(h, edge_index, edge_attr)
            h = h + F.dropout(F.elu(norm(out)), p=self.dropout, training=self.training)
            attentions.append(alpha.view(b, t, -1, conv.heads).mean(dim=(1, 3)))  # [B, E]

        seq = h.view(b, t, n, hc).permute(0, 2, 1, 3).reshape(b * n, t, hc)
        states, _ = self.lstm(seq)  # [B*N, T, H]
        states = states.reshape(b, n, t, hc)
        pooled = torch.cat(
            [
                states[:, :, -1],
                states.mean(dim=2),
                states.amax(dim=2),
                type_emb.view(1, n, -1).expand(b, n, -1),
            ],
            dim=-1,
        )
        if self.moments is not None:
            # Basis [T, 2K+1] built from T here, so T stays dynamic in ONNX.
            position = torch.arange(t, device=x.device, dtype=x.dtype) / t
            freqs = torch.arange(1, self.moment_frequencies + 1, device=x.device, dtype=x.dtype)
            angle = 2 * torch.pi * position.unsqueeze(1) * freqs.unsqueeze(0)  # [T, K]
            basis = torch.cat([torch.ones_like(position).unsqueeze(1), angle.sin(), angle.cos()], 1)
            moments = torch.einsum("bntf,tk->bnfk", x, basis) / t  # [B, N, F, 2K+1]
            pooled = torch.cat([pooled, self.moments(moments.reshape(b, n, -1))], dim=-1)
        if self.summary is not None:
            g = self.summary(pooled)  # [B, N, H]: one snapshot per window
            for conv, norm in zip(self.readout_convs, self.readout_norms, strict=True):
                out, alpha = conv(g, edge_index, edge_attr)
                g = g + F.dropout(F.elu(norm(out)), p=self.dropout, training=self.training)
                attentions.append(alpha.mean(dim=2))  # [B, E]
            pooled = torch.cat([pooled, g], dim=-1)
        attention = torch.stack(attentions, dim=1)  # [B, L, E]
        pooled = F.dropout(pooled, p=self.dropout, training=self.training)
        grade_logits = self.grade_head(pooled)
        fault_logits = self.fault_head(pooled)[..., : self.num_fault_types]
        forecast = self.forecast_head(states)
        return ModelOutput(grade_logits, fault_logits, forecast, attention)

    def hparams(self) -> dict[str, int | float]:
        """Constructor arguments, for checkpoints: ``TemporalGNN(**model.hparams())``."""
        return {
            "num_features": self.num_features,
            "num_fault_types": self.num_fault_types,
            "hidden_channels": self.hidden_channels,
            "heads": self.heads,
            "num_layers": self.num_layers,
            "lstm_layers": self.lstm_layers,
            "dropout": self.dropout,
            "num_node_types": self.num_node_types,
            "num_edge_types": self.num_edge_types,
            "type_dim": self.type_dim,
            "num_grades": self.num_grades,
            "time_frequencies": self.time_frequencies,
            "readout_layers": self.readout_layers,
            "moment_frequencies": self.moment_frequencies,
        }


class InferenceModel(nn.Module):
    """:class:`TemporalGNN` with the contract's outputs (probabilities, health); what is exported.

    Args:
        model: the trained network.
    """

    grade_health: Tensor

    def __init__(self, model: TemporalGNN) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("grade_health", torch.tensor(GRADE_HEALTH, dtype=torch.float32))

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        node_type: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Probabilities for the engine, in ``gnn.contract.OUTPUTS`` order.

        Args:
            x: see :meth:`TemporalGNN.forward`.
            mask: see :meth:`TemporalGNN.forward`.
            node_type: see :meth:`TemporalGNN.forward`.
            edge_index: see :meth:`TemporalGNN.forward`.
            edge_type: see :meth:`TemporalGNN.forward`.

        Returns:
            ``(grade_probs, health, fault_probs, forecast, attention)``.

        Shapes:
            - grade_probs: [B, N, G]; health: [B, N]; fault_probs: [B, N, K]
            - forecast: [B, N, T, F]; attention: [B, L, E]
        """
        out = self.model(x, mask, node_type, edge_index, edge_type)
        grade_probs = torch.softmax(out.grade_logits, dim=-1)
        health = (grade_probs * self.grade_health).sum(dim=-1)
        fault_probs = torch.sigmoid(out.fault_logits)
        return grade_probs, health, fault_probs, out.forecast, out.attention
