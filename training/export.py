"""Checkpoints and ONNX export with the contract's names, dynamic shapes and metadata.

A checkpoint (``.pt``) holds the weights, the constructor arguments and everything the
exporter writes into the ONNX metadata (:class:`ModelMeta`), so an exported model can always be
rebuilt from its checkpoint. :func:`export_onnx` checks the file with ``onnx.checker`` and
compares ONNX Runtime against torch on the training graph and on random graphs of other sizes.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gnn import contract
from gnn.graph import EDGE_TYPES, NODE_TYPES, GraphSpec, profile_sha256
from gnn.model import InferenceModel, TemporalGNN

if TYPE_CHECKING:
    import onnx

CHECKPOINT_FORMAT = 1
PARITY_TOLERANCE = 1e-4
META_FORECAST_REFERENCE = "hydrodiag.forecast_error_reference"  # JSON {node id: mean sq. error}
META_HPARAMS = "hydrodiag.hparams"  # JSON constructor arguments of the network
META_NODE_TYPES = "hydrodiag.node_types"  # JSON vocabulary behind node_type ids
META_EDGE_TYPES = "hydrodiag.edge_types"  # JSON vocabulary behind edge_type ids

log = logging.getLogger(__name__)


def fault_components_from_targets(
    targets: Mapping[str, str], fault_types: Iterable[str], graded_components: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """{fault type: components} from the training labels' {component: fault type} mapping.

    The same rule training uses to build the fault targets (``training.datasets.fault_matrix``):
    a graded component labelled with a grade > 0 has its own fault type; only the model's
    ``fault_types`` are kept.
    """
    graded = set(graded_components)
    out: dict[str, tuple[str, ...]] = {}
    for fault in fault_types:
        comps = sorted(c for c, f in targets.items() if f == fault and c in graded)
        if comps:
            out[fault] = tuple(comps)
    return out


def legacy_fault_components(
    fault_types: Iterable[str], graded_components: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """The mapping for a checkpoint saved before ModelMeta carried it, or {} if not knowable.

    Such checkpoints were trained on UCI-layout labels, whose target -> component table is
    ``ingestion.uci.UCI_TARGETS`` (the workspace importer writes the same pairs into
    ``labels``). It is used only when it explains every fault type of the checkpoint with one
    of its graded components; otherwise nothing is written and the engine says it infers.
    """
    from ingestion.uci import UCI_TARGETS

    faults = tuple(fault_types)
    mapping = fault_components_from_targets(
        {t.component_id: t.fault_type for t in UCI_TARGETS}, faults, graded_components
    )
    return mapping if set(mapping) == set(faults) else {}


class ModelMeta(BaseModel):
    """What a trained model is, beyond its weights; written into the ONNX metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_id: str
    model_version: str
    graph_spec: GraphSpec
    fault_types: tuple[str, ...]
    graded_components: tuple[str, ...]
    forecast_reference: dict[str, float] = Field(default_factory=dict)
    # fault type -> the component(s) it was trained on; {} in checkpoints saved before it existed
    fault_components: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # component -> {sensor: grade accuracy without it} for the sensors it cannot do without
    # (training.evaluate.sensor_dependence); {} when not measured
    required_sensors: dict[str, dict[str, float]] = Field(default_factory=dict)
    # {"scheme": validation, "temperatures": {component: T}} when the grade probabilities are
    # calibrated (training.calibration); {} otherwise
    calibration: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fault_components_fit(self) -> ModelMeta:
        if not self.fault_components:
            return self
        nodes = set(self.graph_spec.node_ids)
        for fault, comps in self.fault_components.items():
            if fault not in self.fault_types:
                raise ValueError(f"fault_components: {fault!r} is not one of {self.fault_types}")
            unknown = [c for c in comps if c not in nodes]
            if unknown or not comps:
                raise ValueError(
                    f"fault_components: {fault!r} -> {list(comps)}: components must be nodes "
                    f"of the graph ({', '.join(sorted(nodes))})"
                )
        missing = [f for f in self.fault_types if f not in self.fault_components]
        if missing:
            raise ValueError(f"fault_components: no component for fault types {missing}")
        return self

    def resolved_fault_components(self) -> dict[str, tuple[str, ...]] | None:
        """The mapping to export: this meta's own, or for an older checkpoint the legacy one.

        None when neither is known (the key is then left out of the ONNX metadata).
        """
        if self.fault_components or not self.fault_types:
            return dict(self.fault_components)
        legacy = legacy_fault_components(self.fault_types, self.graded_components)
        if legacy:
            log.warning(
                "checkpoint of %s %s predates %s; writing the UCI label table's mapping %s",
                self.model_id,
                self.model_version,
                contract.META_FAULT_COMPONENTS,
                json.dumps(legacy, sort_keys=True),
            )
        else:
            log.warning(
                "checkpoint of %s %s predates %s and its fault types %s are not all UCI "
                "targets: the key is not written, the engine will infer the mapping",
                self.model_id,
                self.model_version,
                contract.META_FAULT_COMPONENTS,
                list(self.fault_types),
            )
        return legacy or None

    def metadata_props(self, model: TemporalGNN) -> dict[str, str]:
        spec = self.graph_spec
        props = {
            contract.META_CONTRACT_VERSION: str(contract.CONTRACT_VERSION),
            contract.META_MODEL_ID: self.model_id,
            contract.META_MODEL_VERSION: self.model_version,
            contract.META_PROFILE_ID: spec.profile_id,
            contract.META_PROFILE_SHA256: profile_sha256(spec),
            contract.META_GRAPH_SPEC: spec.to_json(),
            contract.META_FAULT_TYPES: json.dumps(list(self.fault_types)),
            contract.META_GRADED_COMPONENTS: json.dumps(list(self.graded_components)),
            META_FORECAST_REFERENCE: json.dumps(self.forecast_reference, sort_keys=True),
            META_HPARAMS: json.dumps(model.hparams(), sort_keys=True),
            META_NODE_TYPES: json.dumps(list(NODE_TYPES)),
            META_EDGE_TYPES: json.dumps(list(EDGE_TYPES)),
        }
        if self.required_sensors:
            props[contract.META_REQUIRED_SENSORS] = json.dumps(
                self.required_sensors, sort_keys=True
            )
        if self.calibration:
            props[contract.META_CALIBRATION] = json.dumps(self.calibration, sort_keys=True)
        mapping = self.resolved_fault_components()
        if mapping is not None:
            props[contract.META_FAULT_COMPONENTS] = json.dumps(
                {f: list(c) for f, c in mapping.items()}, sort_keys=True
            )
        return props


def save_checkpoint(
    path: Path, model: TemporalGNN, meta: ModelMeta, extra: dict[str, Any] | None = None
) -> None:
    """Weights + hyper-parameters + metadata (+ ``extra``, e.g. the training config)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "hparams": model.hparams(),
            "state_dict": state,
            "meta": meta.model_dump_json(),
            "extra": json.dumps(extra or {}),
        },
        path,
    )


def load_checkpoint(path: Path) -> tuple[TemporalGNN, ModelMeta, dict[str, Any]]:
    """Rebuild the model of a checkpoint written by :func:`save_checkpoint` (eval mode)."""
    from ingestion.errors import HydroDiagError

    if not Path(path).is_file():
        raise HydroDiagError(f"{path}: checkpoint file does not exist.")
    from training.safe_load import load_weights

    try:
        data = load_weights(path)
    except ValueError as exc:  # never torch's own text: it suggests weights_only=False
        raise HydroDiagError(
            f"{path}: not a HydroDiag checkpoint: {exc}. "
            "Give the .pt file written by `hydrodiag train`."
        ) from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise HydroDiagError(
            f"{path}: not a HydroDiag checkpoint of format {CHECKPOINT_FORMAT} "
            "(checkpoints/last.pt is a run's training state, for `train --resume`; export "
            "the model.pt the finished run writes)."
        )
    model = TemporalGNN(**data["hparams"])
    model.load_state_dict(data["state_dict"])
    model.eval()
    return model, ModelMeta.model_validate_json(data["meta"]), json.loads(data["extra"])


def _dynamic_axes() -> dict[str, dict[int, str]]:
    bnt = {0: "B", 1: "N", 2: "T"}
    return {
        contract.INPUT_X: bnt,
        contract.INPUT_MASK: bnt,
        contract.INPUT_NODE_TYPE: {0: "N"},
        contract.INPUT_EDGE_INDEX: {1: "E"},
        contract.INPUT_EDGE_TYPE: {0: "E"},
        contract.OUTPUT_GRADE_PROBS: {0: "B", 1: "N"},
        contract.OUTPUT_HEALTH: {0: "B", 1: "N"},
        contract.OUTPUT_FAULT_PROBS: {0: "B", 1: "N"},
        contract.OUTPUT_FORECAST: bnt,
        contract.OUTPUT_ATTENTION: {0: "B", 2: "E"},
    }


def example_inputs(
    spec: GraphSpec, batch: int = 2, length: int = 12, seed: int = 0
) -> tuple[np.ndarray, ...]:
    """Random (x, mask) on the spec's graph plus its static inputs, in contract input order."""
    rng = np.random.default_rng(seed)
    shape = (batch, spec.num_nodes, length, spec.num_features)
    mask = (rng.random(shape) > 0.2).astype(np.float32)
    x = (rng.normal(size=shape) * mask).astype(np.float32)
    return x, mask, spec.node_type(), spec.edge_index(), spec.edge_type()


def random_graph_inputs(
    n_nodes: int,
    n_edges: int,
    length: int,
    n_features: int,
    batch: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, ...]:
    """Random inputs on a random graph (self loops added so every node receives a message)."""
    rng = np.random.default_rng(seed)
    shape = (batch, n_nodes, length, n_features)
    mask = (rng.random(shape) > 0.2).astype(np.float32)
    x = (rng.normal(size=shape) * mask).astype(np.float32)
    src = rng.integers(0, n_nodes, size=n_edges)
    dst = rng.integers(0, n_nodes, size=n_edges)
    loops = np.arange(n_nodes)
    edge_index = np.stack([np.concatenate([src, loops]), np.concatenate([dst, loops])])
    node_type = np.asarray(rng.integers(0, len(NODE_TYPES), size=n_nodes))
    edge_type = np.asarray(rng.integers(0, len(EDGE_TYPES), size=int(edge_index.shape[1])))
    return (
        x,
        mask,
        node_type.astype(np.int64),
        edge_index.astype(np.int64),
        edge_type.astype(np.int64),
    )


def contract_proto(
    wrapped: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    metadata: Mapping[str, str],
    doc: str,
) -> onnx.ModelProto:
    """``wrapped`` (a module with the contract's inputs and outputs) as a checked ONNX model:
    contract names and opset, dynamic B/N/T/E, ``metadata`` as its metadata_props."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of torch.export, which cannot
            # yet keep nn.LSTM's time axis dynamic; it is the exporter that gives us dynamic T.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                args,
                str(path),
                input_names=list(contract.INPUTS),
                output_names=list(contract.OUTPUTS),
                opset_version=contract.OPSET,
                dynamic_axes=_dynamic_axes(),
                dynamo=False,
                do_constant_folding=True,
            )
        proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = doc
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: TemporalGNN, meta: ModelMeta, path: Path) -> Path:
    """Write ``model`` as ONNX (contract names, opset, dynamic B/N/T/E) with metadata_props."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = InferenceModel(model).eval()
    args = tuple(torch.from_numpy(a) for a in example_inputs(meta.graph_spec))
    proto = contract_proto(
        wrapped,
        args,
        meta.metadata_props(model),
        f"HydroDiag {meta.model_id} {meta.model_version} for {meta.graph_spec.profile_id}",
    )
    onnx.save(proto, str(path))
    return path


def parity_check(
    model: TemporalGNN,
    onnx_path: Path,
    cases: list[tuple[np.ndarray, ...]],
) -> list[dict[str, float]]:
    """Max abs difference per output between torch and ONNX Runtime (CPU) for each case."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    wrapped = InferenceModel(model).eval()
    report = []
    for case in cases:
        feeds = dict(zip(contract.INPUTS, case, strict=True))
        got = session.run(list(contract.OUTPUTS), feeds)
        with torch.no_grad():
            want = wrapped(*(torch.from_numpy(a) for a in case))
        report.append(
            {
                name: float(np.max(np.abs(g - w.numpy()))) if g.size else 0.0
                for name, g, w in zip(contract.OUTPUTS, got, want, strict=True)
            }
        )
    return report


def default_parity_cases(
    spec: GraphSpec, *, graph_agnostic: bool = True
) -> list[tuple[np.ndarray, ...]]:
    """The training graph at several lengths plus, for a model that works on any graph,
    random graphs of other sizes and lengths.

    A model with a neighbourhood discriminant (``TemporalGNN.discriminant_frequencies``)
    holds per-node buffers of its profile, so only its own graph (any B and T) applies.
    """
    f = spec.num_features
    own = [
        example_inputs(spec, batch=3, length=60, seed=1),
        example_inputs(spec, batch=1, length=7, seed=2),
    ]
    if not graph_agnostic:
        return [*own, example_inputs(spec, batch=2, length=90, seed=3)]
    return [
        *own,
        random_graph_inputs(4, 6, 15, f, batch=2, seed=3),
        random_graph_inputs(17, 40, 33, f, batch=3, seed=4),
        random_graph_inputs(1, 0, 2, f, batch=1, seed=5),
    ]
