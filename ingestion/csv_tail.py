"""A log that ends mid-line (the logger lost power, a copy was cut short): find the cut line and
let the import read every whole line before it, with a note saying what was left out."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from ingestion.csv_plan import CsvPlan
from ingestion.csv_sniff import split_line

TAIL_BYTES: Final = 1 << 16  # a log line is far shorter; a longer cut line is left to DuckDB


@dataclass(frozen=True)
class CutLine:
    offset: int  # byte offset where the cut line starts: everything before it is whole lines
    text: str
    fields: int


def cut_last_line(plan: CsvPlan) -> CutLine | None:
    """The file's last line when it was cut off: no line break after it and fewer fields than
    the table has. (A last line without a line break but with every field is whole.)"""
    if plan.encoding == "utf-16":
        return None  # a cut UTF-16 log is left to the reader's own error
    size = plan.path.stat().st_size
    with plan.path.open("rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        tail = fh.read()
    if not tail or tail.endswith(b"\n"):
        return None
    newline = tail.rfind(b"\n")
    if newline < 0:
        return None
    text = tail[newline + 1 :].decode(plan.encoding, errors="replace").rstrip("\r")
    fields = len(split_line(text, plan.delimiter))
    if not text.strip() or fields >= len(plan.columns):
        return None
    return CutLine(size - len(tail) + newline + 1, text, fields)


@contextmanager
def whole_lines(plan: CsvPlan) -> Iterator[list[str]]:
    """Within the block, the plan reads only the whole lines of a cut file (a copy of them in
    the temporary folder, removed after); yields the notes for the import's summary."""
    cut = cut_last_line(plan)
    if cut is None:
        yield []
        return
    with tempfile.TemporaryDirectory(prefix="hydrodiag-whole-lines-") as folder:
        copy = Path(folder) / plan.path.name
        with plan.path.open("rb") as src, copy.open("wb") as dst:
            _copy_bytes(src, dst, cut.offset)
        plan.read_path = copy
        try:
            yield [
                f"the file ends mid-line: its last line {cut.text[:60]!r} has {cut.fields} of "
                f"{len(plan.columns)} fields (the logger stopped or the copy was cut short); "
                "it was left out and every line before it imported"
            ]
        finally:
            plan.read_path = None


def _copy_bytes(src: BinaryIO, dst: BinaryIO, count: int) -> None:
    left = count
    while left > 0:
        block = src.read(min(left, 1 << 22))
        if not block:
            break
        dst.write(block)
        left -= len(block)
