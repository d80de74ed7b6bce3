"""How a CSV log is to be read: the user's options, and the plan the sniffer makes of the file's
layout and columns (:mod:`ingestion.csv_sniff`) for the import to follow (:mod:`ingestion.csv_import`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingestion.errors import HydroDiagError
from ingestion.timestamps import TimeSpec


class CsvFormatError(HydroDiagError):
    """A CSV file that cannot be imported as it is; the message says where and what to do."""


class ColumnMap(BaseModel):
    """``--map COLUMN=SENSOR[:UNIT]``: which sensor a column feeds and the unit it is written in."""

    model_config = ConfigDict(frozen=True)

    sensor: str
    unit: str | None = None


def parse_map(text: str) -> tuple[str, ColumnMap]:
    """``"Druck P1=PS1:psi"`` -> ("Druck P1", ColumnMap(sensor="PS1", unit="psi"))."""
    column, sep, target = text.rpartition("=")
    if not sep or not column.strip() or not target.strip():
        raise CsvFormatError(
            f"--map {text!r}: write COLUMN=SENSOR or COLUMN=SENSOR:UNIT, e.g. "
            "--map 'Pressure 1=PS1:psi' (COLUMN may be the header text or the 1-based position)."
        )
    sensor, _, unit = target.partition(":")
    return column.strip(), ColumnMap(sensor=sensor.strip(), unit=unit.strip() or None)


class CsvOptions(BaseModel):
    """What the user may state instead of letting :func:`ingestion.csv_sniff.sniff_csv` detect it."""

    model_config = ConfigDict(frozen=True)

    delimiter: str | None = None
    decimal: Literal[".", ","] | None = None
    header: bool | None = None
    skip_rows: int | None = Field(default=None, ge=0, description="lines before the header/data")
    encoding: Literal["utf-8", "latin-1", "utf-16"] | None = None
    layout: Literal["wide", "long"] | None = None
    time_columns: tuple[str, ...] = ()
    time_format: str | None = None
    tz: str | None = None
    start: datetime | None = None
    maps: dict[str, ColumnMap] = {}
    skip: tuple[str, ...] = ()
    ignore_unknown: bool = False
    # A column of 0/1 or text labels (normal / anomalous) to import as the equipment's labels
    # (``ingest csv --label-column anomaly``): never a sensor, so it is also one of ``skip``.
    label_column: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _label_column_is_skipped(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("label_column"):
            skip = tuple(data.get("skip") or ())
            if data["label_column"] not in skip:
                data = {**data, "skip": (*skip, data["label_column"])}
        return data

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is None or value in {"\\t", "tab", "TAB"}:
            return value
        if len(value) != 1 or value in {'"', "\n", "\r"} or value.isalnum():
            raise ValueError(
                f"{value!r} is not a column separator: give one character such as ';' ',' '|' "
                "or 'tab'"
            )
        return value


def csv_options(**values: Any) -> CsvOptions:
    """:class:`CsvOptions` from option values, or a :class:`CsvFormatError` naming the option
    (``--skip-rows``, ``--delimiter``, ...) and what it takes."""
    try:
        return CsvOptions(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')} {e.get('input')!r}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise CsvFormatError(f"invalid option: {problems}.") from None


@dataclass
class ColumnPlan:
    """One column of the file and what the import does with it."""

    index: int  # 0-based
    name: str  # header text without the unit, or "column N"
    header: str  # header text as written
    unit: str | None  # unit stated by header, unit row or --map
    role: str = "unknown"  # time, date, clock, value, sensor_name, value_long, unit_long, skipped
    sensor: str | None = None
    scale: float = 1.0
    offset: float = 0.0

    @property
    def sql_name(self) -> str:
        return f"c{self.index}"

    def label(self) -> str:
        return (
            f"column {self.index + 1} ({self.header!r})"
            if self.header
            else f"column {self.index + 1}"
        )


@dataclass
class CsvTable:
    """How a CSV file is laid out, whatever machine it comes from: what
    :func:`ingestion.csv_sniff.sniff_table` reads before a profile is involved. The time and
    long-layout columns have their roles; the value columns of a wide file do not yet."""

    path: Path
    encoding: str
    delimiter: str
    decimal: str
    header_line: int | None  # 1-based line of the header, None without header
    units_line: int | None
    data_start_line: int  # 1-based line of the first data row
    layout: str
    columns: list[ColumnPlan]
    time_spec: TimeSpec
    tz: str | None
    notes: list[str] = field(default_factory=list)
    mean_line_bytes: float = 100.0
    options: CsvOptions = field(default_factory=CsvOptions)
    read_path: Path | None = None  # what DuckDB reads when not ``path`` (ingestion.csv_tail)

    def time_columns(self) -> list[ColumnPlan]:
        return [c for c in self.columns if c.role in {"time", "date", "clock"}]


@dataclass
class CsvPlan(CsvTable):
    """Everything :func:`ingestion.csv_sniff.sniff_csv` decided: the table with its columns
    mapped to a profile's sensors (and unit conversions). Shown by ``--dry-run``, followed by
    the import and stored with the source."""

    def value_columns(self) -> list[ColumnPlan]:
        return [c for c in self.columns if c.role == "value"]

    def is_label_column(self, column: ColumnPlan) -> bool:
        """Whether ``column`` is the ``--label-column`` (by header text or 1-based position)."""
        ref = self.options.label_column
        if not ref:
            return False
        by_name = bool(column.header) and ref.casefold() in (
            column.header.casefold(),
            column.name.casefold(),
        )
        return by_name or (ref.isdigit() and int(ref) == column.index + 1)

    def options_json(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "decimal": self.decimal,
            "header_line": self.header_line,
            "units_line": self.units_line,
            "data_start_line": self.data_start_line,
            "layout": self.layout,
            "time": self.time_spec.description,
            "time_columns": [c.header for c in self.time_columns()],
            "tz": self.tz or "UTC",
            "columns": {
                c.header or c.label(): (
                    {"sensor": c.sensor, "unit": c.unit, "scale": c.scale, "offset": c.offset}
                    if c.role == "value"
                    else ("labels" if self.is_label_column(c) else c.role)
                )
                for c in self.columns
            },
        }

    def describe(self) -> str:
        lines = [
            f"{self.path}: {self.layout} layout, encoding {self.encoding}, delimiter "
            f"{self.delimiter!r}, decimal {self.decimal!r}",
            f"  header line {self.header_line or '-'}, unit line {self.units_line or '-'}, "
            f"data from line {self.data_start_line}",
            f"  time: {', '.join(c.header or c.label() for c in self.time_columns())} as "
            f"{self.time_spec.description}, zone {self.tz or 'UTC'}",
        ]
        for c in self.columns:
            if c.role == "value":
                conv = (
                    f" ({c.unit} -> x*{c.scale:.6g}{c.offset:+.6g})"
                    if (c.scale, c.offset) != (1.0, 0.0)
                    else (f" ({c.unit})" if c.unit else "")
                )
                lines.append(f"  {c.label()} -> {c.sensor}{conv}")
            elif c.role == "skipped" and self.is_label_column(c):
                lines.append(f"  {c.label()}: labels (0/1 or text: normal / anomalous)")
            elif c.role not in {"time", "date", "clock"}:
                lines.append(f"  {c.label()}: {c.role}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
