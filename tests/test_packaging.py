"""A real install: the wheel built from the checkout carries code and shipped data, and runs from
any folder, without the checkout beside it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest
from setuptools import find_packages

from tests.conftest import REPO

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
