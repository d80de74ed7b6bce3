"""The task runner: results, errors and cancels arrive on the GUI thread; supersede by key."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QThread

from app.gui.workers import TaskContext, TaskRunner
from ingestion.errors import HydroDiagError

pytestmark = pytest.mark.gui


def test_result_and_progress_delivered_on_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner()
    seen: dict[str, object] = {}
    gui_thread = QThread.currentThread()

    def work(ctx: TaskContext) -> int:
        seen["worker"] = threading.get_ident()
        ctx.report(0.5, "half")
        return 42

    def on_result(value: object) -> None:
        seen["result"] = value
        seen["result_on_gui"] = QThread.currentThread() is gui_thread

    progress: list[tuple[float, str]] = []
    runner.start(
        work, name="t", on_result=on_result, on_progress=lambda f, m: progress.append((f, m))
    )
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=5000)
    assert seen["result"] == 42 and seen["result_on_gui"] is True
    assert seen["worker"] != threading.get_ident()
    assert progress == [(0.5, "half")]


def test_errors_arrive_as_exceptions_not_tracebacks(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner()
    errors: list[BaseException] = []

    def work(ctx: TaskContext) -> None:
        raise HydroDiagError("file x.csv, line 3: not a number")

    runner.start(
        work, name="t", on_error=errors.append, on_result=lambda _r: errors.append(AssertionError())
    )
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=5000)
    assert len(errors) == 1 and str(errors[0]) == "file x.csv, line 3: not a number"


def test_cancel_and_supersede(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner()
    started = threading.Event()
    events: list[str] = []

    def slow(ctx: TaskContext) -> str:
        started.set()
        for _ in range(500):
            ctx.check()
            time.sleep(0.01)
        return "slow"

    runner.start(
        slow,
        name="slow",
        key="series",
        on_result=events.append,
        on_cancelled=lambda: events.append("cancelled"),
    )
    assert started.wait(5)
    # A newer request with the same key cancels the older one.
    runner.start(lambda ctx: "fast", name="fast", key="series", on_result=events.append)
    qtbot.waitUntil(lambda: runner.active_count == 0, timeout=10000)
    assert sorted(events) == ["cancelled", "fast"]
    # Progress-protocol style (ingestion's Progress): cancelled flag and update/finish.
    ctx = TaskContext(lambda f, m: events.append(f"{f:.1f} {m}"))
    ctx.start("reading", 10)
    ctx.update(5)
    ctx.cancel()
    assert ctx.cancelled
    with pytest.raises(HydroDiagError):
        ctx.check()
