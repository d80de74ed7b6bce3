"""Crash consistency in the gate: every writer (ingest, a live recording, diagnose, report)
killed with SIGKILL at random points of its run, and the workspace checked after each kill
(tests/crash_harness.py). `tests/benchmarks/bench_crash.py` does the same 50 times per writer."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash_harness import crash_test, writers

KILLS = 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ingest", "live recording", "diagnose", "report"])
def test_killed_writer_leaves_a_consistent_workspace(name: str, tmp_path: Path) -> None:
    result = crash_test(writers(small=True)[name], tmp_path, KILLS, random.Random(name))
    assert result.kills == KILLS
    assert result.inconsistent == 0, result.problems
