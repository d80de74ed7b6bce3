"""The fuzz suite: Hypothesis settings and the count of generated cases.

``HYDRODIAG_FUZZ_SCALE`` multiplies every test's number of examples (default 1: about 2,200
cases in CI; 10 for a long local run). The count of cases that actually ran and the time
they took are printed at the end of the run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("HYDRODIAG_FUZZ_SCALE", "1"))
CASES: Counter[str] = Counter()
SPENT: list[float] = []


def examples(n: int) -> Any:
    """Settings for a fuzz test of ``n`` examples (times the scale)."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
        print_blob=True,
    )


def count(kind: str) -> None:
    CASES[kind] += 1


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Time spent in the fuzz tests themselves (set-up, call, tear-down), not the whole run."""
    if "tests/fuzz/" in report.nodeid.replace("\\", "/"):
        SPENT.append(report.duration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CASES:
        parts = ", ".join(f"{k} {n}" for k, n in sorted(CASES.items()))
        terminalreporter.write_line(
            f"fuzz: {sum(CASES.values())} generated cases ({parts}) in {sum(SPENT):.1f} s "
            f"of fuzz tests ({time.process_time():.0f} s CPU of this pytest process)"
        )
