"""The one helper that runs Qt-free work off the GUI thread.

A work function takes a :class:`TaskContext` (call it with ``(fraction, message)`` to report
progress; it raises :class:`ingestion.progress.CancelledError` once the user cancelled) and returns a result.
:class:`TaskRunner` connects the caller's handlers *before* starting the task, delivers them on
the GUI thread, cancels a task superseded by a newer one with the same key, and lets the window
cancel and wait for everything when it closes. Workers never touch widgets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ingestion.errors import HydroDiagError
from ingestion.progress import CancelledError

log = logging.getLogger(__name__)


class TaskContext:
    """Progress and cancellation as a work function sees them (no Qt in its interface).

    It is also an ``ingestion.progress.Progress`` (``cancelled``, ``start``, ``update``,
    ``finish``), so the ingestion and diagnosis functions can be handed it directly.
    """

    def __init__(self, emit: Callable[[float, str], None]) -> None:
        self._emit = emit
        self._cancel = threading.Event()
        self._task = ""
        self._unit = "rows"
        self._total: int | None = None
        self._last_emit = 0.0

    # -- ingestion.progress.Progress --------------------------------------------------

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None:
        self._task, self._total, self._unit = task, total, unit
        self._emit(0.0 if total else -1.0, task)

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self._total = total
        now = time.monotonic()
        if now - self._last_emit < 0.05:  # a few updates per frame are plenty
            return
        self._last_emit = now
        if self._total:
            self._emit(
                min(1.0, done / self._total), f"{self._task}: {done:,}/{self._total:,} {self._unit}"
            )
        else:
            self._emit(-1.0, f"{self._task}: {done:,} {self._unit}")

    def finish(self) -> None:
        self._emit(1.0, self._task)

    def __call__(self, fraction: float, message: str = "") -> None:
        self.report(fraction, message)

    # -- plain callback style ---------------------------------------------------------

    def report(self, fraction: float, message: str = "") -> None:
        """``fraction`` in [0, 1], or negative for "busy, no estimate"."""
        self.check()
        self._emit(float(fraction), message)

    def check(self) -> None:
        """Raise :class:`ingestion.progress.CancelledError` if the user cancelled; call it between steps."""
        if self._cancel.is_set():
            raise CancelledError("cancelled by the user; nothing was written.")

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()


class _TaskSignals(QObject):
    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()


class Task(QRunnable):
    """One run of a work function on the thread pool."""

    def __init__(
        self,
        fn: Callable[[TaskContext], Any],
        name: str,
        *,
        writes: bool = True,
        quiet: bool = False,
    ) -> None:
        super().__init__()
        self.writes = writes  # False: a read that can be dropped without asking anyone
        self.quiet = quiet  # True: background upkeep the user did not ask for (no busy bar)
        self.setAutoDelete(False)  # the runner holds it until ``finished`` arrived
        self.name = name
        self.signals = _TaskSignals()
        self.context = TaskContext(self.signals.progressed.emit)
        self._fn = fn
        self._done = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except RuntimeError:  # the signals' owner is gone (the app is quitting): nobody to tell
            self._done.set()

    def _run(self) -> None:
        try:
            result = self._fn(self.context)
        except CancelledError:
            self.signals.cancelled.emit()
        except BaseException as exc:  # delivered to the GUI as an error dialog, not lost
            if self.context.cancelled:
                self.signals.cancelled.emit()
            else:
                if not isinstance(exc, HydroDiagError):
                    log.exception("task %r failed", self.name)
                self.signals.failed.emit(exc)
        else:
            # Finished work is reported as done even if a cancel arrived too late to stop it:
            # it was committed, and saying "cancelled" would hide data that is there.
            self.signals.succeeded.emit(result)
        finally:
            # Emitted before ``done``: whoever waits for this task (a closing window) must not
            # go on to delete what the emission still uses.
            self.signals.finished.emit()
            self._done.set()

    def cancel(self) -> None:
        self.context.cancel()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._done.wait(timeout_s)

    @property
    def done(self) -> bool:
        return self._done.is_set()


# Finished tasks are kept a while before Python may delete them: their pool thread can still be
# in the C++ end of ``run()`` (having let go of the GIL) when the GUI thread hears "finished",
# and a task deleted then was the window teardown crash of issue 22.
_RETIRED: list[tuple[float, Task]] = []
RETIRE_AFTER_S = 5.0


def _retire(task: Task) -> None:
    now = time.monotonic()
    _RETIRED.append((now, task))
    while _RETIRED and now - _RETIRED[0][0] > RETIRE_AFTER_S and _RETIRED[0][1].done:
        _RETIRED.pop(0)


@dataclass(frozen=True)
class _Handlers:
    on_result: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    on_progress: Callable[[float, str], None] | None
    on_cancelled: Callable[[], None] | None
    on_finished: Callable[[], None] | None


class TaskRunner(QObject):
    """Starts tasks with their handlers connected first; tracks them for cancel and shutdown.

    A task's signals reach the caller's handlers through this runner's own slots, so when the
    runner goes (with the window or dialog that owns it) Qt drops whatever a finishing task
    still had queued: no handler ever runs on widgets that were deleted meanwhile.
    """

    activeChanged = Signal(int)  # number of tasks still running

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._tasks: dict[str, Task] = {}
        self._handlers: dict[int, _Handlers] = {}  # id(task.signals) -> the caller's handlers
        self._serial = 0

    def start(
        self,
        fn: Callable[[TaskContext], Any],
        *,
        name: str,
        key: str | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        writes: bool = True,
        quiet: bool = False,
    ) -> Task:
        """Run ``fn`` off the GUI thread. A running task with the same ``key`` is cancelled."""
        self._serial += 1
        if key is not None and key in self._tasks:
            old = self._tasks.pop(key)
            old.cancel()
            # Still tracked (under another name) until it has wound down: close waits for it.
            self._tasks[f"{key}#superseded{self._serial}"] = old
        slot = key if key is not None else f"{name}#{self._serial}"
        task = Task(fn, name, writes=writes, quiet=quiet)
        self._handlers[id(task.signals)] = _Handlers(
            on_result, on_error, on_progress, on_cancelled, on_finished
        )
        # Bound slots (not the handlers themselves), so Qt drops the connections if this
        # runner is deleted before a late signal arrives (a window closed while a task wound
        # down); the slots pass each signal on to the caller's handler.
        task.signals.succeeded.connect(self._on_task_succeeded)
        task.signals.failed.connect(self._on_task_failed)
        task.signals.progressed.connect(self._on_task_progressed)
        task.signals.cancelled.connect(self._on_task_cancelled)
        task.signals.finished.connect(self._on_task_finished)
        self._tasks[slot] = task
        self._pool.start(task)
        self.activeChanged.emit(self.active_count)
        return task

    def _handlers_of_sender(self) -> _Handlers | None:
        return self._handlers.get(id(self.sender()))

    def _on_task_succeeded(self, result: object) -> None:
        h = self._handlers_of_sender()
        if h is not None and h.on_result is not None:
            h.on_result(result)

    def _on_task_failed(self, exc: object) -> None:
        h = self._handlers_of_sender()
        if h is not None and h.on_error is not None and isinstance(exc, BaseException):
            h.on_error(exc)

    def _on_task_progressed(self, fraction: float, message: str) -> None:
        h = self._handlers_of_sender()
        if h is not None and h.on_progress is not None:
            h.on_progress(fraction, message)

    def _on_task_cancelled(self) -> None:
        h = self._handlers_of_sender()
        if h is not None and h.on_cancelled is not None:
            h.on_cancelled()

    def _on_task_finished(self) -> None:
        sender = self.sender()
        h = self._handlers.pop(id(sender), None)
        for slot, task in list(self._tasks.items()):
            if task.signals is sender:
                del self._tasks[slot]
                _retire(task)
        if h is not None and h.on_finished is not None:
            h.on_finished()
        self.activeChanged.emit(self.active_count)

    @property
    def active_count(self) -> int:
        """Tasks whose ``finished`` the GUI thread has not handled yet (so their result,
        error or cancel handlers may still be pending)."""
        return len(self._tasks)

    @property
    def busy_count(self) -> int:
        """Tasks the user is waiting for (not the quiet ones: checks, warm-ups)."""
        return sum(1 for t in self._tasks.values() if not t.quiet)

    def running(self) -> list[Task]:
        return [t for t in self._tasks.values() if not t.done]

    def cancel(self, key: str) -> None:
        task = self._tasks.get(key)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    def wait_all(self, timeout_s: float = 30.0) -> bool:
        """Block until every task has returned (after a cancel they roll back and return)."""
        ok = True
        for task in list(self._tasks.values()):
            ok = task.wait(timeout_s) and ok
        return ok
