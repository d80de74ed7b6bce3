"""Times as the app shows them: the computer's local time with its zone named, or UTC (a
setting). The workspace stores naive UTC; only the display converts. Qt-free.

The main window sets the choice once from the settings (:func:`set_zone`); views call
:func:`when` / :func:`zone_name` / :func:`offset_seconds` so every time on screen follows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

Choice = Literal["local", "UTC"]

_choice: Choice = "local"


def set_zone(choice: Choice) -> None:
    """Show times in the computer's zone (``local``) or in ``UTC``."""
    global _choice
    _choice = choice


def zone() -> Choice:
    return _choice


def _local(value: datetime) -> datetime:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware if _choice == "UTC" else aware.astimezone()


def shown(value: datetime) -> datetime:
    """A stored (naive UTC) time in the shown zone (aware)."""
    return _local(value)


def zone_name(at: datetime | None = None) -> str:
    """The shown zone's name at ``at`` (default now): ``UTC``, ``CET``, or ``UTC+05:30``."""
    shown = _local(at or datetime.now(UTC))
    name = shown.strftime("%Z")
    if name and name[0] not in "+-":
        return name
    offset = shown.utcoffset() or timedelta(0)
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def local_zone_name() -> str:
    """The computer's own zone name now, whatever is chosen for display."""
    return datetime.now(UTC).astimezone().strftime("%Z") or "local"


def offset_seconds(at: datetime | None = None) -> float:
    """Seconds the shown zone is ahead of UTC at ``at`` (default now); for plot time axes."""
    shown = _local(at or datetime.now(UTC))
    offset = shown.utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def shown_tz() -> tzinfo:
    """The zone times are shown in (a fixed offset for ``local``: the computer's now)."""
    tz = _local(datetime.now(UTC)).tzinfo
    return tz if tz is not None else UTC


def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", *, zone_label: bool = True) -> str:
    """A stored (naive UTC) time as shown: ``2026-11-30 10:00 CET``; ``—`` for None."""
    if value is None:
        return "—"
    shown = _local(value)
    text = shown.strftime(fmt)
    return f"{text} {zone_name(value)}" if zone_label else text


def span(start: datetime, end: datetime) -> str:
    """``2026-11-30 05:00 – 09:00 CET`` (the date once when both are on the same day)."""
    a, b = _local(start), _local(end)
    second = "%H:%M" if a.date() == b.date() else "%Y-%m-%d %H:%M"
    return f"{a:%Y-%m-%d %H:%M} – {b.strftime(second)} {zone_name(end)}"
