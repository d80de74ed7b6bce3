"""What the import dialog remembers and says about a logger's columns. Qt-free.

- The column → sensor mapping a user chose, remembered per equipment (a JSON file in the user
  data directory, beside the settings), so that a second file from the same logger imports with
  no manual mapping. Columns are known by their name (header without unit; for a long file the
  sensor name in it), compared as :func:`ingestion.csv_columns.norm_name` compares them.
- The warning before Import ("9 of 10 columns will be skipped") and the note after it on
  skipped columns that hold text (comments or condition labels, not measurements).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ingestion.csv_columns import norm_name
from ingestion.resources import user_data_dir

MEMORY_FILE = "column_mappings.json"

Choice = tuple[str | None, str | None]  # (sensor, or None to skip; unit in the file, or None)

log = logging.getLogger(__name__)


def memory_path() -> Path:
    return user_data_dir() / MEMORY_FILE


def _load(path: Path) -> dict[str, dict[str, list[str | None]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable remembered mappings (%s); starting afresh", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def recall(equipment_id: str, *, path: Path | None = None) -> dict[str, Choice]:
    """The choices remembered for ``equipment_id``: normalised column name -> choice."""
    entry = _load(path or memory_path()).get(equipment_id, {})
    out: dict[str, Choice] = {}
    if isinstance(entry, dict):
        for name, value in entry.items():
            if isinstance(value, list) and len(value) == 2:
                sensor, unit = value
                out[name] = (
                    sensor if isinstance(sensor, str) else None,
                    unit if isinstance(unit, str) else None,
                )
    return out


def remember(equipment_id: str, choices: Mapping[str, Choice], *, path: Path | None = None) -> None:
    """Add ``choices`` (column name as in the file -> choice) to what is remembered for
    ``equipment_id``; a later choice for the same column replaces the earlier. Written
    atomically; a failure to write is logged, never raised (the import itself succeeded)."""
    file = path or memory_path()
    data = _load(file)
    entry = data.get(equipment_id)
    entry = dict(entry) if isinstance(entry, dict) else {}
    for name, (sensor, unit) in choices.items():
        if norm_name(name):
            entry[norm_name(name)] = [sensor, unit]
    data[equipment_id] = entry
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, file)
    except OSError as exc:
        log.warning("cannot remember the column mapping in %s: %s", file, exc)


def recalled_for(names: Sequence[str], remembered: Mapping[str, Choice]) -> dict[int, Choice]:
    """Row -> remembered choice, for the rows whose column name is remembered."""
    return {
        row: remembered[norm_name(name)]
        for row, name in enumerate(names)
        if norm_name(name) in remembered
    }


def skip_warning(labels: Sequence[str], sensors: Sequence[str | None], *, kind: str) -> str:
    """'▲ 9 of 10 columns will be skipped (not imported): 'A', 'B', …' or '' when none is;
    ``kind`` is 'columns' or 'names' (of a long file)."""
    skipped = [label for label, sensor in zip(labels, sensors, strict=True) if sensor is None]
    if not skipped:
        return ""
    shown = ", ".join(skipped[:6]) + (f" and {len(skipped) - 6} more" if len(skipped) > 6 else "")
    verb = "is" if len(skipped) == 1 else "are"
    return (
        f"▲ {len(skipped)} of {len(labels)} {kind} will be skipped (not imported): {shown}. "
        f"Choose a sensor for any that {verb} a measurement."
    )


def is_text_column(cells: Sequence[str], decimal: str) -> bool:
    """Whether a column's data cells hold words rather than numbers (a comment or a condition
    label column): more than half of its non-empty cells are not numbers."""
    filled = [c.strip() for c in cells if c.strip()]
    if not filled:
        return False
    words = 0
    for cell in filled:
        try:
            float(cell.replace(decimal, ".") if decimal != "." else cell)
        except ValueError:
            words += 1
    return words * 2 > len(filled)


def text_column_notes(skipped: Sequence[tuple[str, Sequence[str]]], decimal: str) -> list[str]:
    """A note per skipped column (label, data cells) that holds text."""
    return [
        f"note: {label} holds text (comments or condition labels), not measurements, and was "
        "skipped. Condition labels for training are imported with File → Import condition "
        "labels."
        for label, cells in skipped
        if is_text_column(cells, decimal)
    ]
