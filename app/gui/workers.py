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
            self._done.set()
            self.signals.finished.emit()

    def cancel(self) -> None:
        self.context.cancel()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._done.wait(timeout_s)

    @property
    def done(self) -> bool:
        return self._done.is_set()


class TaskRunner(QObject):
    """Starts tasks with their handlers connected first; tracks them for cancel and shutdown."""

    activeChanged = Signal(int)  # number of tasks still running

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._tasks: dict[str, Task] = {}
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
        if on_result is not None:
            task.signals.succeeded.connect(on_result)
        if on_error is not None:
            task.signals.failed.connect(on_error)
        if on_progress is not None:
            task.signals.progressed.connect(on_progress)
        if on_cancelled is not None:
            task.signals.cancelled.connect(on_cancelled)
        if on_finished is not None:
            task.signals.finished.connect(on_finished)
        # A bound slot (not a lambda), so Qt drops the connection if this runner is deleted
        # before a late ``finished`` arrives (a window closed while a task wound down).
        task.signals.finished.connect(self._on_task_finished)
        self._tasks[slot] = task
        self._pool.start(task)
        self.activeChanged.emit(self.active_count)
        return task

    def _on_task_finished(self) -> None:
        sender = self.sender()
        for slot, task in list(self._tasks.items()):
            if task.signals is sender:
                del self._tasks[slot]
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
