"""pyqtgraph set-up shared by the plot views (imported lazily: pyqtgraph pulls numpy+Qt)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyqtgraph as pg

_configured = False


def configure() -> None:
    """Light background, antialiasing off for speed on long series (on for short ones per item)."""
    global _configured
    if _configured:
        return
    pg.setConfigOptions(background="w", foreground="#1f2933", antialias=False, useNumba=False)
    _configured = True


def utc_axis() -> pg.DateAxisItem:
    """A time axis in UTC (the workspace stores naive UTC), not the machine's local time."""
    return pg.DateAxisItem(orientation="bottom", utcOffset=0)


def to_epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
