"""Load an exported HydroDiag model into ONNX Runtime, check it against the contract, run it.

Everything that can be wrong with a model file (not ONNX, another contract version, missing
metadata, other input/output names, trained for another profile) is refused here with a
:class:`ModelError` before a single window runs. Only onnxruntime and numpy: never torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from gnn import contract
from gnn.gpu import SIMULATE_MISSING_ENV, cuda_status
from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    import onnxruntime as ort

    from gnn.graph import GraphSpec
    from ingestion.profiles import EquipmentProfile

log = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "cuda", "cpu"]
PROVIDER_CHOICES: tuple[ProviderChoice, ...] = ("auto", "cuda", "cpu")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
CARD_FILE = "card.json"
DEFAULT_BATCH_SIZE = 256
DEFAULT_THREADS = 1  # see _open_session

_REQUIRED_META = contract.REQUIRED_META

FloatArray = npt.NDArray[np.float32]


class ModelError(HydroDiagError):
    """A model file cannot be used: it is not ONNX, breaks the contract or fits another machine."""


@dataclass(frozen=True)
class ModelOutputs:
    """The model's outputs for a batch of B windows (shapes as in :mod:`gnn.contract`)."""

    grade_probs: FloatArray  # [B, N, G]
    health: FloatArray  # [B, N]
    fault_probs: FloatArray  # [B, N, K]
    forecast: FloatArray  # [B, N, T, F]
    attention: FloatArray  # [B, L, E]

    @property
    def n_windows(self) -> int:
        return int(self.health.shape[0])


@dataclass
class LoadedModel:
    """A checked ONNX Runtime session plus the metadata the engine needs to feed and read it."""

    path: Path
    session: ort.InferenceSession
    provider: (
        str  # the execution provider that actually runs the graph (session.get_providers()[0])
    )
    providers: tuple[str, ...]
    requested: ProviderChoice
    provider_note: str  # why the provider differs from the request, "" when it does not
    metadata: dict[str, str]
    graph_spec_json: dict[str, Any]
    fault_types: tuple[str, ...]
    graded_components: tuple[str, ...]
    card: dict[str, Any] | None
    load_ms: float
    # fault type -> the components it was trained on (metadata hydrodiag.fault_components);
    # None for a model exported before the key existed: the engine then infers it, and says so.
    fault_components: dict[str, tuple[str, ...]] | None = None
    # component -> {sensor: grade accuracy without it} (metadata hydrodiag.required_sensors);
    # {} for a model exported before the key existed
    required_sensors: dict[str, dict[str, float]] = field(default_factory=dict)
    # sha256 of the ONNX bytes: which model exactly made a diagnosis (and the registry's key)
    sha256: str | None = None
    _spec: GraphSpec | None = field(default=None, repr=False)
    _static: dict[str, npt.NDArray[Any]] | None = field(default=None, repr=False)

    # -- metadata ---------------------------------------------------------------------------
    @property
    def contract_version(self) -> int:
        return int(self.metadata[contract.META_CONTRACT_VERSION])

    @property
    def model_id(self) -> str:
        return self.metadata[contract.META_MODEL_ID]

    @property
    def model_version(self) -> str:
        return self.metadata[contract.META_MODEL_VERSION]

    @property
    def profile_id(self) -> str:
        return self.metadata[contract.META_PROFILE_ID]

    @property
    def profile_sha256(self) -> str:
        return self.metadata[contract.META_PROFILE_SHA256]

    @property
    def graph_spec(self) -> GraphSpec:
        """The graph the model was trained on: node order, feature slots, edges, normalisation."""
        if self._spec is None:
            from gnn.graph import GraphSpec

            try:
                self._spec = GraphSpec.model_validate(self.graph_spec_json)
            except ValueError as exc:
                raise ModelError(
                    f"{self.path}: the graph spec in the model's metadata "
                    f"({contract.META_GRAPH_SPEC}) is not valid: {exc}. Re-export the model."
                ) from None
        return self._spec

    @property
    def calibrated_on(self) -> str:
        """The validation the grade probabilities are calibrated on (metadata
        ``hydrodiag.calibration``); "" for a model whose probabilities are not calibrated."""
        raw = self.metadata.get(contract.META_CALIBRATION)
        if not raw:
            return ""
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return ""
        return str(value.get("scheme", "")) if isinstance(value, Mapping) else ""

    @property
    def card_metrics(self) -> dict[str, float]:
        """Numeric metrics of the model card (card.json beside the model), flattened a.b.c."""
        if not self.card:
            return {}
        metrics = self.card.get("metrics", self.card)
        return _flatten_numbers(metrics) if isinstance(metrics, Mapping) else {}

    # -- running ----------------------------------------------------------------------------
    def static_inputs(self) -> dict[str, npt.NDArray[Any]]:
        """node_type, edge_index and edge_type of the model's graph, fed with every batch."""
        if self._static is None:
            spec = self.graph_spec
            self._static = {
                contract.INPUT_NODE_TYPE: spec.node_type(),
                contract.INPUT_EDGE_INDEX: spec.edge_index(),
                contract.INPUT_EDGE_TYPE: spec.edge_type(),
            }
        return self._static

    def run(
        self,
        x: npt.ArrayLike,
        mask: npt.ArrayLike,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        static: Mapping[str, npt.NDArray[Any]] | None = None,
    ) -> ModelOutputs:
        """Run B windows ``x``/``mask`` [B, N, T, F] in batches of ``batch_size``.

        Non-finite values in ``x`` are refused: the engine masks them before calling, and a
        NaN reaching the model would poison every node it attends to.
        """
        xa = np.ascontiguousarray(x, dtype=np.float32)
        ma = np.ascontiguousarray(mask, dtype=np.float32)
        if xa.ndim != 4 or xa.shape != ma.shape:
            raise ValueError(f"x and mask must both be [B, N, T, F]; got {xa.shape} and {ma.shape}")
        if not np.isfinite(xa).all():
            raise ValueError("x contains NaN or inf: mask missing values and set them to 0")
        feeds_static = dict(static) if static is not None else self.static_inputs()
        n_nodes = int(feeds_static[contract.INPUT_NODE_TYPE].shape[0])
        if xa.shape[1] != n_nodes:
            raise ValueError(f"x has {xa.shape[1]} nodes; the model's graph has {n_nodes}")
        if xa.shape[0] == 0:
            raise ValueError("no windows to run")
        parts: list[list[npt.NDArray[Any]]] = []
        for lo in range(0, xa.shape[0], max(1, batch_size)):
            feeds = {
                contract.INPUT_X: xa[lo : lo + batch_size],
                contract.INPUT_MASK: ma[lo : lo + batch_size],
                **feeds_static,
            }
            parts.append(self.session.run(list(contract.OUTPUTS), feeds))
        # One batch (every single-window call) needs no copy: concatenating its five outputs
        # cost ~25 us a window, 1.5 % of a 40-component window's inference.
        merged = (
            parts[0]
            if len(parts) == 1
            else [
                np.concatenate([p[i] for p in parts], axis=0) for i in range(len(contract.OUTPUTS))
            ]
        )
        return ModelOutputs(*(np.asarray(m, dtype=np.float32) for m in merged))

    # -- compatibility ----------------------------------------------------------------------
    def check_profile(self, profile: EquipmentProfile, *, equipment: str | None = None) -> None:
        """Refuse the model if it was trained for another profile than ``profile``.

        The profile id must match and the graph the profile gives (node order, sensors, slots,
        edges: :func:`gnn.graph.profile_sha256`) must hash to the model's profile sha.
        """
        what = (
            f"equipment {equipment!r} (profile {profile.id!r})"
            if equipment
            else (f"profile {profile.id!r}")
        )
        if profile.id != self.profile_id:
            raise ModelError(
                f"{self.path}: model {self.model_id} {self.model_version} was trained for "
                f"profile {self.profile_id!r}, not for {what}. Choose a model trained for "
                f"{profile.id!r} (--model) or train one."
            )
        from gnn import graph

        expected = graph.profile_sha256(graph.GraphSpec.from_profile(profile))
        if expected != self.profile_sha256:
            raise ModelError(
                f"{self.path}: model {self.model_id} {self.model_version} was trained for a "
                f"different version of profile {profile.id!r} (graph sha256 "
                f"{self.profile_sha256[:12]}…, {what} gives {expected[:12]}…): its "
                "components, sensors or connections changed. Retrain or export the model for "
                "this profile."
            )
        known = set(profile.component_ids)
        for fault, comps in (self.fault_components or {}).items():
            unknown = [c for c in comps if c not in known]
            if unknown:
                raise ModelError(
                    f"{self.path}: metadata {contract.META_FAULT_COMPONENTS} maps fault type "
                    f"{fault!r} to {', '.join(repr(c) for c in unknown)}, not a component of "
                    f"profile {profile.id!r} ({', '.join(profile.component_ids)}). The model "
                    "file was edited or exported wrongly: re-export it with `hydrodiag "
                    "export-onnx` from its checkpoint."
                )


def _flatten_numbers(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(_flatten_numbers(value, f"{name}."))
    return out


def cuda_usable() -> bool:
    """Whether this ONNX Runtime build offers the CUDA provider (it may still fail to start)."""
    import onnxruntime as ort

    return CUDA in ort.get_available_providers()


def _provider_note(choice: ProviderChoice, used: str) -> str:
    """Why inference does not run where it was asked to ("" when it does, or on a CPU by choice):
    never a silent fallback from the GPU."""
    if used == CUDA or choice == "cpu":
        return ""
    status = cuda_status()
    if status.usable:  # every library is there, yet the session did not start on the GPU
        return "running on the CPU: the CUDA provider did not start (see the log with -v)"
    return status.reason


def _provider_list(choice: ProviderChoice) -> list[str]:
    if choice == "cpu" or os.environ.get(SIMULATE_MISSING_ENV):
        return [CPU]
    if choice == "cuda" or cuda_usable():
        return [CUDA, CPU]
    return [CPU]


def _open_session(
    source: Path | bytes, providers: list[str], threads: int | None
) -> ort.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # One thread unless asked: our graphs are small, and on the reference 2-core machine (busy
    # with other work) one thread ran the shipped model at 2.4 ms per window and 386 windows/s,
    # two spinning threads at 6.7 ms and 235 windows/s, two without spinning at 2.5 ms and 338.
    # 0 = ONNX Runtime's own default (one thread per core).
    count = DEFAULT_THREADS if threads is None else max(0, threads)
    options.intra_op_num_threads = count
    if count != 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # A CUDA provider whose libraries are missing logs an error on the default logger and falls
    # back to CPU; we report that fallback ourselves, as a sentence.
    previous = 2  # ORT's default: warnings and up
    ort.set_default_logger_severity(4 if CUDA in providers else 3)
    try:
        model = source if isinstance(source, bytes) else str(source)
        return ort.InferenceSession(model, options, providers=providers)
    finally:
        ort.set_default_logger_severity(previous)


def load_model(
    path: Path | str,
    *,
    provider: ProviderChoice = "auto",
    profile: EquipmentProfile | None = None,
    equipment: str | None = None,
    threads: int | None = None,
) -> LoadedModel:
    """Open and check an exported model; with ``profile``, also refuse one made for another.

    ``provider``: "auto" asks for CUDA when ONNX Runtime offers it and falls back to CPU;
    "cuda" asks for CUDA (falling back to CPU, with a note, when it cannot start); "cpu" only
    CPU. :attr:`LoadedModel.provider` is what the session actually runs on. ``threads``: CPU
    threads of the session (None: 1, measured fastest here; 0: one per core).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        hint = " (it is a folder: name the .onnx file inside it)" if file.is_dir() else ""
        raise ModelError(f"{file}: model file does not exist{hint}.")
    try:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError as exc:
        raise ModelError(f"{file}: cannot read the model file ({exc}).") from None
    return _load(
        file,
        file,
        digest,
        read_model_card(file),
        provider=provider,
        profile=profile,
        equipment=equipment,
        threads=threads,
    )


def load_model_bytes(
    data: bytes,
    *,
    name: str,
    card: Mapping[str, Any] | None = None,
    provider: ProviderChoice = "auto",
    profile: EquipmentProfile | None = None,
    equipment: str | None = None,
    threads: int | None = None,
) -> LoadedModel:
    """:func:`load_model` for a model held in memory (a workspace's registry, an export file).

    ``name`` says where it came from: it stands for the path in messages and in
    :attr:`LoadedModel.path`. ``card`` is its model card (there is no card.json beside it).
    """
    return _load(
        bytes(data),
        Path(name),
        hashlib.sha256(data).hexdigest(),
        dict(card) if card is not None else None,
        provider=provider,
        profile=profile,
        equipment=equipment,
        threads=threads,
    )


def _load(
    source: Path | bytes,
    file: Path,
    digest: str,
    card: dict[str, Any] | None,
    *,
    provider: ProviderChoice,
    profile: EquipmentProfile | None,
    equipment: str | None,
    threads: int | None,
) -> LoadedModel:
    """Open ``source`` (a file or its bytes; ``file`` names it in messages) and check it."""
    if provider not in PROVIDER_CHOICES:
        raise ModelError(
            f"unknown provider {provider!r}; choose one of {', '.join(PROVIDER_CHOICES)}"
        )
    started = time.perf_counter()
    requested = _provider_list(provider)
    try:
        session = _open_session(source, requested, threads)
    except Exception as exc:  # ORT raises its own untyped exceptions for bad files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"{file}: not a usable ONNX model ({first}). The file is corrupt or not an ONNX "
            "export; export it again with `hydrodiag export-onnx` or choose another model."
        ) from None
    load_ms = (time.perf_counter() - started) * 1000.0
    used = tuple(session.get_providers())
    note = _provider_note(provider, used[0])
    if note and provider == "cuda":
        log.warning("%s: %s", file, note)
    meta = dict(session.get_modelmeta().custom_metadata_map)
    _check_metadata(file, meta)
    _check_io(file, session)
    graph_spec = _json_meta(file, meta, contract.META_GRAPH_SPEC, dict)
    fault_types = tuple(str(v) for v in _json_meta(file, meta, contract.META_FAULT_TYPES, list))
    graded = tuple(str(v) for v in _json_meta(file, meta, contract.META_GRADED_COMPONENTS, list))
    fault_components = _fault_components(file, meta, fault_types)
    required = _required_sensors(file, meta, graph_spec)
    model = LoadedModel(
        path=file,
        session=session,
        provider=used[0],
        providers=used,
        requested=provider,
        provider_note=note,
        metadata=meta,
        graph_spec_json=graph_spec,
        fault_types=fault_types,
        graded_components=graded,
        card=card,
        load_ms=load_ms,
        fault_components=fault_components,
        required_sensors=required,
        sha256=digest,
    )
    _check_outputs_shape(model)
    if profile is not None:
        model.check_profile(profile, equipment=equipment)
    return model


def _check_metadata(file: Path, meta: Mapping[str, str]) -> None:
    if contract.META_CONTRACT_VERSION not in meta:
        raise ModelError(
            f"{file}: the ONNX file has no HydroDiag metadata ({contract.META_CONTRACT_VERSION} "
            "is missing); it was not exported by `hydrodiag export-onnx`. Export it with HydroDiag."
        )
    version = meta[contract.META_CONTRACT_VERSION]
    if version != str(contract.CONTRACT_VERSION):
        raise ModelError(
            f"{file}: model uses I/O contract version {version}, this HydroDiag reads version "
            f"{contract.CONTRACT_VERSION}. Re-export the model with this version of HydroDiag "
            "(or use the HydroDiag version it was made for)."
        )
    missing = [key for key in _REQUIRED_META if not meta.get(key)]
    if missing:
        raise ModelError(
            f"{file}: model metadata is incomplete, missing {', '.join(missing)}. "
            "Re-export the model with `hydrodiag export-onnx`."
        )


def _json_meta(file: Path, meta: Mapping[str, str], key: str, kind: type) -> Any:
    try:
        value = json.loads(meta[key])
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"{file}: metadata {key} is not valid JSON ({exc}). Re-export the model."
        ) from None
    if not isinstance(value, kind):
        raise ModelError(
            f"{file}: metadata {key} should be a JSON {kind.__name__}, got "
            f"{type(value).__name__}. Re-export the model."
        )
    return value


def _required_sensors(
    file: Path, meta: Mapping[str, str], graph_spec: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """The optional {component: {sensor: accuracy without it}} key, checked against the
    model's own graph ({} when absent: a model exported before it existed)."""
    key = contract.META_REQUIRED_SENSORS
    if key not in meta:
        return {}
    raw = _json_meta(file, meta, key, dict)
    nodes = {str(n.get("id")) for n in graph_spec.get("nodes", []) if isinstance(n, dict)}
    sensors = {str(s.get("id")) for s in graph_spec.get("sensors", []) if isinstance(s, dict)}
    out: dict[str, dict[str, float]] = {}
    for comp, needs in raw.items():
        ok = comp in nodes and isinstance(needs, dict)
        ok = ok and all(
            s in sensors and isinstance(v, int | float) and 0 <= v <= 1 for s, v in needs.items()
        )
        if not ok:
            raise ModelError(
                f"{file}: metadata {key}: {comp!r} -> {json.dumps(needs)} does not fit the "
                "model's graph (component and sensor ids, accuracies in [0, 1]). Re-export "
                "the model."
            )
        out[str(comp)] = {str(s): float(v) for s, v in needs.items()}
    return out


def _fault_components(
    file: Path, meta: Mapping[str, str], fault_types: tuple[str, ...]
) -> dict[str, tuple[str, ...]] | None:
    """The optional {fault type: [component ids]} key, checked against the fault types.

    None when the key is absent (a model exported before it existed). Component ids are
    checked against the profile in :meth:`LoadedModel.check_profile`.
    """
    key = contract.META_FAULT_COMPONENTS
    if key not in meta:
        return None
    raw = _json_meta(file, meta, key, dict)
    where = f"{file}: metadata {key}"
    out: dict[str, tuple[str, ...]] = {}
    for fault, value in raw.items():
        if fault not in fault_types:
            raise ModelError(
                f"{where} names fault type {fault!r}, which is not one of the model's fault "
                f"types ({', '.join(fault_types) or 'none'}, {contract.META_FAULT_TYPES}). "
                "Re-export the model."
            )
        comps = [value] if isinstance(value, str) else value
        if (
            not isinstance(comps, list)
            or not comps
            or not all(isinstance(c, str) and c for c in comps)
        ):
            raise ModelError(
                f"{where}: fault type {fault!r} maps to {json.dumps(value)}; expected a "
                "component id or a non-empty list of them. Re-export the model."
            )
        out[fault] = tuple(comps)
    missing = [f for f in fault_types if f not in out]
    if missing:
        raise ModelError(
            f"{where} gives no component for fault type(s) {', '.join(missing)}. "
            "Re-export the model."
        )
    return out


def _check_io(file: Path, session: ort.InferenceSession) -> None:
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if set(inputs) != set(contract.INPUTS):
        raise ModelError(
            f"{file}: model inputs are {inputs}, the contract (version "
            f"{contract.CONTRACT_VERSION}) expects {list(contract.INPUTS)}. Re-export the model."
        )
    missing = [name for name in contract.OUTPUTS if name not in outputs]
    if missing:
        raise ModelError(
            f"{file}: model outputs {outputs} lack {missing} required by contract version "
            f"{contract.CONTRACT_VERSION}. Re-export the model."
        )
    for arg in session.get_inputs():
        if arg.name in (contract.INPUT_X, contract.INPUT_MASK) and len(arg.shape) != 4:
            raise ModelError(
                f"{file}: input {arg.name!r} has rank {len(arg.shape)}, the contract expects "
                "[B, N, T, F]. Re-export the model."
            )


def _check_outputs_shape(model: LoadedModel) -> None:
    for arg in model.session.get_outputs():
        if arg.name == contract.OUTPUT_FAULT_PROBS:
            k = arg.shape[-1] if arg.shape else None
            if isinstance(k, int) and k != len(model.fault_types):
                raise ModelError(
                    f"{model.path}: output fault_probs has {k} fault types, the metadata lists "
                    f"{len(model.fault_types)} ({', '.join(model.fault_types)}). Re-export it."
                )


def read_model_card(file: Path) -> dict[str, Any] | None:
    """The model card (card.json) beside model file ``file``; None if missing or unreadable."""
    card = file.with_name(CARD_FILE)
    if not card.is_file():
        return None
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: model card unreadable (%s); shown without metrics", card, exc)
        return None
    return data if isinstance(data, dict) else None


def model_outputs_to_dict(outputs: ModelOutputs) -> dict[str, FloatArray]:
    """The outputs by contract name (for tests and parity checks)."""
    return {
        contract.OUTPUT_GRADE_PROBS: outputs.grade_probs,
        contract.OUTPUT_HEALTH: outputs.health,
        contract.OUTPUT_FAULT_PROBS: outputs.fault_probs,
        contract.OUTPUT_FORECAST: outputs.forecast,
        contract.OUTPUT_ATTENTION: outputs.attention,
    }
