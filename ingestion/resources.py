"""Where shipped resources (profiles, models, rules, icons) and the user's workspace live."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "HydroDiag"
WORKSPACE_ENV = "HYDRODIAG_WORKSPACE"
RESOURCES_ENV = "HYDRODIAG_RESOURCES"
DATA_DIR_ENV = (
    "HYDRODIAG_DATA_DIR"  # tests point this at tmp_path so they never touch the user's files
)


def resources_dir() -> Path:
    """The ``resources/`` folder: next to the packages in a checkout, inside the bundle when frozen."""
    override = os.environ.get(RESOURCES_ENV)
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def user_data_dir() -> Path:
    """Per-user data directory (workspaces, settings); created on first use."""
    override = os.environ.get(DATA_DIR_ENV)
    path = (
        Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_workspace_path() -> Path:
    """``--workspace`` beats ``$HYDRODIAG_WORKSPACE`` beats ``<user data dir>/workspace.duckdb``."""
    override = os.environ.get(WORKSPACE_ENV)
    if override:
        return Path(override)
    return user_data_dir() / "workspace.duckdb"


def demo_workspace_path() -> Path:
    return user_data_dir() / "demo.duckdb"
