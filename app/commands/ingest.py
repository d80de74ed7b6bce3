"""`hydrodiag ingest uci|csv|labels`: import logs and condition labels (one transaction per file)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands._common import open_store
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile, load_profile
from ingestion.progress import TerminalProgress

if TYPE_CHECKING:
    from ingestion.csv_plan import CsvOptions


def _profile(args: argparse.Namespace) -> EquipmentProfile | None:
    return load_profile(args.profile) if args.profile else None


def _report(summary: Any) -> int:
    print(summary.describe())
    return 0


def _uci(args: argparse.Namespace) -> int:
    from ingestion.uci_import import ingest_uci

    with open_store(args) as store:
        summary = ingest_uci(
            store,
            Path(args.folder),
            equipment_id=args.equipment,
            profile=_profile(args),
            force=args.force,
            progress=TerminalProgress(),
        )
    return _report(summary)


def _csv_options(args: argparse.Namespace) -> CsvOptions:
    from ingestion.csv_plan import csv_options, parse_map

    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            raise HydroDiagError(
                f"--start {args.start!r} is not an ISO 8601 time like 2026-03-02T06:00:00."
            ) from None
    maps = dict(parse_map(m) for m in args.map)
    header = None if args.header is None else args.header == "yes"
    time_columns = tuple(c.strip() for c in args.time_column.split(",")) if args.time_column else ()
    return csv_options(
        delimiter=args.delimiter,
        decimal=args.decimal,
        header=header,
        skip_rows=args.skip_rows,
        encoding=args.encoding,
        layout=args.layout,
        time_columns=time_columns,
        time_format=args.time_format,
        tz=args.tz,
        start=start,
        maps=maps,
        skip=tuple(args.skip),
        ignore_unknown=args.ignore_unknown,
        label_column=args.label_column,
    )


def _csv(args: argparse.Namespace) -> int:
    from ingestion.catalog import equipment_exists, equipment_profile
    from ingestion.csv_import import ingest_csv
    from ingestion.csv_sniff import sniff_csv

    options = _csv_options(args)
    profile = _profile(args)
    if args.dry_run:
        if profile is None:
            with open_store(args, read_only=True) as store:
                if equipment_exists(store.con, args.equipment):
                    profile = equipment_profile(store.con, args.equipment)
        if profile is None:
            raise HydroDiagError("--dry-run of a new equipment needs --profile.")
        for file in args.files:
            print(sniff_csv(Path(file), profile, options).describe())
        return 0
    with open_store(args) as store:
        for file in args.files:
            summary = ingest_csv(
                store,
                Path(file),
                equipment_id=args.equipment,
                profile=profile,
                options=options,
                force=args.force,
                progress=TerminalProgress(),
            )
            _report(summary)
            sys.stdout.flush()
    return 0


def _labels(args: argparse.Namespace) -> int:
    from ingestion.labels import import_labels

    with open_store(args) as store:
        summary = import_labels(
            store,
            Path(args.file),
            equipment_id=args.equipment,
            inspection_id=args.inspection,
            replace=args.replace,
            tz=args.tz,
        )
    return _report(summary)


_LABELS_HELP = """\
Import condition labels for an equipment whose data is already in the workspace: one row per
range of one component at one grade (0 optimal, 1 slightly degraded, 2 severely degraded,
3 near failure). Header row required; columns in any order, case-insensitive; ',' or ';'.

  component,start,end,grade,fault_type,raw_value,note
  ACC,2026-03-03T08:00:00,2026-03-03T14:00:00,2,accumulator_precharge_loss,100,precharge 100 bar
  MP1,2026-03-03 08:00,2026-03-03 20:00,0,,,

component: a component id of the equipment's profile (`hydrodiag profile show PROFILE`).
start, end: ISO 8601, range [start, end); naive stamps are UTC unless --tz, 'Z'/offsets honoured.
fault_type, raw_value, note: optional (note is not stored; fault_type is a snake_case id).
Nothing is written when a row is wrong; the error names the line and column.

example: hydrodiag ingest labels acc-check.csv --equipment exc-07 --inspection 3
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest", help="import UCI-layout folders or CSV logs", description=__doc__
    )
    sub = parser.add_subparsers(dest="ingest_command", metavar="KIND", required=True)

    p_uci = sub.add_parser(
        "uci",
        help="a folder in the UCI/ZeMA cycle layout (PS1.txt ... SE.txt, profile.txt)",
        description="Import a folder in the UCI cycle layout. Cycle k starts at "
        "2015-01-01T00:00:00Z + (k-1) x 60 s (cycle numbers from cycles.txt, else 1..n).",
    )
    p_uci.add_argument("folder", help="folder holding one tab-separated file per sensor")
    p_uci.add_argument("--equipment", required=True, help="equipment id to import into")
    p_uci.add_argument(
        "--profile", help="profile id or file (default: the equipment's, else zema-test-rig)"
    )
    p_uci.add_argument("--force", action="store_true", help="replace an earlier import of it")
    p_uci.set_defaults(handler=_uci)

    p_csv = sub.add_parser(
        "csv",
        help="data-logger / PLC CSV exports (wide or long)",
        description="Import CSV logs. Delimiter, decimal comma, header, encoding, time format "
        "and column-to-sensor mapping are detected; the options override. Try --dry-run first.",
    )
    p_csv.add_argument("files", nargs="+", help="CSV file(s)")
    p_csv.add_argument("--equipment", required=True, help="equipment id to import into")
    p_csv.add_argument("--profile", help="profile id or file (required for a new equipment)")
    p_csv.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=SENSOR[:UNIT]",
        help="column (header text or 1-based position) -> sensor, optionally its unit; repeatable",
    )
    p_csv.add_argument(
        "--skip", action="append", default=[], metavar="COLUMN", help="leave a column out"
    )
    p_csv.add_argument(
        "--ignore-unknown", action="store_true", help="import matched columns, skip the rest"
    )
    p_csv.add_argument(
        "--label-column",
        metavar="COLUMN",
        help="a 0/1 or text column (0, normal, ok: normal; anything else: anomalous) to import "
        "as the equipment's labels, not as a sensor; scored by `hydrodiag evaluate anomalies`",
    )
    p_csv.add_argument("--tz", help="zone of naive time stamps, e.g. Europe/Berlin (default UTC)")
    p_csv.add_argument(
        "--time-column", help="time column, or 'DATE,TIME' for separate date and time columns"
    )
    p_csv.add_argument(
        "--time-format",
        help="iso, epoch-s, epoch-ms, epoch-us, relative-s, or a strptime format like "
        "'%%d.%%m.%%Y %%H:%%M:%%S'",
    )
    p_csv.add_argument("--start", help="start time for relative-s time stamps (ISO 8601)")
    p_csv.add_argument("--delimiter", help="column separator (default: detected; 'tab' for tab)")
    p_csv.add_argument("--decimal", choices=[".", ","], help="decimal mark (default: detected)")
    p_csv.add_argument("--header", choices=["yes", "no"], help="is there a header row")
    p_csv.add_argument("--skip-rows", type=int, help="lines before the header (or data)")
    p_csv.add_argument("--encoding", choices=["utf-8", "latin-1", "utf-16"])
    p_csv.add_argument("--layout", choices=["wide", "long"])
    p_csv.add_argument("--force", action="store_true", help="replace an earlier import of a file")
    p_csv.add_argument(
        "--dry-run", action="store_true", help="show how the file would be read; import nothing"
    )
    p_csv.set_defaults(handler=_csv)

    p_labels = sub.add_parser(
        "labels",
        help="condition labels (component, start, end, grade) from a CSV file",
        description=_LABELS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_labels.add_argument("file", help="CSV file of label ranges")
    p_labels.add_argument("--equipment", required=True, help="equipment id the labels are for")
    p_labels.add_argument(
        "--inspection", type=int, metavar="N", help="inspection the labels come from"
    )
    p_labels.add_argument(
        "--replace",
        action="store_true",
        help="delete the labels an earlier import of this file brought, then import it",
    )
    p_labels.add_argument(
        "--tz", help="zone of naive time stamps, e.g. Europe/Berlin (default UTC)"
    )
    p_labels.set_defaults(handler=_labels)
