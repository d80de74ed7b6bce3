"""The hyper-parameters of a training run, one pydantic model: what the checkpoint and the card
record, and what `hydrodiag train` and `evaluate cv` build their options from.

Imports neither torch nor numpy, so that the CLI can read the fields while it parses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gnn.contract import Normalisation

DiscriminantNodes = Literal["sensorless", "graded"]
# How a node without sensors is graded from its neighbourhood: "ordinal" scores the grade on
# one axis (grades are an ordered severity scale), "nominal" is a classic LDA, one mean per grade.
DiscriminantScale = Literal["ordinal", "nominal"]


class TrainConfig(BaseModel):
    """Hyper-parameters of one training run (stored in the checkpoint and the card)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(
        default=0, description="seed of initialisation, shuffling, dropout and held-out blocks"
    )
    epochs: int = Field(default=25, ge=1, description="training epochs")
    batch_size: int = Field(default=32, ge=1, description="windows per batch and process")
    lr: float = Field(
        default=5e-3, gt=0, description="peak learning rate of the one-cycle schedule"
    )
    weight_decay: float = Field(default=1e-4, ge=0)
    patience: int = Field(
        default=12, ge=1, description="early-stopping patience: epochs without improvement"
    )
    val_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="share of 100-window blocks held out for early stopping; 0 trains on all",
    )
    hidden_channels: int = Field(default=16, description="hidden channels")
    heads: int = Field(default=2, description="attention heads")
    num_layers: int = Field(default=2, description="GATv2 layers per time step")
    lstm_layers: int = 1
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="dropout probability")
    time_frequencies: int = 4
    readout_layers: int = Field(default=1, description="GATv2 layers after the LSTM")
    moment_frequencies: int = Field(
        default=0,
        ge=0,
        description="K Fourier moments of each node's inputs added to the readout; 0 turns "
        "them off",
    )
    discriminant_frequencies: int = Field(
        default=16,
        ge=0,
        description="K Fourier moments read by the closed-form grade discriminants; 0 leaves "
        "every grade, also of components without sensors, to the neural heads",
    )
    discriminant_hops: int = Field(
        default=3,
        ge=1,
        description="graph radius of the signals a sensorless node's discriminant reads; one "
        "less for nodes with sensors",
    )
    discriminant_offset: float = Field(
        default=0.01,
        ge=0,
        description="sensor offset the discriminants must tolerate, as a share of each "
        "sensor's std",
    )
    discriminant_noise: float = Field(
        default=0.005,
        ge=0,
        description="per-sample sensor noise the discriminants must tolerate, as a share of "
        "each sensor's std",
    )
    discriminant_nodes: DiscriminantNodes = Field(
        default="graded",
        description="graded nodes given a discriminant: sensorless, those without sensors, in "
        "place of their neural head; graded, all of them, added to the neural head where there "
        "are sensors",
    )
    discriminant_variation: bool = Field(
        default=True,
        description="let the discriminants also read the Fourier moments of each channel's "
        "absolute step-to-step change, how sharply and when in the cycle signals move; off, "
        "they read the signals' moments alone",
    )
    discriminant_choose_radius: bool = Field(
        default=True,
        description="choose each discriminant's graph radius, the one above or one hop less, "
        "by leave-one-run-out inside the training windows (blocked folds where the labels "
        "have no runs); off, every discriminant reads the radius above",
    )
    discriminant_scale: DiscriminantScale = Field(
        default="ordinal",
        description="grading a component without sensors: ordinal, one severity score with the "
        "nearest grade on it; nominal, one mean per grade as in LDA",
    )
    forecast_weight: float = Field(default=0.1, ge=0)
    fault_weight: float = Field(default=0.2, ge=0)
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    normalisation: Normalisation = Field(
        default="global",
        description="input normalisation: per sensor (global), per sensor and time step of "
        "the cycle (phase), or both as two channels (global+phase); see gnn.graph",
    )
    threads: int | None = Field(
        default=1,
        description="torch CPU threads, 1 being fastest on a busy small CPU; a config's None "
        "keeps torch's own number",
    )
