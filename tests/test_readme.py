"""The README's commands run as written from a fresh clone.

Every `hydrodiag …` line of the README's "What you can do" block is run in order, in a
temporary folder holding the clone's `examples/` and `data/`, against one temporary workspace.
Optional parts written in brackets (`[--json]`, `[--cycles A:B | --last 2h]`) are left out, so
the command runs in its plainest form. Lines that cannot run in a test (the desktop app, a feed
that records until Ctrl-C, minutes of training) are named in `NOT_RUN` with the test that covers
them instead; any other line must exit 0 without a traceback.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# command prefix -> why this test does not run it (and where it is tested instead)
NOT_RUN: dict[str, str] = {
    "hydrodiag": "opens the desktop app (tests/app/gui)",
    "hydrodiag demo": "opens the desktop app unless --no-gui (tests/app/cli/test_demo.py)",
    "hydrodiag live": "records until Ctrl-C (tests/ingestion/test_live_*.py, tests/app/gui/test_live.py)",
    "hydrodiag simulate --modbus-tcp": "serves until Ctrl-C (tests/ingestion/test_modbus*.py)",
    "hydrodiag train": "minutes of training (tests/training)",
    "torchrun": "several training processes (tests/training/test_distributed.py)",
    "hydrodiag export-onnx": "needs a trained checkpoint (tests/training/test_export.py)",
    "hydrodiag evaluate cv": "minutes of cross-validated training (tests/training)",
    "hydrodiag evaluate merge": "needs two cross-validation runs (tests/training)",
    "hydrodiag model rollback": "needs an earlier activation: the README's one model has none "
    "(tests/gnn/test_registry.py, tests/app/cli/test_model_cli.py)",
}


def readme_commands() -> list[list[str]]:
    """The command lines of the README's "What you can do" block as argument lists, without
    their comments and their optional parts in brackets."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## What you can do", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        if not line.startswith(("hydrodiag", "torchrun")):
            continue
        argv, depth = [], 0
        for token in shlex.split(line, comments=True):
            opened = depth > 0 or token.startswith("[")
            depth += token.count("[") - token.count("]")
            if not opened:
                argv.append(token)
        commands.append(argv)
    return commands


def _not_run(argv: list[str]) -> str | None:
    command = shlex.join(argv)
    for prefix in sorted(NOT_RUN, key=len, reverse=True):
        if command == prefix or (prefix != "hydrodiag" and command.startswith(prefix + " ")):
            return NOT_RUN[prefix]
    return None


def test_the_block_is_found_and_every_exception_is_used() -> None:
    commands = [shlex.join(argv) for argv in readme_commands()]
    assert len(commands) > 20
    used = {p for p in NOT_RUN for c in commands if c == p or c.startswith(p + " ")}
    assert used == set(NOT_RUN), (
        f"NOT_RUN names commands the README no longer has: {set(NOT_RUN) - used}"
    )


@pytest.mark.slow
def test_readme_commands_run_from_a_fresh_clone(tmp_path: Path) -> None:
    for folder in ("examples", "data"):
        (tmp_path / folder).symlink_to(REPO / folder, target_is_directory=True)
    env = {
        **os.environ,
        "HYDRODIAG_WORKSPACE": str(tmp_path / "workspace.duckdb"),
        "HYDRODIAG_DATA_DIR": str(tmp_path / "user-data"),
        "PYTHONPATH": str(REPO),
    }
    ran = []
    for argv in readme_commands():
        if _not_run(argv):
            continue
        command = shlex.join(argv)
        run = subprocess.run(
            [sys.executable, "-m", "app.cli", *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0 and "Traceback" not in run.stderr, (
            f"README command failed: {command}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        )
        ran.append(command)
    assert (tmp_path / "report.pdf").stat().st_size > 10_000
    assert len(ran) >= 12, ran
