#!/usr/bin/env python3
"""Set up a virtual environment for HydroDiag and run it: ``python3 dev.py demo`` or ``python3 dev.py test``.

Needs only Python 3.11+. The environment lives in ``.venv`` next to this file and is reused;
it is reinstalled when pyproject.toml or constraints.txt changed since the last setup.

    python3 dev.py demo            set up, build the demo workspace and open it in the app
    python3 dev.py app [ARGS]      set up and run `hydrodiag ARGS`
    python3 dev.py test [ARGS]     the gate: ruff, format, mypy, lint-imports, pytest ARGS, then
                                   the desktop bundle built and smoke-tested (--no-bundle: not)
    python3 dev.py bundle          build dist/HydroDiag (PyInstaller, inference only) and
                                   smoke-test it (packaging/smoke_test.py)
    python3 dev.py setup           only set up .venv
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".hydrodiag-setup"
# The bundle is built from its own environment: only what the app needs at run time, with the
# CPU build of ONNX Runtime (the CUDA build's provider library alone is ~280 MB; docs/packaging.md).
BUNDLE_VENV = ROOT / ".venv-bundle"
BUNDLE_BIN = BUNDLE_VENV / ("Scripts" if os.name == "nt" else "bin")
BUNDLE_PYTHON = BUNDLE_BIN / ("python.exe" if os.name == "nt" else "python")
BUNDLE_STAMP = BUNDLE_VENV / ".hydrodiag-setup"
DIST = ROOT / "dist"


def _setup_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT)


def _create_venv(path: Path, python: Path) -> None:
    if not python.exists():
        print(f"Creating a virtual environment in {path}", flush=True)
        venv.EnvBuilder(with_pip=True).create(path)


def setup() -> None:
    """Create ``.venv`` and install the project with its training and test extras."""
    fingerprint = _setup_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    _create_venv(VENV, PYTHON)
    pip = (PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q")
    # torch first and pinned: an open range would pull a multi-GB CUDA build on machines
    # that only have the CPU wheel locally (see constraints.txt).
    _run(*pip, "-c", "constraints.txt", "torch==2.13.0")
    _run(*pip, "-c", "constraints.txt", "-e", ".[train,dev]")
    STAMP.write_text(fingerprint)


def bundle_requirements() -> list[str]:
    """The app's run-time dependencies for this OS, with the CPU build of ONNX Runtime, plus
    PyInstaller (pyproject.toml's ``package`` extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = ["onnxruntime>=1.18,<2"]  # the CPU build on every OS
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!;\[ ]", requirement, maxsplit=1)[0]
        if name not in {"onnxruntime", "onnxruntime-gpu"}:
            out.append(requirement)
    return [*out, *project["optional-dependencies"]["package"]]


def setup_bundle() -> None:
    fingerprint = _setup_fingerprint()
    if BUNDLE_STAMP.exists() and BUNDLE_STAMP.read_text() == fingerprint:
        return
    _create_venv(BUNDLE_VENV, BUNDLE_PYTHON)
    pip = (BUNDLE_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q")
    _run(*pip, "-c", "constraints.txt", *bundle_requirements())
    BUNDLE_STAMP.write_text(fingerprint)


def bundle() -> int:
    """Build ``dist/HydroDiag`` for this OS and smoke-test the result."""
    setup_bundle()
    started = time.perf_counter()
    shutil.rmtree(DIST / "HydroDiag", ignore_errors=True)
    _run(
        BUNDLE_PYTHON, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", DIST, "--workpath", ROOT / "build" / "pyinstaller",
        ROOT / "packaging" / "hydrodiag.spec",
    )  # fmt: skip
    seconds = time.perf_counter() - started
    print(f"built {DIST / 'HydroDiag'} in {seconds:.0f} s; smoke test:", flush=True)
    return subprocess.call(
        [str(PYTHON), str(ROOT / "packaging" / "smoke_test.py"), str(DIST / "HydroDiag"),
         "--build-seconds", f"{seconds:.1f}"],
        cwd=ROOT,
    )  # fmt: skip


def test(extra: list[str]) -> int:
    with_bundle = "--no-bundle" not in extra
    extra = [a for a in extra if a != "--no-bundle"]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for step in (
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy")],
        [str(BIN / "lint-imports")],  # the layering contracts in pyproject.toml
        [str(PYTHON), "-m", "pytest", *extra],
    ):
        print("+", " ".join(step), flush=True)
        code = subprocess.call(step, cwd=ROOT, env=env)
        if code != 0:
            return code
    # Packaging cannot rot unseen: the bundle is built and run as a user would run it.
    return bundle() if with_bundle else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup", "app", "bundle"}:
        print("usage: python3 dev.py demo|app|test|bundle|setup [extra args]", file=sys.stderr)
        return 2
    command, extra = argv[0], argv[1:]
    setup()
    if command == "setup":
        return 0
    if command == "demo":
        return subprocess.call([str(BIN / "hydrodiag"), "demo", *extra], cwd=ROOT)
    if command == "app":
        return subprocess.call([str(BIN / "hydrodiag"), *extra], cwd=ROOT)
    if command == "bundle":
        return bundle()
    return test(extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
