"""Following a CSV file a data logger keeps appending to (a live "growing CSV" feed).

:class:`CsvFollower` parses only complete lines (a partial last line waits for its end). It
knows the file by identity and content: its device and inode, its size, the bytes at its head
and the bytes just before the point read up to. A file renamed away (rotated) or replaced by
another is read to its end first, then the new file from its beginning; a file truncated, or
truncated and refilled past its old size between two looks, is read again from its
beginning. Either way no appended line is lost, and the time between the last sample read
before and the first one after is recorded as a gap (lines written to the old content in
between could not be read).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np

from ingestion.errors import HydroDiagError
from ingestion.timestamps import parse_instant_us

log = logging.getLogger(__name__)

HEAD_BYTES: Final = 4096  # the file's first bytes: another file (or rewritten) if they differ
ANCHOR_BYTES: Final = 256  # the bytes just before the read position: rewritten if they differ
TIME_NAMES: Final = ("timestamp", "time", "ts", "datetime", "date_time", "zeit")

Rows = tuple[tuple[str, ...], np.ndarray, np.ndarray]
GapCallback = Callable[[int, int, str], None]


class FollowError(HydroDiagError):
    """The file to follow cannot be followed: missing, a folder, unreadable, binary, or its
    header has no time column or no sensor of the profile."""


@dataclass
class _Identity:
    dev: int
    ino: int


class CsvFollower:
    """Reads rows a logger appends to ``path`` (wide: a time column + sensor columns).

    Args:
        path: the growing file.
        sensors: the profile's sensor ids; header names are matched without regard to case.
        timestamp_column: the time column's name (default: the first named like a time).
        from_start: read what the file already holds (else only what is appended later).
        warn: called with a sentence for each thing the user should know.
        on_gap: called with (start µs, end µs, reason) when the file was truncated or
            replaced: the time in which lines may have been written that could not be read.
    """

    def __init__(
        self,
        path: Path,
        sensors: Sequence[str],
        *,
        timestamp_column: str | None = None,
        from_start: bool = True,
        warn: Callable[[str], None] | None = None,
        on_gap: GapCallback | None = None,
    ) -> None:
        self.path = Path(path)
        self.known = {s.lower(): s for s in sensors}
        self.timestamp_column = timestamp_column
        self.warn = warn or log.warning
        self.on_gap = on_gap
        self._fh: BinaryIO | None = None
        self._identity: _Identity | None = None
        self._offset = 0
        self._head = b""  # the first bytes read (up to HEAD_BYTES)
        self._anchor = b""  # the last bytes read (up to ANCHOR_BYTES)
        self._partial = b""
        self._header: list[str] | None = None
        self._delimiter = ","
        self._columns: list[tuple[int, str]] = []
        self._ts_index = 0
        self._line_no = 0
        self._from_start = from_start
        self._last_ts: int | None = None  # the latest sample read
        self._restart_reason: str | None = None  # set when reading starts over
        self._missing_warned = False
        self.rotations = 0
        self.truncations = 0
        self.bad_lines = 0
        self.gaps: list[tuple[int, int, str]] = []

    # -- before anything is recorded -----------------------------------------------------------

    def check(self) -> None:
        """Refuse, before a recording begins, a file that cannot be followed.

        Raises:
            FollowError: naming the file (and line) and what to do.
        """
        path = self.path
        if path.is_dir():
            raise FollowError(f"{path}: is a folder; give the CSV file the logger writes.")
        try:
            with path.open("rb") as fh:
                head = fh.read(64 * 1024)
        except FileNotFoundError:
            raise FollowError(
                f"{path}: no such file. Start the logger first (or check the path): "
                "`live csv` follows a file that exists."
            ) from None
        except PermissionError:
            raise FollowError(f"{path}: permission denied: you may not read this file.") from None
        except OSError as exc:
            raise FollowError(f"{path}: cannot read the file ({exc.strerror}).") from None
        if b"\x00" in head or _control_share(head) > 0.05:
            raise FollowError(
                f"{path}: this is a binary file, not CSV text (first bytes {head[:8]!r}); "
                "`live csv` follows a UTF-8 text log."
            )
        lines = head.split(b"\n")
        if len(lines) < 2:
            return  # no complete header yet: the logger is about to write it
        header = _decode(lines[0])
        self._set_header(header)
        if not self._columns:
            raise FollowError(
                f"{path}:1: no column of the header ({header.strip()[:200]}) is a sensor of the "
                f"profile ({', '.join(self.known.values())}); name the columns like the "
                "profile's sensors."
            )
        if len(lines) >= 3 and lines[1].strip():
            row = next(csv.reader([_decode(lines[1])], delimiter=self._delimiter), [])
            cell = row[self._ts_index] if self._ts_index < len(row) else ""
            try:
                parse_instant_us(cell)
            except ValueError:
                raise FollowError(
                    f"{path}:2: {cell.strip()[:60]!r} in column {self._ts_index + 1} "
                    f"({header.split(self._delimiter)[self._ts_index].strip()!r}) is not a time "
                    "stamp; write ISO 8601 (2026-03-02T06:00:00) or epoch seconds or "
                    "milliseconds, or name the time column with --timestamp-column."
                ) from None
        self._header = None  # read again when following starts

    # -- following -----------------------------------------------------------------------------

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def poll(self) -> Iterator[Rows]:
        """New complete rows as (sensors, ts_us [n], values [n, k]) groups.

        Raises:
            OSError: the file cannot be read now (permissions changed, a network drive gone);
                the caller backs off and polls again.
        """
        if self._fh is None and not self._open():
            return
        assert self._fh is not None
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            stat = None
        if stat is None or (stat.st_dev, stat.st_ino) != self._key():
            # rotated, replaced or removed: the old file's rest first (its last line too)
            yield from self._parse(self._read_new_lines(final=True))
            self.rotations += 1
            self.close()
            if stat is None:
                self._warn_missing()
                self._restart_reason = "the file was moved or removed"
                return
            self._restart_reason = "the file was replaced by another"
            self.warn(f"{self.path}: the file was replaced (rotated); following the new one.")
            if self._open():
                yield from self._parse(self._read_new_lines())
            return
        if stat.st_size < self._offset or not self._same_content():
            self.truncations += 1
            what = "truncated" if stat.st_size < self._offset else "rewritten"
            self.warn(f"{self.path}: the file was {what}; reading it again from the start.")
            if self._partial:
                self.warn(
                    f"{self.path}: an unfinished last line ({len(self._partial)} bytes) of the "
                    f"old content was dropped with it."
                )
            self.close()
            self._restart_reason = f"the file was {what}"
            if self._open():
                yield from self._parse(self._read_new_lines())
            return
        yield from self._parse(self._read_new_lines())

    def _key(self) -> tuple[int, int]:
        assert self._identity is not None
        return self._identity.dev, self._identity.ino

    def _warn_missing(self) -> None:
        if not self._missing_warned:
            self._missing_warned = True
            self.warn(f"{self.path}: the file is gone; waiting for the logger to create it again.")

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls on purpose
        except FileNotFoundError:
            self._warn_missing()
            return False
        self._missing_warned = False
        stat = os.fstat(fh.fileno())
        self._fh = fh
        self._identity = _Identity(stat.st_dev, stat.st_ino)
        self._offset = 0
        self._head = b""
        self._anchor = b""
        self._partial = b""
        self._header = None
        self._line_no = 0
        if not self._from_start:
            # skip what is there, but keep its header and the bytes that identify the content
            self._from_start = True
            data = fh.read()
            self._consumed(data)
            first, sep, _ = data.partition(b"\n")
            if sep:
                self._set_header(_decode(first))
                self._line_no = data.count(b"\n")
            self._partial = data[data.rfind(b"\n") + 1 :] if sep else data
            if self._header is None:  # no complete line yet: read it all when it is there
                self._offset, self._head, self._anchor, self._partial = 0, b"", b"", b""
                fh.seek(0)
        return True

    def _consumed(self, data: bytes) -> None:
        """Account for ``data`` read at the current offset."""
        if len(self._head) < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - len(self._head)]
        self._anchor = (self._anchor + data)[-ANCHOR_BYTES:]
        self._offset += len(data)

    def _same_content(self) -> bool:
        """Whether the file still holds what was read: the same first bytes and the same bytes
        before the read position (a file truncated and refilled past its old size has not)."""
        assert self._fh is not None
        fd = self._fh.fileno()
        if self._head and os.pread(fd, len(self._head), 0) != self._head:
            return False
        if self._anchor:
            start = self._offset - len(self._anchor)
            if os.pread(fd, len(self._anchor), start) != self._anchor:
                return False
        return True

    def _read_new_lines(self, *, final: bool = False) -> list[bytes]:
        """The complete lines appended since the last read (with ``final``: also an unfinished
        last line, for a file that will not grow any more)."""
        assert self._fh is not None
        self._fh.seek(self._offset)
        data = self._fh.read()
        self._consumed(data)
        data = self._partial + data
        parts = data.split(b"\n")
        self._partial = b"" if final else parts.pop()
        return [p.rstrip(b"\r") for p in parts if p.strip()]

    def _parse(self, lines: list[bytes]) -> Iterator[Rows]:
        if not lines:
            return
        text = [_decode(line) for line in lines]
        if self._header is None:
            self._set_header(text.pop(0))
            self._line_no += 1
        if not text or not self._columns:
            self._line_no += len(text)
            return
        ts_list: list[int] = []
        rows: list[list[float]] = []
        for row in csv.reader(text, delimiter=self._delimiter):
            self._line_no += 1
            try:
                ts_list.append(parse_instant_us(row[self._ts_index]))
            except (ValueError, IndexError):
                self.bad_lines += 1
                if self.bad_lines <= 3:
                    cell = row[self._ts_index].strip()[:40] if self._ts_index < len(row) else ""
                    self.warn(
                        f"{self.path}:{self._line_no}: {cell!r} is not a time stamp; line skipped."
                    )
                continue
            rows.append(
                [_parse_float(row[i]) if i < len(row) else float("nan") for i, _ in self._columns]
            )
        if not ts_list:
            return
        ts = np.asarray(ts_list, dtype=np.int64)
        self._note_restart(int(ts[0]))
        self._last_ts = max(self._last_ts or int(ts.max()), int(ts.max()))
        yield (
            tuple(s for _, s in self._columns),
            ts,
            np.asarray(rows, dtype=np.float64).reshape(len(ts_list), len(self._columns)),
        )

    def _note_restart(self, first_ts: int) -> None:
        """After reading started over: the time between the last sample before and the first
        after is a gap (lines written in between could not be read)."""
        reason, self._restart_reason = self._restart_reason, None
        if reason is None or self._last_ts is None:
            return
        if first_ts > self._last_ts:
            why = f"{reason} between two looks at it: lines written in between could not be read"
            self.gaps.append((self._last_ts, first_ts, why))
            if self.on_gap is not None:
                self.on_gap(self._last_ts, first_ts, why)
        else:
            self.warn(
                f"{self.path}: after {reason}, the new content starts at or before what was "
                "already read; its rows are stored as they come."
            )

    def _set_header(self, line: str) -> None:
        self._delimiter = max((";", "\t", ","), key=line.count)
        names = next(csv.reader([line], delimiter=self._delimiter), [])
        self._header = names
        lowered = [n.strip().lower() for n in names]
        if self.timestamp_column is not None:
            if self.timestamp_column.lower() not in lowered:
                raise FollowError(
                    f"{self.path}:1: no column {self.timestamp_column!r} in the header "
                    f"({', '.join(names)})."
                )
            self._ts_index = lowered.index(self.timestamp_column.lower())
        else:
            candidates = [i for i, n in enumerate(lowered) if n in TIME_NAMES]
            self._ts_index = candidates[0] if candidates else 0
        self._columns = [
            (i, self.known[n])
            for i, n in enumerate(lowered)
            if n in self.known and i != self._ts_index
        ]
        unknown = [
            names[i] for i, n in enumerate(lowered) if n not in self.known and i != self._ts_index
        ]
        if not self._columns:
            self.warn(
                f"{self.path}:1: no column matches a sensor of the profile; nothing to store."
            )
        elif unknown:
            self.warn(f"{self.path}:1: columns not in the profile, ignored: {', '.join(unknown)}")


def _decode(line: bytes) -> str:
    return line.decode("utf-8-sig", errors="replace").rstrip("\r")


def _control_share(raw: bytes) -> float:
    sample = raw[:4096]
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control / max(len(sample), 1)


def _parse_float(text: str) -> float:
    text = text.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return float("nan")
