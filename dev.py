#!/usr/bin/env python3
"""Set up a virtual environment for HydroDiag and run it: ``python3 dev.py demo`` or ``python3 dev.py test``.

Needs only Python 3.11+. The environment lives in ``.venv`` next to this file and is reused;
it is reinstalled when pyproject.toml or constraints.txt changed since the last setup.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".hydrodiag-setup"


def _setup_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT)


def setup() -> None:
    """Create ``.venv`` and install the project with its training and test extras."""
    fingerprint = _setup_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = (PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q")
    # torch first and pinned: an open range would pull a multi-GB CUDA build on machines
    # that only have the CPU wheel locally (see constraints.txt).
    _run(*pip, "-c", "constraints.txt", "torch==2.13.0")
    _run(*pip, "-c", "constraints.txt", "-e", ".[train,dev]")
    STAMP.write_text(fingerprint)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup", "app"}:
        print("usage: python3 dev.py demo|app|test|setup [extra args]", file=sys.stderr)
        return 2
    command, extra = argv[0], argv[1:]
    setup()
    if command == "setup":
        return 0
    if command == "demo":
        return subprocess.call([str(BIN / "hydrodiag"), "demo", *extra], cwd=ROOT)
    if command == "app":
        return subprocess.call([str(BIN / "hydrodiag"), *extra], cwd=ROOT)
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
