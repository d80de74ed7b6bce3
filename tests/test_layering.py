"""DESIGN.md's layering, enforced: ingestion has no Qt/torch, inference no torch, app starts torch-free."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "gnn", "ingestion", "training")
# Modules of gnn allowed to import torch: the model definition only.
GNN_TORCH_MODULES = {"gnn/model.py", "gnn/layers.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("ingestion"), ids=lambda p: p.name)
def test_ingestion_imports_neither_qt_nor_torch(path: Path) -> None:
    forbidden = _imports(path) & {"PySide6", "pyqtgraph", "torch", "torch_geometric", "app"}
    assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"


@pytest.mark.parametrize("path", _modules("gnn"), ids=lambda p: p.name)
def test_gnn_inference_is_torch_free(path: Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    found = _imports(path)
    assert "app" not in found and "PySide6" not in found
    if rel not in GNN_TORCH_MODULES:
        assert not found & {"torch", "torch_geometric"}, f"{rel} imports torch"


@pytest.mark.parametrize("package", ["gnn", "ingestion", "training"])
def test_nothing_imports_app(package: str) -> None:
    for path in _modules(package):
        assert "app" not in _imports(path), f"{path.relative_to(REPO)} imports app"


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO
    )
    return {name.split(".")[0] for name in out.stdout.split()}


def test_app_entry_module_does_not_pull_in_torch() -> None:
    loaded = _loaded_after("import app.cli; app.cli.build_parser()")
    assert "torch" not in loaded


def test_ingestion_package_loads_without_qt_or_torch() -> None:
    modules = " ".join(
        # dotted path, so that subpackages (ingestion/modbus/) are imported too
        f"import {'.'.join(p.relative_to(REPO).with_suffix('').parts)};"
        for p in _modules("ingestion")
        if p.stem != "__init__"
    )
    loaded = _loaded_after(modules.rstrip(";"))
    assert not loaded & {"torch", "PySide6"}
