"""How the report words times and durations (plain text); trends and the time to a threshold are
worded by :mod:`gnn.wording`, the same as in the app and on the command line."""

from __future__ import annotations

from datetime import datetime

from gnn.wording import threshold_text, trend_text

__all__ = ["duration_text", "threshold_text", "time_text", "trend_text"]


def time_text(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) if value is not None else "—"


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
