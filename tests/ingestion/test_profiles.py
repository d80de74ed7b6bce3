"""Shipped profiles load; invalid profiles report every problem with its field and value."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ingestion.profiles import (
    ProfileError,
    list_shipped_profiles,
    load_profile,
    load_profile_file,
    validate_profile_data,
)


def _rig_data() -> dict[str, object]:
    path = Path(__file__).resolve().parents[2] / "resources/profiles/zema-test-rig.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_reference_rig_has_all_17_uci_sensors() -> None:
    rig = load_profile("zema-test-rig")
    expected = {f"PS{i}" for i in range(1, 7)} | {"EPS1", "FS1", "FS2", "VS1", "CE", "CP", "SE"}
    expected |= {f"TS{i}" for i in range(1, 5)}
    assert set(rig.sensor_ids) == expected
    assert rig.sensors_of("ACC") == ()  # inferred through neighbours
    assert {c.type for c in rig.components} >= {"pump", "valve", "accumulator", "cooler"}


def test_every_shipped_profile_is_valid() -> None:
    profiles = list_shipped_profiles()
    assert "zema-test-rig" in {p.id for p in profiles}


def test_all_problems_reported_at_once() -> None:
    data = copy.deepcopy(_rig_data())
    sensors = data["sensors"]
    assert isinstance(sensors, list)
    sensors[0]["component"] = "NOPE"
    sensors[1]["unit"] = ""
    sensors[2]["min"], sensors[2]["max"] = 10, 5
    with pytest.raises(ProfileError) as info:
        validate_profile_data(data, "mine.yaml")
    text = str(info.value)
    assert "mine.yaml" in text
    assert "sensors[0].component" in text and "NOPE" in text
    assert "sensors[1].unit" in text
    assert "sensors[2]" in text and "min (10" in text
    assert len(info.value.problems) == 3


def test_unknown_connection_endpoint_and_duplicate_ids() -> None:
    data = copy.deepcopy(_rig_data())
    connections = data["connections"]
    components = data["components"]
    assert isinstance(connections, list) and isinstance(components, list)
    connections[0]["target"] = "GHOST"
    components.append(dict(components[0]))
    with pytest.raises(ProfileError) as info:
        validate_profile_data(data, "dup.yaml")
    text = str(info.value)
    assert "connections[0].target" in text and "GHOST" in text
    assert "'M1' is used more than once" in text


def test_binary_and_missing_files_are_named(tmp_path: Path) -> None:
    binary = tmp_path / "blob.yaml"
    binary.write_bytes(b"\x00\xff\xfe\x80" * 10)
    with pytest.raises(ProfileError, match=r"(?s)blob\.yaml.*not a UTF-8 text file"):
        load_profile_file(binary)
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile_file(tmp_path / "missing.yaml")
