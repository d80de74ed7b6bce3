"""Fixtures of the ingestion tests: the reference rig's profile and a fresh workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.profiles import EquipmentProfile, load_profile
from ingestion.workspace import Store, open_workspace


@pytest.fixture
def rig() -> EquipmentProfile:
    return load_profile("zema-test-rig")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_workspace(tmp_path / "ws.duckdb")
