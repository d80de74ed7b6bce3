"""Helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ingestion.resources import default_workspace_path
from ingestion.store import Store, open_workspace


def workspace_path(args: argparse.Namespace) -> Path:
    path: Path | None = getattr(args, "workspace", None)
    return path if path is not None else default_workspace_path()


def open_store(args: argparse.Namespace, *, read_only: bool = False) -> Store:
    return open_workspace(workspace_path(args), read_only=read_only)
