"""A real install: the wheel built from the checkout carries code and shipped data, and runs from
any folder, without the checkout beside it."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path
from typing import Any

import pytest
from setuptools import find_packages

from tests.data import REPO

ROOTS = ["app*", "gnn*", "ingestion*", "training*"]


def test_listed_packages_are_the_packages_in_the_checkout() -> None:
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = find_packages(str(REPO), include=ROOTS)
    assert sorted(listed) == sorted([*found, "hydrodiag_resources", "hydrodiag_docs"]), (
        "pyproject.toml [tool.setuptools] packages must list every package (a new subpackage "
        "left out would be missing from the wheel)"
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment holding the wheel (not editable); the dependencies are borrowed from
    the test environment through a .pth line, which does not run its editable-install hook."""
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, cwd=root,
    )  # fmt: skip
    env_dir = root / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("hydrodiag-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    return python


def _hydrodiag(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRODIAG_")}
    env["HYDRODIAG_DATA_DIR"] = str(cwd / "data")
    return subprocess.run(
        [str(python), "-c", "import sys; from app.cli import main; sys.exit(main())", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_wheel_runs_from_another_folder(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [str(installed), "-c",
         "import app, ingestion.resources as r, app.core.help as h; print(app.__file__); "
         "print(r.resources_dir()); print(h.docs_dir()); print(len(h.help_pages()))"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    ).stdout.split("\n")  # fmt: skip
    assert str(REPO) not in probe[0] and str(REPO) not in probe[1], probe
    assert str(REPO) not in probe[2] and int(probe[3]) >= 5, probe  # the guide, for Help (F1)

    listed = _hydrodiag(installed, "profile", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "zema-test-rig" in listed.stdout

    demo = _hydrodiag(installed, "demo", "--no-gui", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "critical" in demo.stdout  # the demo's accumulator fades through to critical

    workspace = tmp_path / "data" / "demo.duckdb"
    diagnosis = _hydrodiag(
        installed, "--workspace", str(workspace), "diagnose", "--equipment", "demo-rig",
        "--last", "30min", cwd=tmp_path,
    )  # fmt: skip
    assert diagnosis.returncode == 0, diagnosis.stderr
    assert "zema-rig-gatv2-lstm" in diagnosis.stdout


# Everything a bundle user does, in one process: the sample workspace (the engine and the
# shipped model), the main window with every tab, a PDF report, a CSV import.
_EXERCISE = r"""
import sys, tempfile
from pathlib import Path
from typing import Any
tmp = Path(tempfile.mkdtemp())
from app.commands.gui import _application
app = _application()
from app.core.sample import build_sample_workspace
sample = build_sample_workspace(tmp / "sample.duckdb")
from app.gui.main_window import MainWindow
window = MainWindow(workspace=sample.path, equipment_id=sample.equipment_id)
window.show()
for index in range(window.tabs.count()):
    window.tabs.setCurrentIndex(index)
    app.processEvents()
window.grab()
window.close()
from app.cli import main
code = main(["--workspace", str(sample.path), "report", "--equipment", sample.equipment_id,
             "--latest", "--out", str(tmp / "r.pdf")])
assert code == 0
assert main(["simulate", "--duration", "5m", "--out", str(tmp / "log.csv")]) == 0
assert main(["--workspace", str(tmp / "ws.duckdb"), "ingest", "csv", str(tmp / "log.csv"),
             "--equipment", "rig", "--profile", "zema-test-rig"]) == 0
print("MODULES " + " ".join(sorted(sys.modules)))
"""


def _bundle_contents() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bundle_contents", REPO / "packaging" / "bundle_contents.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# As in the bundle: the excluded modules cannot be imported (optional imports fall back).
_BLOCK = r"""
import importlib.abc, sys
EXCLUDED = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in EXCLUDED or name.split(".")[0] in EXCLUDED:
            raise ModuleNotFoundError(f"No module named {name!r} (left out of the bundle)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


@pytest.mark.slow
def test_the_app_works_without_what_the_bundle_leaves_out(tmp_path: Path) -> None:
    contents = _bundle_contents()
    out = subprocess.run(
        [sys.executable, "-c", _BLOCK + _EXERCISE, ",".join(contents.EXCLUDED_MODULES)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "HYDRODIAG_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("MODULES "))
    qt_loaded = {m for m in line.split()[1:] if m.startswith("PySide6.Qt")}
    assert qt_loaded == {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"}, qt_loaded


def test_our_code_imports_no_qt_module_the_bundle_leaves_out() -> None:
    contents = _bundle_contents()
    excluded = set(contents.EXCLUDED_QT_MODULES)
    used: set[str] = set()
    for path in (REPO / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "PySide6":
                used.update(f"PySide6.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("PySide6."):
                used.add(".".join(node.module.split(".")[:2]))  # type: ignore[union-attr]
            elif isinstance(node, ast.Import):
                used.update(
                    ".".join(a.name.split(".")[:2])
                    for a in node.names
                    if a.name.startswith("PySide6.")
                )
    assert used >= {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"}
    assert not used & excluded, f"left out of the bundle but imported: {sorted(used & excluded)}"
    # the list names real Qt modules (a misspelt name would leave nothing out)
    import PySide6

    shipped = {p.name.split(".")[0] for p in Path(PySide6.__file__).parent.glob("Qt*.*")}
    assert {m.split(".")[1] for m in excluded} & shipped


def test_training_commands_say_what_to_install_without_torch(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None; from app.cli import main; "
        "sys.exit(main(['train', '--uci', 'nowhere', '--out', 'runs/x']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "HYDRODIAG_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "pip install 'hydrodiag[train]'" in out.stderr
