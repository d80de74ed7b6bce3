"""Shared fixtures. Every test runs with its own data directory so the user's files stay untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.data import unpacked_uci

UCI_DIR = unpacked_uci()  # the project's own copy (data/uci-hydraulic-1hz.tar.xz)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("HYDRODIAG_DATA_DIR", str(data_dir))
    monkeypatch.delenv("HYDRODIAG_WORKSPACE", raising=False)


@pytest.fixture
def uci_dir() -> Path:
    return UCI_DIR


@pytest.fixture(scope="session")
def uci60(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UCI-layout folder of 60 real cycles spread over the whole run (every grade appears)."""
    folder = tmp_path_factory.mktemp("uci60")
    for f in UCI_DIR.glob("*.txt"):
        rows = f.read_text().splitlines()
        (folder / f.name).write_text("\n".join(rows[i] for i in range(0, 1800, 30)) + "\n")
    return folder
