"""Time stamps, in one place: recognise how a log writes them, read them, and turn a local
wall-clock time into UTC.

Detected from a sample of values: ISO 8601 (``T`` or space, fractions, ``Z``/offsets),
``dd.mm.yyyy hh:mm[:ss[.fff]]``, ``dd/mm/yyyy`` or ``mm/dd/yyyy`` (decided by values above 12,
else by which reading runs forward in time), ``yyyy/mm/dd``, epoch seconds / ms / µs / ns
(told apart by magnitude, value by value when a log mixes them), and separate date and time
columns. :meth:`TimeSpec.expression` is one DuckDB SQL expression giving a naive
``TIMESTAMP`` (UTC for epoch numbers and stamps with offsets, else the log's wall-clock time)
and NULL where a value does not parse, so the importer can name the line.

Wall-clock times in a zone with daylight saving are turned into UTC by :func:`localize_us`
(arrays) and :func:`localize_table` (a table being imported), explicitly: a time in the hour
that is repeated when the clocks go back is read by the order of the rows (before the log
jumps back: the first pass, after it: the second), and a time that does not exist (skipped
when the clocks go forward) is refused with its line. Both are reported.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

import numpy as np

from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    import duckdb


class TimestampError(HydroDiagError):
    """Time stamps that cannot be recognised or converted."""


_ISO: Final = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_DMY_DOT: Final = re.compile(
    r"^\d{1,2}\.\d{1,2}\.\d{4}(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?$"
)
_SLASH: Final = re.compile(
    r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(\s*[AaPp][Mm])?$"
)
_YMD_SLASH: Final = re.compile(
    r"^\d{4}/\d{1,2}/\d{1,2}(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?$"
)
_TIME_ONLY: Final = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?$")
_DATE_ONLY: Final = re.compile(
    r"^(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}\.\d{1,2}\.\d{4}|\d{1,2}/\d{1,2}/\d{4}|\d{4}/\d{1,2}/\d{1,2})$"
)
_NUMBER: Final = re.compile(r"^[+-]?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?$")

EPOCH_UNITS: Final = {"s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}
# Plausible epoch values of each unit (1990 .. 2100): the ranges are three orders of magnitude
# apart, so the unit of a single value is never in doubt.
EPOCH_RANGES: Final = {
    "s": (6.3e8, 4.1e9),
    "ms": (6.3e11, 4.1e12),
    "us": (6.3e14, 4.1e15),
    "ns": (6.3e17, 4.1e18),
}


def sql_quote(text: str) -> str:
    """A SQL string literal (for formats and zone names we validated, never raw user data)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class TimeSpec:
    """How to turn one (or a date and a time) text column into a UTC timestamp.

    kind: ``iso``, ``iso_tz`` (carries its own offsets), ``format`` (strptime formats),
    ``epoch`` (numbers since 1970 in ``epoch_unit``) or ``relative`` (seconds from ``start``).
    """

    kind: str
    formats: tuple[str, ...] = ()
    epoch_unit: str = "s"
    start: datetime | None = None
    description: str = ""

    def expression(self, column_sql: str, tz: str | None) -> str:
        """SQL turning ``column_sql`` (VARCHAR) into naive UTC TIMESTAMP, NULL if unparseable."""
        c = f"trim({column_sql})"
        if self.kind in {"iso", "iso_tz"}:
            # The cast itself skips surrounding blanks; only a ',' fraction needs the string
            # rewritten, and COALESCE evaluates that second cast only for rows the first one
            # refused (saves ~7 % of a large import's CPU).
            t = "TIMESTAMP" if self.kind == "iso" else "TIMESTAMPTZ"
            cast = (
                f"coalesce(TRY_CAST({column_sql} AS {t}), TRY_CAST(replace({c}, ',', '.') AS {t}))"
            )
            if self.kind == "iso_tz":
                # the values carry their offset: convert to UTC and ignore --tz
                return f"timezone('UTC', {cast})"
            expr = cast
        elif self.kind == "format":
            fmts = ", ".join(sql_quote(f) for f in self.formats)
            expr = f"try_strptime({c}, [{fmts}])"
        elif self.kind == "epoch":
            number = f"TRY_CAST(replace({c}, ',', '.') AS DOUBLE)"
            if self.epoch_unit == "auto":  # each value by its magnitude (a log mixing units)
                cases = " ".join(
                    f"WHEN abs(x) BETWEEN {lo!r} AND {hi!r} THEN x * {EPOCH_UNITS[u]!r}"
                    for u, (lo, hi) in EPOCH_RANGES.items()
                )
                micros = "CASE " + cases.replace("x", number) + " END"
            else:
                micros = f"{number} * {EPOCH_UNITS[self.epoch_unit]!r}"
            return f"make_timestamp(CAST(round({micros}) AS BIGINT))"  # epoch numbers are UTC
        elif self.kind == "relative":
            assert self.start is not None
            start = sql_quote(self.start.isoformat(sep=" "))
            expr = (
                f"(CAST({start} AS TIMESTAMP) + to_microseconds(CAST(round("
                f"TRY_CAST(replace({c}, ',', '.') AS DOUBLE) * 1e6) AS BIGINT)))"
            )
        else:  # pragma: no cover - guarded by construction
            raise AssertionError(self.kind)
        if tz and not is_utc(tz):
            # Only for a zone without daylight saving: elsewhere DuckDB would pick one reading
            # of a repeated hour and shift a skipped one silently. Importers call expression()
            # without tz and convert the wall-clock times with localize_table / localize_us.
            return f"timezone('UTC', timezone({sql_quote(tz)}, {expr}))"
        return expr

    @property
    def local(self) -> bool:
        """Whether the values are wall-clock times (a --tz applies) rather than UTC instants."""
        return self.kind in {"iso", "format", "relative"}


def _time_formats(sample_time: str) -> list[str]:
    """strptime time-of-day formats for a sample like ``06:00``, ``06:00:00`` or ``06:00:00,5``."""
    parts = sample_time.split(":")
    if len(parts) == 2:
        return ["%H:%M"]
    sep = "," if "," in parts[2] else "."
    return [f"%H:%M:%S{sep}%f", "%H:%M:%S"]


def _split_date_time(value: str) -> tuple[str, str, str]:
    match = re.match(r"^(\S+?)([ T]+)(.*)$", value)
    if not match:
        return value, "", ""
    return match.group(1), match.group(2), match.group(3)


def _join_formats(date_fmt: str, sep: str, times: Sequence[str], ampm: bool) -> tuple[str, ...]:
    if not times:
        return (date_fmt,)
    out = []
    for t in times:
        t2 = t.replace("%H", "%I") + " %p" if ampm else t
        out.append(f"{date_fmt}{sep}{t2}")
    return tuple(out)


def _slash_order(samples: Sequence[str], ampm: bool) -> tuple[str, bool]:
    """(``dmy`` or ``mdy``, certain) for dd/mm vs mm/dd.

    A value above 12 decides for sure; else the reading under which time runs forward, and
    on a tie AM/PM (a US habit) means mm/dd.
    """
    firsts, seconds = [], []
    for s in samples:
        m = _SLASH.match(s)
        if m:
            firsts.append(int(m.group(1)))
            seconds.append(int(m.group(2)))
    if any(v > 12 for v in firsts):
        return "dmy", True
    if any(v > 12 for v in seconds):
        return "mdy", True

    def forward(order: str) -> int:
        keys = []
        for a, b in zip(firsts, seconds, strict=True):
            keys.append((b, a) if order == "dmy" else (a, b))
        return sum(1 for x, y in itertools.pairwise(keys) if y < x)

    backwards_dmy, backwards_mdy = forward("dmy"), forward("mdy")
    if backwards_dmy != backwards_mdy:
        return ("dmy" if backwards_dmy < backwards_mdy else "mdy"), False
    return ("mdy" if ampm else "dmy"), False


def epoch_unit_of(value: float) -> str | None:
    """The epoch unit whose plausible range (1990..2100) holds ``value``, else None."""
    for unit, (a, b) in EPOCH_RANGES.items():
        if a <= abs(value) <= b:
            return unit
    return None


def _numeric_epoch(values: Sequence[float]) -> str | None:
    """The epoch unit of all values; ``auto`` when each is an epoch in some unit but they
    mix units (a logger switching from s to ms); None when some value is no epoch at all."""
    units = {epoch_unit_of(v) for v in values}
    if None in units:
        return None
    return units.pop() if len(units) == 1 else "auto"


def detect_time_spec(samples: Sequence[str], *, start: datetime | None = None) -> TimeSpec | None:
    """Recognise a single time column from sample values; None if it is not a time column."""
    values = [s.strip() for s in samples if s and s.strip()]
    if not values:
        return None
    if all(_ISO.match(v) for v in values):
        aware = any(_ISO.match(v).group(1) for v in values)  # type: ignore[union-attr]
        return TimeSpec(
            "iso_tz" if aware else "iso",
            description="ISO 8601 with UTC offset" if aware else "ISO 8601",
        )
    for pattern, date_fmt, label in (
        (_DMY_DOT, "%d.%m.%Y", "dd.mm.yyyy"),
        (_YMD_SLASH, "%Y/%m/%d", "yyyy/mm/dd"),
    ):
        if all(pattern.match(v) for v in values):
            _, sep, time_part = _split_date_time(values[0])
            formats = _join_formats(
                date_fmt,
                " " if sep.strip() == "" else sep,
                _time_formats(time_part) if time_part else [],
                False,
            )
            return TimeSpec("format", formats, description=f"{label} hh:mm:ss")
    if all(_SLASH.match(v) for v in values):
        ampm = bool(re.search(r"[AaPp][Mm]$", values[0]))
        order, certain = _slash_order(values, ampm)
        date_fmt = "%d/%m/%Y" if order == "dmy" else "%m/%d/%Y"
        _, sep, time_part = _split_date_time(values[0])
        time_part = re.sub(r"\s*[AaPp][Mm]$", "", time_part)
        formats = _join_formats(
            date_fmt,
            " " if sep.strip() == "" else sep,
            _time_formats(time_part) if time_part else [],
            ampm,
        )
        label = "dd/mm/yyyy" if order == "dmy" else "mm/dd/yyyy"
        if not certain:
            label += (
                " (assumed: no day above 12 in the first rows; give --time-format "
                f"'{formats[0]}' with %d and %m swapped if that is wrong)"
            )
        return TimeSpec("format", formats, description=label)
    if all(_NUMBER.match(v) for v in values):
        numbers = [float(v.replace(",", ".")) for v in values]
        unit = _numeric_epoch(numbers)
        if unit == "auto":
            return TimeSpec(
                "epoch",
                epoch_unit="auto",
                description="epoch s/ms/µs/ns mixed (each value read by its magnitude)",
            )
        if unit is not None:
            return TimeSpec("epoch", epoch_unit=unit, description=f"epoch {unit}")
        if start is not None and min(numbers) >= 0:
            return TimeSpec("relative", start=start, description=f"seconds from {start}")
        return None
    return None


def detect_date_time_pair(dates: Sequence[str], times: Sequence[str]) -> TimeSpec | None:
    """A date column and a time-of-day column, joined with a space before parsing."""
    d = [s.strip() for s in dates if s and s.strip()]
    t = [s.strip() for s in times if s and s.strip()]
    if not d or not t:
        return None
    if not all(_DATE_ONLY.match(v) for v in d) or not all(_TIME_ONLY.match(v) for v in t):
        return None
    joined = [f"{a} {b}" for a, b in zip(d, t, strict=False)]
    spec = detect_time_spec(joined)
    if spec is None:
        return None
    if spec.kind == "iso":  # ISO date + time: cast works, but keep a strptime for ',' fractions
        spec = TimeSpec("iso", description="ISO date + time columns")
    return TimeSpec(
        spec.kind, spec.formats, description=f"{spec.description} (date + time columns)"
    )


def user_time_spec(time_format: str, *, start: datetime | None = None) -> TimeSpec:
    """``--time-format``: iso, epoch-s, epoch-ms, epoch-us, epoch-ns, relative-s, or a strptime format."""
    key = time_format.strip().lower()
    if key == "iso":
        return TimeSpec("iso", description="ISO 8601 (given)")
    if key in {"iso-tz", "iso_tz"}:
        return TimeSpec("iso_tz", description="ISO 8601 with offsets (given)")
    if key.startswith("epoch-") and key[6:] in EPOCH_UNITS:
        return TimeSpec("epoch", epoch_unit=key[6:], description=f"epoch {key[6:]} (given)")
    if key in {"relative-s", "relative", "seconds"}:
        if start is None:
            raise missing_start_error()
        return TimeSpec("relative", start=start, description=f"seconds from {start} (given)")
    if "%" not in time_format:
        raise TimestampError(
            f"--time-format {time_format!r} is neither a keyword (iso, epoch-s, epoch-ms, "
            "epoch-us, epoch-ns, relative-s) nor a strptime format like '%d.%m.%Y %H:%M:%S'."
        )
    return TimeSpec("format", (time_format,), description=f"{time_format} (given)")


def missing_start_error() -> TimestampError:
    return TimestampError(
        "relative time stamps (seconds since the start of the log) need the start time: "
        "give --start '2026-03-02T06:00:00'."
    )


# --- wall-clock time in a zone -> UTC ------------------------------------------------------------

_US: Final = 1_000_000
_DAY_US: Final = 86_400 * _US
_UTC_NAMES: Final = frozenset({"UTC", "Z", "ETC/UTC", "GMT", "ETC/GMT", "UCT", "ZULU"})


def is_utc(tz: str | None) -> bool:
    return tz is None or tz.strip().upper() in _UTC_NAMES


def zone(tz: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``tz``; raises :class:`TimestampError` with what to write instead."""
    try:
        return zoneinfo.ZoneInfo(tz.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise TimestampError(
            f"--tz {tz!r} is not a time zone name; use an IANA name such as Europe/Berlin, "
            "America/Chicago or UTC (a logger that never changes its clock: Etc/GMT-1 is "
            "UTC+01:00 all year)."
        ) from None


@dataclass(frozen=True)
class ClockChange:
    """The zone's offset changes at ``utc_us`` from ``before_us`` to ``after_us`` (µs)."""

    utc_us: int
    before_us: int
    after_us: int

    @property
    def local_span(self) -> tuple[int, int]:
        """[first, end) of the wall-clock times it repeats (clocks back) or skips (forward)."""
        return (
            self.utc_us + min(self.before_us, self.after_us),
            self.utc_us + max(self.before_us, self.after_us),
        )

    @property
    def skips(self) -> bool:
        return self.after_us > self.before_us


def _offset_us(tz: zoneinfo.ZoneInfo, utc_us: int) -> int:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=utc_us)
    offset = moment.astimezone(tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() * _US)


_EARLIEST: Final = -2_208_988_800 * _US  # 1900-01-01
_LATEST: Final = 7_258_118_400 * _US  # 2200-01-01


def clock_changes(
    tz: str, first_local_us: int, last_local_us: int
) -> tuple[int, list[ClockChange]]:
    """(offset before the first change, the changes) of ``tz`` for wall-clock times in
    [first, last]: looked for day by day, each found to the second."""
    zi = zone(tz)
    lo = max(first_local_us - 2 * _DAY_US, _EARLIEST)
    hi = min(max(last_local_us, first_local_us) + 2 * _DAY_US, _LATEST)
    base = _offset_us(zi, lo)
    changes: list[ClockChange] = []
    t, offset = lo, base
    while t < hi:
        nxt = min(t + _DAY_US, hi)
        new = _offset_us(zi, nxt)
        if new != offset:
            # zones change their clocks on whole seconds: bisect in seconds
            a, b = t // _US, -(-nxt // _US)  # offset(a s) == offset, offset(b s) == new
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_us(zi, mid * _US) == offset:
                    a = mid
                else:
                    b = mid
            b *= _US
            changes.append(ClockChange(b, offset, new))
            offset = new
        t = nxt
    return base, changes


def fold_split(local_us: np.ndarray) -> int:
    """Index (in file order) of the first value of a repeated hour read as its second pass:
    the first value that jumps back in time. ``len`` when the log never jumps back."""
    if local_us.size < 2:
        return int(local_us.size)
    back = np.flatnonzero(np.diff(local_us) < 0)
    return int(back[0] + 1) if back.size else int(local_us.size)


def _fmt_offset(us: int) -> str:
    sign = "+" if us >= 0 else "-"
    minutes = abs(us) // (60 * _US)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _fmt_local(us: int) -> str:
    return str(np.datetime64(int(us), "us").astype("datetime64[s]")).replace("T", " ")


def fold_note(tz: str, change: ClockChange, first_pass: int, second_pass: int) -> str:
    """The import summary's note on wall-clock times in a repeated hour."""
    start, end = change.local_span
    jumped = (
        f"the {first_pass} before the log jumps back read as {_fmt_offset(change.before_us)}, "
        f"the {second_pass} after it as {_fmt_offset(change.after_us)}"
        if second_pass
        else f"the log never jumps back, so all {first_pass} were read as the first pass "
        f"({_fmt_offset(change.before_us)}); if it began after the clocks went back, they are "
        "an hour early"
    )
    return (
        f"{first_pass + second_pass} time stamp(s) fall in {_fmt_local(start)} .. "
        f"{_fmt_local(end - _US)}, which {tz} repeats when the clocks go back: {jumped}"
    )


def gap_message(tz: str, change: ClockChange, value: str, where: str) -> str:
    """The error for a wall-clock time the clocks skipped."""
    start, end = change.local_span
    return (
        f"{where}: {value!r} does not exist in {tz}: the clocks went from "
        f"{_fmt_local(start)} straight to {_fmt_local(end)} ({_fmt_offset(change.before_us)} "
        f"to {_fmt_offset(change.after_us)}). Check the logger's clock; if it does not change "
        "for summer time, give its fixed offset, e.g. --tz Etc/GMT-1 for UTC+01:00."
    )


@dataclass(frozen=True)
class Localized:
    """Wall-clock times turned into UTC: ``utc_us``, the indices of times that do not exist
    (``skipped``, with the change that skipped them), and notes for the summary."""

    utc_us: np.ndarray
    skipped: list[tuple[int, ClockChange]]
    notes: list[str]


def localize_us(local_us: np.ndarray, tz: str | None) -> Localized:
    """UTC µs of wall-clock µs in ``tz``, in file order (the order decides a repeated hour)."""
    local = np.asarray(local_us, dtype=np.int64)
    if is_utc(tz) or local.size == 0:
        return Localized(local.copy(), [], [])
    assert tz is not None
    base, changes = clock_changes(tz, int(local.min()), int(local.max()))
    offsets = np.full(local.shape, base, dtype=np.int64)
    skipped: list[tuple[int, ClockChange]] = []
    notes: list[str] = []
    for change in changes:
        start, end = change.local_span
        offsets[local >= end] = change.after_us
        inside = np.flatnonzero((local >= start) & (local < end))
        if not inside.size:
            continue
        if change.skips:
            skipped += [(int(i), change) for i in inside]
            offsets[inside] = change.before_us
            continue
        split = fold_split(local[inside])
        offsets[inside[:split]] = change.before_us
        offsets[inside[split:]] = change.after_us
        notes.append(fold_note(tz, change, split, int(inside.size) - split))
    return Localized(local - offsets, sorted(skipped, key=lambda s: s[0]), notes)


def localize_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    tz: str | None,
    *,
    column: str = "ts",
    describe_row: Callable[[int], tuple[str, str]],
) -> list[str]:
    """Rewrite ``table.column`` from wall-clock times in ``tz`` to naive UTC, in place, with the
    offsets of the zone's clock changes inside the data (one UPDATE); returns notes.

    The table's rows must be in file order (rowid order: a table filled in this transaction).
    ``describe_row(index)`` gives (where, value) of the 0-based data row ``index`` for the
    error about a time that does not exist.
    """
    if is_utc(tz):
        return []
    assert tz is not None
    row = con.execute(
        f"SELECT epoch_us(min({column})), epoch_us(max({column})), min(rowid) FROM {table}"
    ).fetchone()
    if row is None or row[0] is None:
        return []
    first, last, first_rowid = int(row[0]), int(row[1]), int(row[2])
    base, changes = clock_changes(tz, first, last)
    notes: list[str] = []
    cases: list[str] = []
    previous = base
    for change in changes:
        start, end = change.local_span
        span = f"{column} >= make_timestamp({start}) AND {column} < make_timestamp({end})"
        cases.append(f"WHEN {column} < make_timestamp({start}) THEN {previous}")
        if change.skips:
            bad = con.execute(f"SELECT min(rowid) FROM {table} WHERE {span}").fetchone()
            if bad is not None and bad[0] is not None:
                where, value = describe_row(int(bad[0]) - first_rowid)
                raise TimestampError(gap_message(tz, change, value, where))
        else:
            fold = con.execute(
                f"SELECT rowid AS r, epoch_us({column}) AS t FROM {table} WHERE {span} "
                "ORDER BY rowid"
            ).fetchnumpy()
            rowids = np.asarray(fold["r"], dtype=np.int64)
            if rowids.size:
                split = fold_split(np.asarray(fold["t"], dtype=np.int64))
                limit = int(rowids[split]) if split < rowids.size else int(rowids[-1]) + 1
                cases.append(
                    f"WHEN {column} < make_timestamp({end}) THEN CASE WHEN rowid < {limit} "
                    f"THEN {change.before_us} ELSE {change.after_us} END"
                )
                notes.append(fold_note(tz, change, split, int(rowids.size) - split))
        previous = change.after_us
    offset = f"CASE {' '.join(cases)} ELSE {previous} END" if cases else str(previous)
    if offset != "0":
        con.execute(
            f"UPDATE {table} SET {column} = make_timestamp(epoch_us({column}) - ({offset}))"
        )
    return notes


def parse_instant_us(text: str) -> int:
    """One time stamp of a live feed as UTC µs since 1970: an epoch number in s, ms, µs or ns
    (told by its magnitude) or ISO 8601 (with an offset, or naive = UTC).

    Raises:
        ValueError: the text is neither.
    """
    value = text.strip()
    if _NUMBER.match(value):
        number = float(value.replace(",", "."))
        unit = epoch_unit_of(number)
        if unit is None:
            raise ValueError(f"{value!r} is not an epoch time stamp between 1990 and 2100")
        return round(number * EPOCH_UNITS[unit])
    if not _ISO.match(value):
        raise ValueError(f"{value!r} is not an ISO 8601 time stamp")
    parsed = datetime.fromisoformat(value.replace(",", ".").replace(" Z", "Z"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return (parsed - datetime(1970, 1, 1)) // timedelta(microseconds=1)
