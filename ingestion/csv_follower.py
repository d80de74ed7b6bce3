"""Following a CSV file a data logger keeps appending to (a live "growing CSV" feed).

:class:`CsvFollower` parses only complete lines (a partial last line waits for its end) and
restarts at the new file's beginning after truncation or rotation.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np

from ingestion.errors import HydroDiagError

log = logging.getLogger(__name__)

_US: Final = 1_000_000


class CsvFollower:
    """Reads rows a logger appends to ``path`` (wide: a timestamp column + sensor columns).

    Only complete lines are parsed; a partial last line waits for its newline. When the file
    shrinks (truncated) or its inode changes (rotated), reading restarts at its beginning;
    with rotation, the rest of the old file is read first.
    """

    def __init__(
        self,
        path: Path,
        sensors: Sequence[str],
        *,
        timestamp_column: str | None = None,
        from_start: bool = True,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.known = {s.lower(): s for s in sensors}
        self.timestamp_column = timestamp_column
        self.warn = warn or log.warning
        self._fh: io.BufferedReader | None = None
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._header: list[str] | None = None
        self._delimiter = ","
        self._columns: list[tuple[int, str]] = []
        self._ts_index = 0
        self._line_no = 0
        self.rotations = 0
        self.truncations = 0
        self.bad_lines = 0
        self._from_start = from_start

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open across polls on purpose
        except FileNotFoundError:
            return False
        self._fh = fh
        self._inode = os.fstat(fh.fileno()).st_ino
        self._offset = 0
        self._partial = b""
        self._header = None
        self._line_no = 0
        if not self._from_start:
            self._fh.seek(0, os.SEEK_END)
            self._offset = self._fh.tell()
            self._from_start = True
        return True

    def poll(self) -> Iterator[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
        """New complete rows as (sensors, ts_us [n], values [n, k]) groups."""
        if self._fh is None and not self._open():
            return
        assert self._fh is not None
        lines = self._read_new_lines()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            stat = None
        if stat is not None and stat.st_ino != self._inode:
            # rotated: the old handle's rest was read above; continue in the new file
            self.rotations += 1
            self.close()
            if self._partial:
                lines.append(self._partial)
            yield from self._parse(lines)
            if self._open():
                yield from self._parse(self._read_new_lines())
            return
        if stat is not None and stat.st_size < self._offset:
            self.truncations += 1
            self.warn(f"{self.path}: the file was truncated; reading it again from the start.")
            self.close()
            yield from self._parse(lines)
            if self._open():
                yield from self._parse(self._read_new_lines())
            return
        yield from self._parse(lines)

    def _read_new_lines(self) -> list[bytes]:
        assert self._fh is not None
        self._fh.seek(self._offset)
        data = self._fh.read()
        self._offset += len(data)
        if not data:
            return []
        data = self._partial + data
        parts = data.split(b"\n")
        self._partial = parts.pop()  # after the last newline: incomplete (or empty)
        return [p.rstrip(b"\r") for p in parts if p.strip()]

    def _parse(
        self, lines: list[bytes]
    ) -> Iterator[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
        if not lines:
            return
        text = [line.decode("utf-8-sig", errors="replace") for line in lines]
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
                ts_list.append(_parse_timestamp_us(row[self._ts_index]))
            except (ValueError, IndexError):
                self.bad_lines += 1
                if self.bad_lines <= 3:
                    self.warn(
                        f"{self.path}:{self._line_no}: cannot read the timestamp; line skipped."
                    )
                continue
            rows.append(
                [_parse_float(row[i]) if i < len(row) else float("nan") for i, _ in self._columns]
            )
        if ts_list:
            yield (
                tuple(s for _, s in self._columns),
                np.asarray(ts_list, dtype=np.int64),
                np.asarray(rows, dtype=np.float64).reshape(len(ts_list), len(self._columns)),
            )

    def _set_header(self, line: str) -> None:
        self._delimiter = max((";", "\t", ","), key=line.count)
        names = next(csv.reader([line], delimiter=self._delimiter))
        self._header = names
        lowered = [n.strip().lower() for n in names]
        if self.timestamp_column is not None:
            if self.timestamp_column.lower() not in lowered:
                raise HydroDiagError(
                    f"{self.path}:1: no column {self.timestamp_column!r} in the header "
                    f"({', '.join(names)})."
                )
            self._ts_index = lowered.index(self.timestamp_column.lower())
        else:
            candidates = [
                i
                for i, n in enumerate(lowered)
                if n in {"timestamp", "time", "ts", "datetime", "date_time"}
            ]
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


def _parse_timestamp_us(text: str) -> int:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return int((parsed - datetime(1970, 1, 1)).total_seconds() * _US)
    # epoch seconds or milliseconds
    return int(number * (1000 if number > 1e11 else _US))
