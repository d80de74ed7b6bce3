"""The temporal graph model: GATv2 over the component graph at every time step, an LSTM per
node over time, and per-node heads (condition grade, fault types, one-step forecast).

With :mod:`gnn.layers` (the GATv2 layer it stacks), the only modules of ``gnn`` that import
torch. Everything here exports to ONNX with a dynamic batch, time, node and edge count: the
B·T snapshots of a batch share one graph, so they are processed as one batched disjoint graph
(:class:`gnn.layers.GATv2Layer`) — no Python loop over time or edges.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from gnn.contract import GRADE_HEALTH, GRADES
from gnn.graph import EDGE_TYPES, NODE_TYPES
from gnn.layers import GATv2Layer, elu, linear


def fourier_moments(x: Tensor, frequencies: int) -> Tensor:
    """Mean over time of ``x[t]`` times 1, ``sin`` and ``cos(2 pi k t / T)``, k = 1..K.

    A T-agnostic linear summary of a window's shape (with K = T/2 it is the window itself in
    another basis). The basis is built from T here, so T stays dynamic in ONNX.

    Shapes:
        - x: [B, N, T, F]
        - output: [B, N, F, 2K + 1]
    """
    t = x.shape[2]
    position = torch.arange(t, device=x.device, dtype=x.dtype) / t
    freqs = torch.arange(1, frequencies + 1, device=x.device, dtype=x.dtype)
    angle = 2 * torch.pi * position.unsqueeze(1) * freqs.unsqueeze(0)  # [T, K]
    basis = torch.cat([torch.ones_like(position).unsqueeze(1), angle.sin(), angle.cos()], 1)
    # A MatMul rather than an einsum: ONNX Runtime runs it several times faster.
    return torch.matmul(x.transpose(2, 3), basis) / t


def step_change(x: Tensor, mask: Tensor) -> Tensor:
    """``x[t] - x[t-1]`` where both samples are present, 0 elsewhere and at ``t = 0``.

    Shapes:
        - x, mask: [B, N, T, F] (``x`` 0 where absent)
        - output: [B, N, T, F]
    """
    prev = torch.cat([x[:, :, :1], x[:, :, :-1]], dim=2)
    prev_mask = torch.cat([mask[:, :, :1], mask[:, :, :-1]], dim=2)
    return (x - prev) * mask * prev_mask


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
        num_nodes: N of the profile the model is trained for; needed only with
            ``discriminant_frequencies`` (its buffers are per node).
        discriminant_frequencies: K of the Fourier moments read by the neighbourhood
            discriminant (see :meth:`set_discriminant`); 0 for none.
        discriminant_variation: the discriminant also reads the Fourier moments of each
            channel's absolute step-to-step change ``|x[t] - x[t-1]|`` (see
            :meth:`discriminant_features`). Off by default, so that checkpoints saved
            before it existed load unchanged.
        grade_calibration: a per-node temperature divides the final grade logits (in eval
            mode), fitted after training on held-out predictions of new runs
            (:meth:`set_grade_temperature`); needs ``num_nodes``. Off by default, so that
            checkpoints saved before it existed load unchanged.
    """

    disc_weight: Tensor  # [N, D, G]
    disc_bias: Tensor  # [N, G]
    disc_gate: Tensor  # [N]: 0 neural grade, 1 discriminant's, 2 their sum
    disc_fault: Tensor  # [N, K], 1 at the node's own fault type
    grade_temperature: Tensor  # [N]: final grade logits are divided by it (1: uncalibrated)

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
        num_nodes: int = 0,
        discriminant_frequencies: int = 0,
        discriminant_variation: bool = False,
        grade_calibration: bool = False,
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
        self.num_nodes = num_nodes
        self.discriminant_frequencies = discriminant_frequencies
        self.discriminant_variation = discriminant_variation
        self.grade_calibration = grade_calibration
        if discriminant_frequencies > 0 and num_nodes < 1:
            raise ValueError("a neighbourhood discriminant needs num_nodes")
        if grade_calibration and num_nodes < 1:
            raise ValueError("grade calibration needs num_nodes")

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
        # Neighbourhood discriminant (closed-form, see set_discriminant): buffers, not
        # parameters — gradient training never touches them, and with the gate at 0 (the
        # state after construction) the model is exactly the neural one.
        if discriminant_frequencies > 0:
            d = num_nodes * self.discriminant_channels * (2 * discriminant_frequencies + 1)
            self.register_buffer("disc_weight", torch.zeros(num_nodes, d, num_grades))
            self.register_buffer("disc_bias", torch.zeros(num_nodes, num_grades))
            self.register_buffer("disc_gate", torch.zeros(num_nodes))
            self.register_buffer("disc_fault", torch.zeros(num_nodes, max(num_fault_types, 1)))
        if grade_calibration:
            self.register_buffer("grade_temperature", torch.ones(num_nodes))
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
        exporting = torch.onnx.is_in_onnx_export()  # 1.4 us a call: asked once
        x = x * mask
        delta = step_change(x, mask)
        type_emb = self.node_type_emb(node_type)  # [N, D]
        clock = None
        if self.time_frequencies > 0:
            position = torch.arange(t, device=x.device, dtype=x.dtype) / t  # [T] in [0, 1)
            freqs = torch.arange(1, self.time_frequencies + 1, device=x.device, dtype=x.dtype)
            angle = 2 * torch.pi * position.unsqueeze(1) * freqs.unsqueeze(0)  # [T, K]
            clock = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)  # [T, 2K]
        if exporting:
            h = self._encoder_input_export([x, mask, delta], type_emb, clock)
            h = linear(self.encoder[2], elu(h))
        else:
            type_bt = type_emb.view(1, n, 1, -1).expand(b, n, t, -1)
            parts = [x, mask, delta, type_bt]
            if clock is not None:
                parts.append(clock.view(1, 1, t, -1).expand(b, n, t, -1))
            h = linear(self.encoder[2], elu(linear(self.encoder[0], torch.cat(parts, dim=-1))))

        # Snapshots (b, t) share the graph; node-major between layers: [B, N, T, H] ->
        # [N, B*T, H] (snapshot s = b*T + t), the layout GATv2Layer.propagate gathers in.
        h = h.transpose(0, 1).reshape(n, b * t, hc)
        edge_attr = self.edge_type_emb(edge_type)
        src, dst = edge_index[0], edge_index[1]
        table = GATv2Layer.incoming_table(edge_index, n).reshape(-1)  # built once, all layers
        attentions = []
        convs = cast(Iterable[GATv2Layer], self.convs)
        for conv, norm in zip(convs, self.norms, strict=True):
            out, alpha = conv.propagate(h, src, dst, table, edge_attr)  # alpha [E, B*T, H]
            h = h + F.dropout(elu(norm(out)), p=self.dropout, training=self.training)
            attentions.append(alpha.view(-1, b, t * conv.heads).mean(dim=2).transpose(0, 1))

        if exporting:
            states = self._lstm_time_major(h.view(n, b, t, hc))
        else:
            seq = h.view(n, b, t, hc).transpose(0, 1).reshape(b * n, t, hc)
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
            moments = fourier_moments(x, self.moment_frequencies)  # [B, N, F, 2K+1]
            pooled = torch.cat([pooled, self.moments(moments.reshape(b, n, -1))], dim=-1)
        if self.summary is not None:
            g = self.summary(pooled)  # [B, N, H]: one snapshot per window
            g = g.transpose(0, 1)  # node-major [N, B, H]
            readout_convs = cast(Iterable[GATv2Layer], self.readout_convs)
            for conv, norm in zip(readout_convs, self.readout_norms, strict=True):
                out, alpha = conv.propagate(g, src, dst, table, edge_attr)  # alpha [E, B, H]
                g = g + F.dropout(elu(norm(out)), p=self.dropout, training=self.training)
                attentions.append(alpha.mean(dim=2).transpose(0, 1))  # [B, E]
            g = g.transpose(0, 1)
            pooled = torch.cat([pooled, g], dim=-1)
        attention = torch.stack(attentions, dim=1)  # [B, L, E]
        pooled = F.dropout(pooled, p=self.dropout, training=self.training)
        grade_logits = self.grade_head(pooled)
        fault_logits = self.fault_head(pooled)[..., : self.num_fault_types]
        if self.discriminant_frequencies > 0 and not self.training:
            # Gradient training (and fine-tuning) fits the neural heads alone; the
            # discriminants are refitted in closed form afterwards.
            grade_logits, fault_logits = self._discriminant(
                self.discriminant_features(x, mask, delta), grade_logits, fault_logits
            )
        elif self.grade_calibration and not self.training:
            grade_logits = grade_logits / self.grade_temperature.view(1, -1, 1)
        forecast = linear(self.forecast_head, states)
        return ModelOutput(grade_logits, fault_logits, forecast, attention)

    def _encoder_input_export(
        self, pieces: list[Tensor], type_emb: Tensor, clock: Tensor | None
    ) -> Tensor:
        """The encoder's first linear as an ONNX export computes it: the same function.

        Torch eager concatenates every input piece per node and step. The type embedding and
        the clock are the same for every window and step (or node), so here only the
        [B, N, T, 3F] window pieces go through a product, and the constant pieces' share
        (with the bias) is a [N, T, H] table added to it: ONNX Runtime concatenates narrow
        pieces slowly (39 us for 5 pieces at N = 40, T = 60 against 23 us for 3). Sums in
        another order: within float rounding of the concatenated product.

        Shapes:
            - pieces: x, mask, delta, each [B, N, T, F]
            - type_emb: [N, D]; clock: [T, 2K] or None
            - returns: [B, N, T, H]
        """
        first = cast(nn.Linear, self.encoder[0])
        f3, d = 3 * self.num_features, self.type_dim
        b, n, t = pieces[0].shape[0], pieces[0].shape[1], pieces[0].shape[2]
        rows = torch.cat(pieces, dim=-1).view(-1, f3)
        out = torch.matmul(rows, first.weight[:, :f3].t()).view(b, n, t, -1)
        const = F.linear(type_emb, first.weight[:, f3 : f3 + d], first.bias)  # [N, H]
        const = const.unsqueeze(1).expand(n, t, -1)  # expanded: see linear()
        if clock is not None:
            const = const + F.linear(clock, first.weight[:, f3 + d :])  # [T, H] over N
        return out + const

    def _lstm_time_major(self, h: Tensor) -> Tensor:
        """The LSTM over node-major states, fed time-major: what an ONNX export runs.

        ONNX Runtime's CPU LSTM takes only the sequence-first layout, so a batch-first LSTM is
        exported between two [B*N, T, H] <-> [T, B*N, H] Transposes (25 us each at N = 40,
        T = 60). Permuting [N, B, T, H] to [T, B, N, H] and back is one 4-D Transpose each way,
        which ONNX Runtime runs faster; the sequences are the same, in another batch order.

        Shapes:
            - h: [N, B, T, H]
            - returns: [B, N, T, H]
        """
        n, b, t, hc = h.shape
        seq = h.permute(2, 1, 0, 3).reshape(t, b * n, hc)  # [T, B*N, H], sequence b*N + n
        self.lstm.batch_first = False  # the same weights and recurrence, sequence-first
        try:
            out: Tensor = self.lstm(seq)[0]  # [T, B*N, H]
        finally:
            self.lstm.batch_first = True
        # [T, 1, B*N, H] -> [B*N, 1, T, H]; the Reshape after it keeps ONNX Runtime from
        # pushing the Transpose into the pooling (a ReduceMax over the leading axis: 48 us)
        return out.unsqueeze(1).permute(2, 1, 0, 3).reshape(b, n, t, hc)

    @property
    def discriminant_channels(self) -> int:
        """Channels per node whose Fourier moments the discriminant reads."""
        return self.num_features * (2 if self.discriminant_variation else 1)

    def discriminant_features(self, x: Tensor, mask: Tensor, delta: Tensor | None = None) -> Tensor:
        """What the neighbourhood discriminant reads: every node's Fourier moments, flattened.

        Per node, the moments of its F channels, then (with ``discriminant_variation``) those
        of each channel's absolute change since the previous step, 0 where either sample is
        missing. The first are linear in the window; the second measure how hard and when
        in the cycle a signal moves — on the reference rig, how sharply the pressures step
        when the load switches, which the accumulator's precharge damps (blocked-CV grade
        accuracy of its discriminant 95.6 % -> 97.3 %, docs/model.md).

        Args:
            x: channel values; masked here.
            mask: their presence mask.
            delta: :func:`step_change` of the masked ``x``, when the caller has it already
                (:meth:`forward` does).

        Shapes:
            - x, mask, delta: [B, N, T, F]
            - output: [B, N * C * (2K + 1)], C = :attr:`discriminant_channels`, node-major
        """
        x = x * mask
        channels = x
        if self.discriminant_variation:
            change = delta if delta is not None else step_change(x, mask)
            channels = torch.cat([x, change.abs()], dim=3)
        return fourier_moments(channels, self.discriminant_frequencies).reshape(x.shape[0], -1)

    def _discriminant(
        self, u: Tensor, grade_logits: Tensor, fault_logits: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Combine gated nodes' logits with their neighbourhood discriminant's.

        Gate 1 (a node without sensors): the discriminant's logits replace the neural head's.
        Gate 2 (a node with sensors): they are added — a product of the two experts, so the
        more certain one decides where they disagree.

        Shapes:
            - u: [B, D], :meth:`discriminant_features`
        """
        n, d, g = self.disc_weight.shape
        # One [B, D] x [D, N*G] MatMul (the permuted weights are constant-folded in ONNX).
        weight = self.disc_weight.permute(1, 0, 2).reshape(d, n * g)
        disc = torch.matmul(u, weight).view(-1, n, g) + self.disc_bias  # [B, N, G]
        gate = self.disc_gate.view(1, -1, 1)
        replace = (gate > 0.5) & (gate < 1.5)
        add = gate > 1.5
        grade_logits = torch.where(
            replace, disc, grade_logits + torch.where(add, disc, torch.zeros_like(disc))
        )
        if self.grade_calibration:
            # before the fault logit below, so that P(grade > 0) is the calibrated one too
            grade_logits = grade_logits / self.grade_temperature.view(1, -1, 1)
        # The node's own fault ("grade above 0") follows its grade: log P(g > 0) / P(g = 0).
        faulty = torch.logsumexp(grade_logits[..., 1:], dim=-1) - grade_logits[..., 0]  # [B, N]
        own = self.disc_fault[:, : fault_logits.shape[-1]].unsqueeze(0) > 0.5  # [1, N, K]
        fault_logits = torch.where(own, faulty.unsqueeze(-1), fault_logits)
        return grade_logits, fault_logits

    @torch.no_grad()
    def set_discriminant(
        self,
        node: int,
        weight: Tensor,
        bias: Tensor,
        fault_index: int | None,
        *,
        combine: bool = False,
    ) -> None:
        """Give node ``node``'s grade a linear discriminant of :meth:`discriminant_features`.

        A discriminant fitted in closed form (pooled within-class covariance,
        ``training.discriminant``) on the moments of a node's graph neighbourhood generalises
        across blocks of cycles where a gradient-trained head can latch onto directions that
        drift between runs of the same condition.

        Args:
            node: node index.
            weight: [D, G] logit weights (zero outside the node's neighbourhood).
            bias: [G] logit offsets (very negative for grades never seen in training).
            fault_index: the node's own fault type, whose logit becomes ``log P(g>0)/P(g=0)``
                of the node's final grade.
            combine: add to the neural head's logits (nodes with sensors) instead of
                replacing them (nodes without sensors, whose neural head sees no own signal).
        """
        if self.discriminant_frequencies == 0:
            raise ValueError("model built without discriminant_frequencies")
        self.disc_weight[node] = weight
        self.disc_bias[node] = bias
        self.disc_gate[node] = 2.0 if combine else 1.0
        self.disc_fault[node] = 0.0
        if fault_index is not None:
            self.disc_fault[node, fault_index] = 1.0

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
            "num_nodes": self.num_nodes,
            "discriminant_frequencies": self.discriminant_frequencies,
            "discriminant_variation": self.discriminant_variation,
            **({"grade_calibration": True} if self.grade_calibration else {}),
        }

    @torch.no_grad()
    def set_grade_temperature(self, temperature: Tensor) -> None:
        """Divide each node's final grade logits by ``temperature`` [N] (> 0) from now on.

        Temperature scaling (Guo et al. 2017) keeps every window's most likely grade and makes
        the probabilities say how often that grade is right on new data: fitted on held-out
        predictions (``training.calibration``).
        """
        if not self.grade_calibration:
            raise ValueError("model built without grade_calibration")
        if temperature.shape != self.grade_temperature.shape or bool((temperature <= 0).any()):
            raise ValueError(
                f"grade temperature must be {list(self.grade_temperature.shape)} and positive"
            )
        self.grade_temperature.copy_(temperature)


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


def context_edges(edge_index: Tensor, num_nodes: int, hops: int) -> tuple[Tensor, Tensor]:
    """The edges from every node to each node within ``hops`` steps of it on the graph,
    without self loops, and how many steps apart the two are.

    Built from ``edge_index`` with [N, N] matrix products (N is a few dozen components), so
    every size stays dynamic in ONNX.

    Shapes:
        - edge_index: [2, E] int64 (self loops and direction do not matter)
        - returns: ``(edges [2, E'] int64, distance [E'] int64 in 0..hops-1)``, distance 0
          for direct neighbours
    """
    nodes = torch.arange(num_nodes, device=edge_index.device)
    src = (edge_index[0].unsqueeze(1) == nodes.unsqueeze(0)).float()  # [E, N]
    dst = (edge_index[1].unsqueeze(1) == nodes.unsqueeze(0)).float()
    adjacency = torch.matmul(dst.t(), src) + torch.matmul(src.t(), dst)  # both directions
    other = (nodes.unsqueeze(1) != nodes.unsqueeze(0)).float()
    step = (adjacency > 0).float() * other
    reached = step
    distance = step.clone()  # the hop count at which each pair is first reached (0: never)
    frontier = step
    for k in range(2, hops + 1):
        frontier = (torch.matmul(frontier, step) > 0).float() * other
        new = frontier * (reached < 0.5).float()
        distance = distance + new * k
        reached = ((reached + new) > 0).float()
    pairs = torch.nonzero(reached > 0.5).t()  # [2, E']: row 0 target, row 1 source
    hop = distance[pairs[0], pairs[1]].long() - 1
    return torch.stack([pairs[1], pairs[0]]), hop


class NormalGNN(nn.Module):
    """What a machine's normal looks like, learnt without labels: every sensor predicted one
    step ahead from its own past, the history of the whole graph and its graph neighbours'
    present values.

    The prediction of slot ``f`` of node ``i`` at ``t + 1`` is the sum of two parts:

    - a **linear part**, fitted in closed form before the network is trained
      (``training.normal``, :meth:`set_linear`): the slot's last ``own_lags`` values and its
      means over the last ``own_means`` samples, plus the present (``t + 1``) and last
      (``t``) values of every other sensor on the node and on the
      nodes within ``context_hops`` steps of it. Linear paths extrapolate, so a sensor
      drifting beyond what the fit stretch held (a motor warming up) is still predicted from
      its own level where a saturating network would pull it back — and a least-squares fit
      needs no gradient steps to find it;
    - a **neural part**: the :class:`TemporalGNN` trunk (an encoder per node and step, GATv2
      over the component graph at every step, an LSTM per node over time, so node ``i``'s
      state at ``t`` has seen every sensor up to ``t``), a GATv2 layer through which the node
      reads its neighbours' present values (over the nodes within ``context_hops`` steps; the
      node's own present value is on neither side of that attention), the node's other
      present values (its encoding minus slot ``f``'s share: leave-one-out in one pass) and
      the slot's last value; it learns what the linear part misses and starts at zero.

    So a sensor is reconstructed from its graph neighbours and its own past — a masked-sensor
    model and a one-step forecast in one: a sudden change shows in its own past, a lasting
    change of how the machine's quantities relate (a closed valve: less flow at more pressure)
    in its neighbours. Trained on normal data only, the prediction error is the anomaly
    score, once whitened per sensor (:mod:`gnn.anomaly`).

    Args:
        num_nodes: N of the profile (the linear part and the slot embeddings are per node).
        num_features: F, feature slots per node (from the graph spec).
        hidden_channels: width of node states (divisible by ``heads``).
        heads: attention heads per GATv2 layer.
        num_layers: GATv2 layers per time step in the trunk.
        context_hops: graph radius of the neighbours whose present values a node reads.
        own_lags: how many of a slot's last values the linear part reads.
        own_means: spans (samples) of the slot's recent means the linear part reads: its local
            level, for a sensor that wanders slowly under its noise.
        dropout: dropout on node states and attention (training only).
        num_node_types: size of the node type vocabulary.
        num_edge_types: size of the edge type vocabulary.
        type_dim: size of the node and edge type embeddings.
    """

    lin_own: Tensor  # [N, F, own_lags]: weight of x[t - k] in the prediction of x[t + 1]
    lin_mean: Tensor  # [N, F, len(own_means)]: weight of the slot's mean over its last m values
    lin_now: Tensor  # [N, F, N, F]: weight of sensor (j, g) at t + 1 (zero on the diagonal)
    lin_prev: Tensor  # [N, F, N, F]: weight of sensor (j, g) at t (zero on the diagonal)
    lin_bias: Tensor  # [N, F]

    def __init__(
        self,
        num_nodes: int,
        num_features: int,
        hidden_channels: int = 16,
        heads: int = 2,
        num_layers: int = 2,
        context_hops: int = 2,
        own_lags: int = 3,
        own_means: tuple[int, ...] = (10, 30),
        dropout: float = 0.1,
        num_node_types: int = len(NODE_TYPES),
        num_edge_types: int = len(EDGE_TYPES),
        type_dim: int = 8,
    ) -> None:
        super().__init__()
        if hidden_channels % heads:
            raise ValueError(f"hidden_channels ({hidden_channels}) must be divisible by heads")
        if any(m < 2 for m in own_means):
            raise ValueError("own_means are spans of at least 2 samples")
        if context_hops < 1 or own_lags < 1 or num_nodes < 1:
            raise ValueError("num_nodes, context_hops and own_lags must be at least 1")
        self.num_nodes = num_nodes
        self.num_features = num_features
        self.hidden_channels = hidden_channels
        self.heads = heads
        self.num_layers = num_layers
        self.context_hops = context_hops
        self.own_lags = own_lags
        self.own_means = tuple(int(m) for m in own_means)
        self.dropout = dropout
        self.num_node_types = num_node_types
        self.num_edge_types = num_edge_types
        self.type_dim = type_dim
        hc, f, n = hidden_channels, num_features, num_nodes
        self.node_type_emb = nn.Embedding(num_node_types, type_dim)
        self.edge_type_emb = nn.Embedding(num_edge_types, type_dim)
        self.hop_emb = nn.Embedding(context_hops, type_dim)
        self.encoder = nn.Sequential(nn.Linear(3 * f + type_dim, hc), nn.ELU(), nn.Linear(hc, hc))
        self.convs = nn.ModuleList(
            GATv2Layer(hc, hc // heads, heads=heads, dropout=dropout, edge_dim=type_dim)
            for _ in range(num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hc) for _ in range(num_layers))
        self.lstm = nn.LSTM(hc, hc, batch_first=True)
        # present values: slot f's share of a node's encoding is x_f * value[f] + m_f * seen[f]
        self.present_value = nn.Parameter(torch.empty(f, hc))
        self.present_seen = nn.Parameter(torch.empty(f, hc))
        self.present_bias = nn.Parameter(torch.empty(hc))
        self.context = GATv2Layer(
            2 * hc, hc // heads, heads=heads, dropout=dropout, edge_dim=type_dim
        )
        self.head_state = nn.Linear(hc, hc)
        self.head_context = nn.Linear(hc, hc, bias=False)
        self.head_present = nn.Linear(hc, hc, bias=False)
        self.head_last = nn.Parameter(torch.empty(f, 2, hc))  # own last value and its mask
        self.slot_emb = nn.Parameter(torch.empty(n, f, hc))
        self.head_hidden = nn.Linear(hc, hc)
        self.head_out = nn.Linear(hc, 1)
        self.register_buffer("lin_own", torch.zeros(n, f, own_lags))
        self.register_buffer("lin_mean", torch.zeros(n, f, len(self.own_means)))
        self.register_buffer("lin_now", torch.zeros(n, f, n, f))
        self.register_buffer("lin_prev", torch.zeros(n, f, n, f))
        self.register_buffer("lin_bias", torch.zeros(n, f))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.node_type_emb.reset_parameters()
        self.edge_type_emb.reset_parameters()
        self.hop_emb.reset_parameters()
        for module in self.modules():
            if module is self:
                continue
            if isinstance(module, nn.Linear | nn.LayerNorm | nn.LSTM | GATv2Layer):
                module.reset_parameters()
        scale = 1.0 / self.hidden_channels**0.5
        for p in (self.present_value, self.present_seen, self.slot_emb, self.head_last):
            nn.init.normal_(p, std=scale)
        nn.init.zeros_(self.present_bias)
        # the neural part starts at zero: the model begins as its linear part
        nn.init.zeros_(self.head_out.weight)
        nn.init.zeros_(self.head_out.bias)
        with torch.no_grad():
            self.lin_own.zero_()
            self.lin_own[:, :, 0] = 1.0  # until set_linear: persistence, x[t + 1] = x[t]
            self.lin_mean.zero_()
            self.lin_now.zero_()
            self.lin_prev.zero_()
            self.lin_bias.zero_()

    @torch.no_grad()
    def set_linear(
        self, own: Tensor, means: Tensor, now: Tensor, prev: Tensor, bias: Tensor
    ) -> None:
        """Set the linear part (fitted in closed form, ``training.normal.fit_linear``).

        Shapes:
            - own: [N, F, own_lags]; means: [N, F, len(own_means)]; now, prev: [N, F, N, F];
              bias: [N, F]
        """
        n, f = self.num_nodes, self.num_features
        eye = torch.eye(n * f, dtype=now.dtype).view(n, f, n, f)
        self.lin_own.copy_(own)
        self.lin_mean.copy_(means)
        self.lin_now.copy_(now * (1 - eye))  # a slot's own present value is what it predicts
        self.lin_prev.copy_(prev * (1 - eye))  # its own past is in ``own``
        self.lin_bias.copy_(bias)

    def linear_part(self, x: Tensor, mask: Tensor) -> Tensor:
        """The closed-form part of the prediction of ``x[..., t + 1, :]`` at step ``t``.

        Shapes:
            - x, mask: [B, N, T, F], x 0 where absent
            - returns: [B, N, T, F]
        """
        b, n, t, f = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
        out = x * self.lin_own[:, :, 0].view(1, n, 1, f)
        for k in range(1, self.own_lags):
            lagged = F.pad(x[:, :, : t - k], (0, 0, k, 0))  # x[t - k], 0 before the window
            out = out + lagged * self.lin_own[:, :, k].view(1, n, 1, f)
        if self.own_means:
            # mean of the slot's present values among its last m (fewer at the window start)
            sums = torch.cumsum(F.pad(x * mask, (0, 0, 1, 0)), dim=2)  # [B, N, T + 1, F]
            counts = torch.cumsum(F.pad(mask, (0, 0, 1, 0)), dim=2)
            steps = torch.arange(t, device=x.device)
            for k, span in enumerate(self.own_means):
                first = torch.clamp(steps + 1 - span, min=0)
                total = sums[:, :, 1:] - sums.index_select(2, first)
                seen = counts[:, :, 1:] - counts.index_select(2, first)
                mean = total / seen.clamp_min(1.0)
                out = out + mean * self.lin_mean[:, :, k].view(1, n, 1, f)
        nxt = F.pad(x[:, :, 1:], (0, 0, 0, 1))  # x[t + 1], 0 after the window
        now = self.lin_now.reshape(n * f, n * f)
        prev = self.lin_prev.reshape(n * f, n * f)
        flat_next = nxt.permute(0, 2, 1, 3).reshape(b, t, n * f)
        flat_last = x.permute(0, 2, 1, 3).reshape(b, t, n * f)
        others = torch.matmul(flat_next, now.t()) + torch.matmul(flat_last, prev.t())
        others = others.view(b, t, n, f).permute(0, 2, 1, 3)
        return out + others + self.lin_bias.view(1, n, 1, f)

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        node_type: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Predict every slot one step ahead.

        Args:
            x: normalised channel values, 0 where absent (see ``gnn.graph.build_inputs``).
            mask: 1 where a value is present and valid.
            node_type: node type id of every node.
            edge_index: ``[source; target]`` of every directed edge (self loops included).
            edge_type: edge type id of every edge.

        Returns:
            ``(forecast, attention)``: ``forecast[..., t, :]`` predicts ``x[..., t + 1, :]``
            (the last step has no successor: its row is predicted from the past alone); the
            trunk's attention per layer and edge, mean over heads and time.

        Shapes:
            - x, mask: [B, N, T, F]
            - node_type: [N]; edge_index: [2, E]; edge_type: [E] (int64)
            - forecast: [B, N, T, F]; attention: [B, L, E]
        """
        b, n, t = x.shape[0], x.shape[1], x.shape[2]
        hc = self.hidden_channels
        x = x * mask
        delta = step_change(x, mask)
        type_emb = self.node_type_emb(node_type)  # [N, D]
        type_bt = type_emb.view(1, n, 1, -1).expand(b, n, t, -1)
        h = linear(
            self.encoder[2],
            elu(linear(self.encoder[0], torch.cat([x, mask, delta, type_bt], -1))),
        )
        h = h.transpose(0, 1).reshape(n, b * t, hc)  # node-major snapshots
        edge_attr = self.edge_type_emb(edge_type)
        src, dst = edge_index[0], edge_index[1]
        table = GATv2Layer.incoming_table(edge_index, n).reshape(-1)
        attentions = []
        convs = cast(Iterable[GATv2Layer], self.convs)
        for conv, norm in zip(convs, self.norms, strict=True):
            out, alpha = conv.propagate(h, src, dst, table, edge_attr)
            h = h + F.dropout(elu(norm(out)), p=self.dropout, training=self.training)
            attentions.append(alpha.view(-1, b, t * conv.heads).mean(dim=2).transpose(0, 1))
        seq = h.view(n, b, t, hc).permute(2, 1, 0, 3).reshape(t, b * n, hc)  # sequence-first
        self.lstm.batch_first = False
        try:
            states = self.lstm(seq)[0]  # [T, B*N, H]
        finally:
            self.lstm.batch_first = True
        states = states.view(t, b, n, hc).permute(1, 2, 0, 3)  # [B, N, T, H]

        # what is known at t + 1 (zeros after the last step)
        nxt = F.pad(x[:, :, 1:], (0, 0, 0, 1))
        nxt_mask = F.pad(mask[:, :, 1:], (0, 0, 0, 1))
        share = nxt.unsqueeze(-1) * self.present_value + nxt_mask.unsqueeze(-1) * self.present_seen
        present = share.sum(dim=3) + self.present_bias  # [B, N, T, H]
        ctx_edges, hop = context_edges(edge_index, n, self.context_hops)
        ctx_table = GATv2Layer.incoming_table(ctx_edges, n).reshape(-1)
        node_major = states.permute(1, 0, 2, 3).reshape(n, b * t, hc)
        senders = torch.cat([present.permute(1, 0, 2, 3).reshape(n, b * t, hc), node_major], -1)
        receivers = torch.cat([torch.zeros_like(node_major), node_major], -1)
        msg, _ = self.context.propagate(
            senders, ctx_edges[0], ctx_edges[1], ctx_table, self.hop_emb(hop), xt_target=receivers
        )
        msg = F.dropout(elu(msg), p=self.dropout, training=self.training)
        msg = msg.view(n, b, t, hc).transpose(0, 1)  # [B, N, T, H]

        own = torch.stack([x, mask], dim=-1)  # [B, N, T, F, 2]: the slot's last value
        others = present.unsqueeze(3) - share  # [B, N, T, F, H]: the node's present without f
        last = torch.einsum("bntfk,fkh->bntfh", own, self.head_last)
        node_part = linear(self.head_state, states) + linear(self.head_context, msg)
        z = (
            node_part.unsqueeze(3)
            + linear(self.head_present, elu(others))
            + last
            + self.slot_emb.unsqueeze(0).unsqueeze(2)
        )
        z = elu(linear(self.head_hidden, elu(z)))
        neural = linear(self.head_out, z).squeeze(-1)  # [B, N, T, F]
        return self.linear_part(x, mask) + neural, torch.stack(attentions, dim=1)

    def hparams(self) -> dict[str, int | float | list[int]]:
        """Constructor arguments, for checkpoints: ``NormalGNN(**model.hparams())``."""
        return {
            "num_nodes": self.num_nodes,
            "num_features": self.num_features,
            "hidden_channels": self.hidden_channels,
            "heads": self.heads,
            "num_layers": self.num_layers,
            "context_hops": self.context_hops,
            "own_lags": self.own_lags,
            "own_means": list(self.own_means),
            "dropout": self.dropout,
            "num_node_types": self.num_node_types,
            "num_edge_types": self.num_edge_types,
            "type_dim": self.type_dim,
        }


class NormalInference(nn.Module):
    """:class:`NormalGNN` with the contract's outputs; what is exported.

    A model of a machine's normal grades nothing: ``grade_probs`` and ``health`` are zeros
    and ``fault_probs`` has no fault types; the engine reads ``forecast`` (and
    ``attention``) and never the other three (``gnn.anomaly``).

    Args:
        model: the trained network.
    """

    def __init__(self, model: NormalGNN) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        node_type: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(grade_probs, health, fault_probs, forecast, attention)`` in contract order.

        Args:
            x: see :meth:`NormalGNN.forward`.
            mask: see :meth:`NormalGNN.forward`.
            node_type: see :meth:`NormalGNN.forward`.
            edge_index: see :meth:`NormalGNN.forward`.
            edge_type: see :meth:`NormalGNN.forward`.

        Shapes:
            - grade_probs: [B, N, G] zeros; health: [B, N] zeros; fault_probs: [B, N, 0]
            - forecast: [B, N, T, F]; attention: [B, L, E]
        """
        forecast, attention = self.model(x, mask, node_type, edge_index, edge_type)
        zero = x[:, :, 0, 0] * 0.0  # [B, N]
        grade_probs = zero.unsqueeze(-1).expand(-1, -1, len(GRADES))
        fault_probs = zero.unsqueeze(-1)[..., :0]
        return grade_probs, zero, fault_probs, forecast, attention
