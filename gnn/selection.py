"""What to diagnose: a :class:`Selection` of an equipment's data (cycles, a time range, the
last duration, or everything), the parsers of its CLI spellings, and the engine's error type."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, model_validator

from ingestion.errors import HydroDiagError


class EngineError(HydroDiagError):
    """A diagnosis cannot be made as asked (no data in the range, bad selection, ...)."""


class Selection(BaseModel):
    """Which windows to diagnose: cycles A..B, a time range, the last duration, or everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cycles: tuple[int, int] | None = None
    start: datetime | None = None
    end: datetime | None = None
    last: timedelta | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Selection:
        kinds = [self.cycles is not None, self.start is not None or self.end is not None]
        kinds.append(self.last is not None)
        if sum(kinds) > 1:
            raise ValueError("choose one of: cycles, a from/to range, or the last duration")
        if self.cycles is not None and self.cycles[0] > self.cycles[1]:
            raise ValueError(f"cycles {self.cycles[0]}:{self.cycles[1]}: first is after last")
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"from {self.start} is not before to {self.end}")
        if self.last is not None and self.last <= timedelta(0):
            raise ValueError("the last duration must be positive")
        return self

    def describe(self) -> str:
        if self.cycles is not None:
            return f"cycles {self.cycles[0]}-{self.cycles[1]}"
        if self.last is not None:
            return f"last {_fmt_duration(self.last)}"
        if self.start is not None or self.end is not None:
            return f"from {self.start or 'the beginning'} to {self.end or 'the end'}"
        return "all data"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'90s', '15min', '2h', '3d', '1w' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise EngineError(
            f"--last {text!r}: not a duration; write a number and a unit, e.g. 90s, 15min, 2h, 3d"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_cycles(text: str) -> tuple[int, int]:
    """'A:B' (inclusive) or 'A' -> (A, B)."""
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return int(parts[0]), int(parts[0])
        if len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
            if first > last:
                raise ValueError
            return first, last
    except ValueError:
        pass
    raise EngineError(f"--cycles {text!r}: write FIRST:LAST with FIRST ≤ LAST, e.g. 1:200")


def parse_time(text: str) -> datetime:
    """ISO 8601 date/time; naive means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise EngineError(
            f"{text!r} is not a date/time; use ISO 8601, e.g. 2026-11-30T08:00 (UTC)"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _fmt_duration(d: timedelta) -> str:
    s = d.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{s / size:g} {unit}"
    return f"{s:g} s"
