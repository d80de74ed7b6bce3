"""Where shipped resources (profiles, models, rules, icons) and the user's workspace live."""

from __future__ import annotations

import importlib.resources
import os
import sys
from pathlib import Path

import platformdirs

from ingestion.errors import HydroDiagError

APP_NAME = "HydroDiag"
WORKSPACE_ENV = "HYDRODIAG_WORKSPACE"
RESOURCES_ENV = "HYDRODIAG_RESOURCES"
DATA_DIR_ENV = (
    "HYDRODIAG_DATA_DIR"  # tests point this at tmp_path so they never touch the user's files
)


RESOURCES_PACKAGE = "hydrodiag_resources"  # the top-level resources/ folder, as installed


def resources_dir() -> Path:
    """The shipped resources: ``$HYDRODIAG_RESOURCES``, else the bundle's copy when frozen, else
    the installed package ``hydrodiag_resources`` (the checkout's ``resources/`` folder in an
    editable install), else ``resources/`` beside the packages (a checkout run uninstalled)."""
    override = os.environ.get(RESOURCES_ENV)
    if override:
        return Path(override)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    try:
        installed = importlib.resources.files(RESOURCES_PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "resources"
    # wheels install it as plain files, so the traversable is a real folder
    return Path(str(installed))


def user_data_dir() -> Path:
    """Per-user data directory (workspaces, settings); created on first use."""
    override = os.environ.get(DATA_DIR_ENV)
    path = (
        Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HydroDiagError(
            f"cannot use {path} as HydroDiag's data folder ({exc.strerror or exc}). Point "
            f"${DATA_DIR_ENV} at a folder you can write to, or name a workspace file with "
            "--workspace."
        ) from None
    return path


def default_workspace_path() -> Path:
    """``--workspace`` beats ``$HYDRODIAG_WORKSPACE`` beats ``<user data dir>/workspace.duckdb``."""
    override = os.environ.get(WORKSPACE_ENV)
    if override:
        return Path(override)
    return user_data_dir() / "workspace.duckdb"


def demo_workspace_path() -> Path:
    return user_data_dir() / "demo.duckdb"
