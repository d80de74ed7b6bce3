"""Read a folder in the UCI / ZeMA cycle layout into arrays (no database involved).

The layout (UCI data set 447 and our 1 Hz subset): one tab-separated text file per sensor,
named after the sensor (``PS1.txt``); row k is cycle k, the columns are that cycle's samples at
the sensor's own rate (60 columns = 1 Hz, 600 = 10 Hz, 6000 = 100 Hz for the 60 s cycle).
Optional ``profile.txt`` holds the component conditions per cycle and ``cycles.txt`` the
original cycle numbers. Parsing uses Arrow's multi-threaded CSV reader; only when that fails
does a line-by-line pass run to say exactly which file, line and column is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ingestion.digests import files_sha256
from ingestion.errors import HydroDiagError
from ingestion.uci_archive import is_archive, uci_folder

CYCLE_DURATION_S: Final = 60.0
"""Every UCI / ZeMA load cycle lasts 60 s; the samples per row divided by this give the rate."""

UCI_EPOCH: Final = np.datetime64("2015-01-01T00:00:00", "us")
"""The data sets carry no clock time. On import, cycle number k starts at
``UCI_EPOCH + (k - 1) * 60 s`` (UTC), so cycles keep their original spacing and gaps
(withheld cycles stay gaps) and two folders of the same rig never collide."""

DEFAULT_UCI_PROFILE: Final = "zema-test-rig"

UCI_SENSORS: Final[tuple[str, ...]] = (
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PS5",
    "PS6",
    "EPS1",
    "FS1",
    "FS2",
    "TS1",
    "TS2",
    "TS3",
    "TS4",
    "VS1",
    "CE",
    "CP",
    "SE",
)
"""The 17 sensor files of the original data set (and of the zema-test-rig profile)."""

LABEL_FILE: Final = "profile.txt"
CYCLE_FILE: Final = "cycles.txt"
_NOT_SENSOR_FILES: Final = frozenset(
    {LABEL_FILE, CYCLE_FILE, "description.txt", "documentation.txt"}
)


@dataclass(frozen=True)
class UciTarget:
    """How one column of ``profile.txt`` maps onto a component's condition grade."""

    column: int  # 0-based column in profile.txt
    component_id: str  # component of the zema-test-rig profile
    fault_type: str
    name: str  # what the column is called in the data set's documentation
    levels: Mapping[float, int]  # the data set's level -> grade 0 optimal .. 3 near failure


UCI_TARGETS: Final[tuple[UciTarget, ...]] = (
    UciTarget(0, "C1", "cooler_efficiency_loss", "cooler condition %", {100: 0, 20: 2, 3: 3}),
    UciTarget(1, "V10", "valve_switching_lag", "valve condition %", {100: 0, 90: 1, 80: 2, 73: 3}),
    UciTarget(2, "MP1", "pump_internal_leakage", "internal pump leakage", {0: 0, 1: 1, 2: 2}),
    UciTarget(
        3,
        "ACC",
        "accumulator_precharge_loss",
        "accumulator pressure bar",
        {130: 0, 115: 1, 100: 2, 90: 3},
    ),
)
"""profile.txt columns 1-4 -> (component, fault type, level -> grade); column 5 is the stable flag."""

STABLE_COLUMN: Final = 4  # 0 = conditions were stable, 1 = static conditions maybe not yet reached


class UciFormatError(HydroDiagError):
    """A UCI-layout folder or file is malformed; the message names file, line and column."""


@dataclass(frozen=True, eq=False)
class UciDataset:
    """The content of a UCI-layout folder, as arrays; row i of every array is the same cycle."""

    path: Path
    sensors: dict[str, np.ndarray]  # sensor id -> float64 [cycles, samples per cycle]
    rates_hz: dict[str, float]  # sensor id -> samples per second
    cycle_numbers: np.ndarray  # int64 [cycles]; cycles.txt or 1..n
    stable: np.ndarray | None  # bool [cycles]; True where profile.txt says conditions were stable
    raw_labels: np.ndarray | None  # float64 [cycles, 5]: profile.txt as written
    cycle_duration_s: float = CYCLE_DURATION_S
    warnings: tuple[str, ...] = field(default=())

    @property
    def n_cycles(self) -> int:
        return len(self.cycle_numbers)

    @property
    def value_count(self) -> int:
        return sum(int(a.size) for a in self.sensors.values())

    def grades(self) -> dict[str, np.ndarray]:
        """Condition grade (int8, 0..3) per cycle for C1, V10, MP1 and ACC; {} without labels."""
        if self.raw_labels is None:
            return {}
        return {t.component_id: _grades_of(self.raw_labels[:, t.column], t) for t in UCI_TARGETS}


def _grades_of(levels: np.ndarray, target: UciTarget) -> np.ndarray:
    out = np.full(levels.shape, -1, dtype=np.int8)
    for level, grade in target.levels.items():
        out[np.isclose(levels, level)] = grade
    return out


def read_uci_folder(path: Path, *, sensors: Sequence[str] | None = None) -> UciDataset:
    """Read every sensor file (``sensors``, default the 17 UCI ones) plus labels and cycle numbers,
    from a folder or an archive of one (:mod:`ingestion.uci_archive`).

    Raises :class:`UciFormatError` naming the file, line and column for an empty or missing
    folder, missing sensor files, ragged rows, non-numeric or empty cells, files that disagree
    in their number of cycles, unknown condition levels and duplicate cycle numbers.
    """
    if is_archive(Path(path)):
        with uci_folder(path) as folder:
            return read_uci_folder(folder, sensors=sensors)
    folder = Path(path)
    if not folder.is_dir():
        raise UciFormatError(
            f"{folder}: not a folder. Give the folder that holds PS1.txt, FS1.txt, ... "
            "(the UCI cycle layout), or a .zip / .tar.xz of it."
        )
    wanted = tuple(sensors) if sensors is not None else UCI_SENSORS
    files = {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".txt" and p.is_file()}
    if not files:
        raise UciFormatError(
            f"{folder}: the folder is empty (no .txt files). A UCI-layout folder holds one "
            "tab-separated file per sensor (PS1.txt, ..., SE.txt) and optionally profile.txt."
        )
    missing = [s for s in wanted if s not in files]
    if missing:
        raise UciFormatError(
            f"{folder}: {len(missing)} sensor file(s) missing: "
            + ", ".join(f"{s}.txt" for s in missing)
            + ". Copy them into the folder (every sensor of the profile needs its file)."
        )
    warnings: list[str] = []
    ignored = sorted(
        name
        for name, p in files.items()
        if name not in wanted and p.name.lower() not in _NOT_SENSOR_FILES
    )
    if ignored:
        warnings.append(
            "ignored file(s) that are not sensors of the profile: "
            + ", ".join(f"{n}.txt" for n in ignored)
        )

    arrays: dict[str, np.ndarray] = {}
    rates: dict[str, float] = {}
    for sensor_id in wanted:
        matrix = read_matrix(files[sensor_id])
        arrays[sensor_id] = matrix
        rates[sensor_id] = matrix.shape[1] / CYCLE_DURATION_S
        bad = int(np.count_nonzero(~np.isfinite(matrix)))
        if bad:
            warnings.append(
                f"{files[sensor_id].name}: {bad} NaN/inf value(s) kept as gaps (stored as NULL)"
            )

    counts = {s: a.shape[0] for s, a in arrays.items()}
    n_cycles = max(counts.values())
    if len(set(counts.values())) > 1:
        raise UciFormatError(
            f"{folder}: the sensor files disagree in their number of cycles (rows): "
            + ", ".join(f"{s}.txt {n}" for s, n in sorted(counts.items(), key=lambda kv: kv[1]))
            + ". Every file must hold one row per cycle, in the same order; "
            "remove the extra rows or restore the missing ones."
        )

    cycle_numbers = np.arange(1, n_cycles + 1, dtype=np.int64)
    cycle_file = folder / CYCLE_FILE
    if cycle_file.exists():
        cycle_matrix = read_matrix(cycle_file)
        _check_rows(cycle_file, cycle_matrix, n_cycles, 1)
        cycle_numbers = _integers(cycle_file, cycle_matrix[:, 0], 1)
        _check_unique_cycles(cycle_file, cycle_numbers)

    raw_labels: np.ndarray | None = None
    stable: np.ndarray | None = None
    label_file = folder / LABEL_FILE
    if label_file.exists():
        raw_labels = read_matrix(label_file)
        _check_rows(label_file, raw_labels, n_cycles, STABLE_COLUMN + 1)
        for target in UCI_TARGETS:
            _check_levels(label_file, raw_labels[:, target.column], target)
        flags = raw_labels[:, STABLE_COLUMN]
        bad_rows = np.flatnonzero(~np.isin(flags, (0.0, 1.0)))
        if bad_rows.size:
            raise UciFormatError(
                f"{label_file}, line {bad_rows[0] + 1}, column {STABLE_COLUMN + 1}: stable flag "
                f"{flags[bad_rows[0]]:g} is neither 0 (stable) nor 1 (not yet stable)."
            )
        stable = flags == 0.0
    else:
        warnings.append(f"no {LABEL_FILE}: cycles imported without condition labels")

    return UciDataset(
        path=folder,
        sensors=arrays,
        rates_hz=rates,
        cycle_numbers=cycle_numbers,
        stable=stable,
        raw_labels=raw_labels,
        warnings=tuple(warnings),
    )


def _check_rows(file: Path, matrix: np.ndarray, n_cycles: int, columns: int) -> None:
    if matrix.shape[0] != n_cycles:
        raise UciFormatError(
            f"{file}: {matrix.shape[0]} rows but the sensor files hold {n_cycles} cycles. "
            "It must have one row per cycle, in the same order as the sensor files."
        )
    if matrix.shape[1] < columns:
        raise UciFormatError(
            f"{file}, line 1: {matrix.shape[1]} column(s), expected {columns}"
            + (
                " (cooler %, valve %, pump leakage, accumulator bar, stable flag)."
                if columns > 1
                else "."
            )
        )


def _integers(file: Path, values: np.ndarray, column: int) -> np.ndarray:
    ints = values.astype(np.int64)
    bad = np.flatnonzero(ints != values)
    if bad.size:
        raise UciFormatError(
            f"{file}, line {bad[0] + 1}, column {column}: {values[bad[0]]:g} is not a whole "
            "cycle number."
        )
    return ints


def _check_unique_cycles(file: Path, numbers: np.ndarray) -> None:
    _, first, counts = np.unique(numbers, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup_value = numbers[first[counts > 1][0]]
        lines = np.flatnonzero(numbers == dup_value)[:2] + 1
        raise UciFormatError(
            f"{file}, lines {lines[0]} and {lines[1]}: cycle number {dup_value} appears more "
            "than once. Cycle numbers must be unique."
        )


def _check_levels(file: Path, levels: np.ndarray, target: UciTarget) -> None:
    known = np.array(list(target.levels), dtype=np.float64)
    ok = np.isclose(levels[:, None], known[None, :]).any(axis=1)
    bad = np.flatnonzero(~ok)
    if bad.size:
        allowed = "/".join(f"{level:g}" for level in target.levels)
        raise UciFormatError(
            f"{file}, line {bad[0] + 1}, column {target.column + 1} ({target.name}): level "
            f"{levels[bad[0]]:g} is not one of {allowed}. Fix the label or leave "
            f"{LABEL_FILE} out to import without labels."
        )


def _sniff_delimiter(file: Path) -> str:
    with file.open("rb") as fh:
        head = fh.read(65536)
    if b"\0" in head:
        raise UciFormatError(
            f"{file}: this is a binary file, not a text file of numbers. UCI-layout files are "
            "tab-separated text; check that you picked the right folder."
        )
    if not head.strip():
        raise UciFormatError(
            f"{file}: the file is empty. It must hold one row of samples per cycle."
        )
    first = head.splitlines()[0] if head.splitlines() else head
    for delimiter in ("\t", ";", ","):
        if delimiter.encode() in first:
            return delimiter
    return " "


def read_matrix(file: Path) -> np.ndarray:
    """A text file of numbers -> float64 [rows, columns], or a UciFormatError with line/column."""
    delimiter = _sniff_delimiter(file)
    if delimiter == " ":
        # Whitespace-aligned files (repeated spaces) are beyond Arrow's single-char delimiter.
        return _slow_parse(file, None)
    try:
        with file.open("rb") as fh:
            first_line = fh.readline()
        n_columns = len(first_line.rstrip(b"\r\n").split(delimiter.encode()))
        names = [f"c{i}" for i in range(n_columns)]
        table = pacsv.read_csv(
            file,
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.float64() for n in names},
                null_values=[""],
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return _slow_parse(file, delimiter)
    columns = list(table.columns)
    # A trailing delimiter at the end of every line makes an empty last column: drop it.
    if columns and columns[-1].null_count == table.num_rows and len(columns) > 1:
        columns = columns[:-1]
    if any(c.null_count for c in columns):
        return _slow_parse(file, delimiter)
    if not columns or table.num_rows == 0:
        raise UciFormatError(f"{file}: the file is empty. It must hold one row per cycle.")
    return np.column_stack([c.to_numpy() for c in columns]).astype(np.float64, copy=False)


def _slow_parse(file: Path, delimiter: str | None) -> np.ndarray:
    """Line-by-line parse that pinpoints the first problem; also the path for space-aligned files."""
    rows: list[list[float]] = []
    width: int | None = None
    width_line = 0
    trailing = False  # every line ends in a delimiter (decided by the first line)
    with file.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        for line_no, line in enumerate(fh, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            cells = text.split(delimiter) if delimiter else text.split()
            if width is None and delimiter and len(cells) > 1 and not cells[-1].strip():
                trailing = True
            if trailing and len(cells) > 1 and not cells[-1].strip():
                cells = cells[:-1]
            if width is None:
                width, width_line = len(cells), line_no
            elif len(cells) != width:
                raise UciFormatError(
                    f"{file}, line {line_no}: {len(cells)} values but line {width_line} has "
                    f"{width}. Every row must hold the same number of samples (one per column); "
                    "the file may be truncated or have a broken line."
                )
            row: list[float] = []
            for col, cell in enumerate(cells, start=1):
                stripped = cell.strip()
                if not stripped:
                    raise UciFormatError(
                        f"{file}, line {line_no}, column {col}: empty cell. Fill in the sample "
                        "or write nan for a missing one."
                    )
                try:
                    row.append(float(stripped))
                except ValueError:
                    raise UciFormatError(
                        f"{file}, line {line_no}, column {col}: {stripped[:40]!r} is not a number. "
                        "UCI-layout files hold only numbers (decimal point, tab-separated)."
                    ) from None
            rows.append(row)
    if not rows:
        raise UciFormatError(f"{file}: the file is empty. It must hold one row per cycle.")
    return np.asarray(rows, dtype=np.float64)


def folder_digest(folder: Path, sensors: Iterable[str]) -> str:
    """sha256 of what is read from a UCI-layout folder: the files of ``sensors``, and
    profile.txt and cycles.txt where present (:func:`ingestion.digests.files_sha256`).

    The workspace records it as the import's source digest and a model card as its training
    data's, so a card's data can be matched to a workspace source (and a folder to either).
    """
    files = [folder / f"{s}.txt" for s in sensors]
    files += [folder / n for n in (LABEL_FILE, CYCLE_FILE) if (folder / n).exists()]
    return files_sha256(files)
