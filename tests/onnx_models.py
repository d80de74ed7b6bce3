"""A small rig model, exported: the starting point of the ONNX export and parity tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gnn.graph import GraphSpec
from gnn.model import TemporalGNN
from ingestion.profiles import load_profile
from training.export import ModelMeta, export_onnx


def export_small_model(
    path: Path,
    *,
    seed: int,
    model_id: str,
    fault_types: tuple[str, ...],
    spec: GraphSpec | None = None,
    model_version: str = "0.0.1",
    meta: dict[str, Any] | None = None,
    **hparams: int,
) -> tuple[TemporalGNN, ModelMeta, Path]:
    """A seeded random-weight ``TemporalGNN`` (8 channels, 2 heads, ``hparams``) for ``spec``
    (the reference rig by default), exported to ``path`` with ``meta`` as further ModelMeta
    fields."""
    torch.manual_seed(seed)
    spec = spec or GraphSpec.from_profile(load_profile("zema-test-rig"))
    model = TemporalGNN(
        spec.num_features,
        num_fault_types=len(fault_types),
        hidden_channels=8,
        heads=2,
        **hparams,
    ).eval()
    model_meta = ModelMeta(
        model_id=model_id,
        model_version=model_version,
        graph_spec=spec,
        fault_types=fault_types,
        **(meta or {}),
    )
    return model, model_meta, export_onnx(model, model_meta, path)
