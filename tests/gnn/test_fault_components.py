"""Fault type -> component mapping: written by the exporter as metadata, read and checked by the
runtime, optional within contract version 1 (older model files still load)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import onnx
import pytest
import torch

from app.cli import main
from gnn import contract
from gnn.graph import GraphSpec, default_model_path, profile_sha256
from gnn.model import TemporalGNN
from gnn.runtime import ModelError, load_model
from ingestion.profiles import load_profile
from ingestion.uci import UCI_TARGETS
from tests.gnn.test_runtime_models import build_contract_model, save_model
from training.export import (
    CHECKPOINT_FORMAT,
    ModelMeta,
    export_onnx,
    fault_components_from_targets,
    legacy_fault_components,
    load_checkpoint,
    save_checkpoint,
)

UCI_FAULTS = tuple(sorted(t.fault_type for t in UCI_TARGETS))
UCI_MAPPING = {t.fault_type: [t.component_id] for t in UCI_TARGETS}
KEY = contract.META_FAULT_COMPONENTS


def _props(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def _rig_spec() -> GraphSpec:
    return GraphSpec.from_profile(load_profile("zema-test-rig"))


def _tiny(spec: GraphSpec, n_faults: int) -> TemporalGNN:
    torch.manual_seed(0)
    return TemporalGNN(spec.num_features, num_fault_types=n_faults, hidden_channels=4, heads=1)


def _rig_contract_model(tmp_path: Path, mapping: object | None, name: str = "m") -> Path:
    spec = _rig_spec()
    metadata = {KEY: mapping if isinstance(mapping, str) else json.dumps(mapping)}
    return save_model(
        build_contract_model(
            profile_id="zema-test-rig",
            profile_sha256=profile_sha256(spec),
            graph_spec=json.loads(spec.to_json()),
            graded_components=("C1", "V10", "MP1", "ACC"),
            fault_types=UCI_FAULTS,
            metadata=metadata if mapping is not None else None,
        ),
        tmp_path / name / "model.onnx",
    )


# -- exporter ------------------------------------------------------------------------------


def test_mapping_from_training_targets_keeps_trained_faults_and_graded_components() -> None:
    targets = {"C1": "cooler_efficiency_loss", "V10": "valve_switching_lag", "T": "tank_leak"}
    got = fault_components_from_targets(targets, ["cooler_efficiency_loss", "x"], ["C1", "V10"])
    assert got == {"cooler_efficiency_loss": ("C1",)}
    two = fault_components_from_targets({"MP1": "leak", "MP2": "leak"}, ["leak"], ["MP2", "MP1"])
    assert two == {"leak": ("MP1", "MP2")}


def test_export_writes_the_mapping_and_runtime_reads_it(tmp_path: Path) -> None:
    spec = _rig_spec()
    faults = ("cooler_efficiency_loss", "pump_internal_leakage")
    meta = ModelMeta(
        model_id="m",
        model_version="1",
        graph_spec=spec,
        fault_types=faults,
        graded_components=("C1", "MP1", "MP2"),
        fault_components={"cooler_efficiency_loss": ("C1",), faults[1]: ("MP1", "MP2")},
    )
    path = export_onnx(_tiny(spec, 2), meta, tmp_path / "model.onnx")
    assert json.loads(_props(path)[KEY]) == {
        "cooler_efficiency_loss": ["C1"],
        "pump_internal_leakage": ["MP1", "MP2"],
    }
    model = load_model(path, provider="cpu", profile=load_profile("zema-test-rig"))
    assert model.fault_components == {
        "cooler_efficiency_loss": ("C1",),
        "pump_internal_leakage": ("MP1", "MP2"),
    }
    # the checkpoint carries it too, so `export-onnx` of it writes the same key
    save_checkpoint(tmp_path / "model.pt", _tiny(spec, 2), meta)
    assert load_checkpoint(tmp_path / "model.pt")[1].fault_components == meta.fault_components


def test_meta_refuses_a_mapping_that_does_not_fit() -> None:
    spec = _rig_spec()
    base = {"model_id": "m", "model_version": "1", "graph_spec": spec, "graded_components": ()}
    with pytest.raises(ValueError, match="'Z9'"):
        ModelMeta(**base, fault_types=("a",), fault_components={"a": ("Z9",)})
    with pytest.raises(ValueError, match="no component for fault types \\['b'\\]"):
        ModelMeta(**base, fault_types=("a", "b"), fault_components={"a": ("C1",)})
    with pytest.raises(ValueError, match="'c' is not one of"):
        ModelMeta(**base, fault_types=("a",), fault_components={"a": ("C1",), "c": ("C1",)})


def test_legacy_mapping_only_when_the_uci_table_explains_every_fault() -> None:
    assert legacy_fault_components(UCI_FAULTS, ("C1", "V10", "MP1", "ACC")) == {
        f: tuple(c) for f, c in UCI_MAPPING.items()
    }
    assert legacy_fault_components(("cooler_efficiency_loss", "own_fault"), ("C1",)) == {}
    assert legacy_fault_components(("cooler_efficiency_loss",), ("V10",)) == {}  # C1 not graded


def _old_checkpoint(path: Path, fault_types: tuple[str, ...], graded: tuple[str, ...]) -> Path:
    """A checkpoint as saved before ModelMeta had fault_components (the key absent)."""
    spec = _rig_spec()
    model = _tiny(spec, len(fault_types))
    meta = ModelMeta(
        model_id="old", model_version="0.9", graph_spec=spec, fault_types=fault_types,
        graded_components=graded,
    )  # fmt: skip
    old_meta = json.loads(meta.model_dump_json())
    del old_meta["fault_components"]
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "hparams": model.hparams(),
            "state_dict": model.state_dict(),
            "meta": json.dumps(old_meta),
            "extra": "{}",
        },
        path,
    )
    return path


def test_cli_export_onnx_of_an_old_checkpoint_writes_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ckpt = _old_checkpoint(tmp_path / "old.pt", UCI_FAULTS, ("C1", "V10", "MP1", "ACC"))
    with caplog.at_level(logging.WARNING, logger="training.export"):
        assert main(["export-onnx", str(ckpt), "--out", str(tmp_path / "old.onnx")]) == 0
    assert json.loads(_props(tmp_path / "old.onnx")[KEY]) == UCI_MAPPING
    assert "predates hydrodiag.fault_components" in caplog.text

    # fault types the UCI table does not explain: no key rather than a guess
    other = _old_checkpoint(tmp_path / "other.pt", ("own_fault",), ("C1",))
    assert main(["export-onnx", str(other), "--out", str(tmp_path / "other.onnx")]) == 0
    assert KEY not in _props(tmp_path / "other.onnx")
    assert load_model(tmp_path / "other.onnx").fault_components is None


def test_shipped_checkpoint_exports_the_uci_mapping() -> None:
    """What `hydrodiag export-onnx` writes for the shipped model.pt (read without the network)."""
    ckpt = default_model_path().with_name("model.pt")
    if not ckpt.is_file():
        pytest.skip("no shipped checkpoint")
    data = torch.load(ckpt, map_location="cpu", weights_only=True)
    meta = ModelMeta.model_validate_json(data["meta"])
    assert meta.resolved_fault_components() == {f: tuple(c) for f, c in UCI_MAPPING.items()}


# -- runtime -------------------------------------------------------------------------------


def test_shipped_model_loads_with_or_without_the_key() -> None:
    path = default_model_path()
    if not path.is_file():
        pytest.skip("no shipped model")
    model = load_model(path, provider="cpu", profile=load_profile("zema-test-rig"))
    if KEY in model.metadata:  # re-exported since the key exists
        assert model.fault_components == {f: tuple(c) for f, c in UCI_MAPPING.items()}
    else:
        assert model.fault_components is None


def test_runtime_accepts_a_single_id_and_checks_against_the_profile(tmp_path: Path) -> None:
    mapping: dict[str, object] = {f: c[0] for f, c in UCI_MAPPING.items()}
    rig = load_profile("zema-test-rig")
    model = load_model(_rig_contract_model(tmp_path, mapping), profile=rig)
    assert model.fault_components == {f: tuple(c) for f, c in UCI_MAPPING.items()}

    mapping["cooler_efficiency_loss"] = ["C1", "C9"]
    path = _rig_contract_model(tmp_path, mapping, "unknown")
    assert load_model(path).fault_components is not None  # no profile: nothing to check yet
    with pytest.raises(ModelError) as err:
        load_model(path, profile=rig, equipment="rig")
    message = str(err.value)
    assert str(path) in message and KEY in message and "'C9'" in message
    assert "profile 'zema-test-rig'" in message and "re-export" in message


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("{not json", "is not valid JSON"),
        (["C1"], "should be a JSON dict"),
        ({**UCI_MAPPING, "mystery": ["C1"]}, "fault type 'mystery', which is not one of"),
        ({**UCI_MAPPING, "cooler_efficiency_loss": []}, "expected a component id"),
        ({**UCI_MAPPING, "cooler_efficiency_loss": [3]}, "expected a component id"),
        ({"cooler_efficiency_loss": ["C1"]}, "no component for fault type"),
    ],
)
def test_bad_mapping_is_refused_naming_file_and_key(
    tmp_path: Path, value: object, match: str
) -> None:
    path = _rig_contract_model(tmp_path, value)
    with pytest.raises(ModelError, match=match) as err:
        load_model(path)
    assert str(path) in str(err.value) and KEY in str(err.value)


# -- training pipeline ---------------------------------------------------------------------


def test_trained_model_carries_its_labels_mapping(tmp_path: Path) -> None:
    """train_and_save writes the training labels' mapping, whatever the fault types are called."""
    import dataclasses

    from tests.conftest import UCI_DIR
    from tests.gnn.test_engine import write_uci_subset
    from training.config import TrainConfig
    from training.datasets import from_uci_folder
    from training.pipeline import train_and_save

    windows = from_uci_folder(write_uci_subset(UCI_DIR, tmp_path / "uci", slice(0, 1805, 45)))
    targets = {"C1": "fan_failure", "V10": "solenoid_wear", "MP1": "fan_failure"}
    windows = dataclasses.replace(
        windows,
        grades={c: g for c, g in windows.grades.items() if c in targets},
        fault_types=targets,
    )
    out = tmp_path / "model"
    config = TrainConfig(epochs=1, batch_size=16, hidden_channels=4, heads=1, seed=1)
    train_and_save(
        windows,
        load_profile("zema-test-rig"),
        out,
        config,
        model_id="custom",
        model_version="0.1",
        command="test",
        log=lambda _: None,
    )
    expected = {"fan_failure": ["C1", "MP1"], "solenoid_wear": ["V10"]}
    assert json.loads(_props(out / "model.onnx")[KEY]) == expected
    model = load_model(out / "model.onnx", profile=load_profile("zema-test-rig"))
    assert model.fault_types == ("fan_failure", "solenoid_wear")
    assert model.fault_components == {f: tuple(c) for f, c in expected.items()}
    assert load_checkpoint(out / "model.pt")[1].fault_components == model.fault_components
