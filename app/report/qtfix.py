"""Work around a PySide6 6.12 reference-count bug on Python 3.11 that crashes the process.

PySide6 6.12.0 returns ``None`` from C++ ``void`` methods (``QPainter.save``,
``QPainterPath.lineTo``, ...) without taking a new reference. On Python >= 3.12 ``None`` is
immortal and nothing happens; on 3.11 every such call lowers ``None``'s reference count by one,
and after a few thousand calls (one report draws tens of thousands) the interpreter aborts with
"Fatal Python error: none_dealloc". Measured here: ``sys.getrefcount(None)`` drops by exactly 1
per ``QPainterPath.moveTo`` call.

The fix detects the bug at run time and, only then, gives ``None`` the effectively infinite
reference count that Python 3.12 gives it by design. Remove this module once PySide6 is fixed
or the app requires Python 3.12.
"""

from __future__ import annotations

import ctypes
import sys

_applied = False


def none_refcount_leaks() -> bool:
    """True when a PySide6 void call lowers ``None``'s reference count (the bug is present)."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtGui import QPainterPath

    path = QPainterPath()
    calls = 16
    before = sys.getrefcount(None)
    for _ in range(calls):
        path.moveTo(0.0, 0.0)
    return before - sys.getrefcount(None) >= calls


def guard_none_refcount() -> bool:
    """Apply the fix once if the bug is present; returns whether it is (now) applied."""
    global _applied
    if _applied:
        return True
    if not none_refcount_leaks():
        return False
    # ob_refcnt is the first field of every CPython object; 2**40 releases cannot happen.
    refcount = ctypes.c_ssize_t.from_address(id(None))
    refcount.value += 1 << 40
    _applied = True
    return True
