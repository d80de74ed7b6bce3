"""`hydrodiag live`: poll a PLC over Modbus, or follow a growing CSV log, into the workspace."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands._common import workspace_path
from app.commands.simulate import stop_on_signals
from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    from ingestion.catalog import SourceImport
    from ingestion.profiles import EquipmentProfile


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "live",
        help="record a live feed (Modbus TCP/RTU or a growing CSV) into the workspace",
        description="Record a live feed into the workspace, with rolling diagnosis.",
    )
    sub = parser.add_subparsers(dest="live_kind", metavar="KIND", required=True)

    modbus = sub.add_parser(
        "modbus",
        help="poll a PLC over Modbus TCP or RTU (read-only)",
        description=(
            "Poll registers per a register map. HydroDiag only ever reads (function codes 3 "
            "and 4). Outages are recorded as gaps and never filled."
        ),
    )
    _common(modbus)
    modbus.add_argument("--map", type=Path, required=True, metavar="MAP.yaml", help="register map")
    modbus.add_argument("--host", help="Modbus TCP host")
    modbus.add_argument(
        "--port", type=int, default=502, help="Modbus TCP port (default: %(default)s)"
    )
    modbus.add_argument(
        "--rtu", metavar="PORT", help="serial port for Modbus RTU, e.g. /dev/ttyUSB0 or COM3"
    )
    modbus.add_argument(
        "--baud", type=int, default=19200, help="RTU baud rate (default: %(default)s)"
    )
    modbus.add_argument(
        "--parity", choices=["N", "E", "O"], default="N", help="RTU parity (default: %(default)s)"
    )
    modbus.add_argument("--stopbits", type=int, choices=[1, 2], default=1, help="RTU stop bits")
    modbus.add_argument(
        "--device-id", type=int, default=None, help="unit id (default: the map's device_id)"
    )
    modbus.add_argument(
        "--timeout",
        type=float,
        default=1.0,
        help="response timeout in seconds (default: %(default)s)",
    )
    modbus.add_argument(
        "--max-gap",
        type=int,
        default=0,
        help="read through up to N unused registers to save requests (default: %(default)s)",
    )
    modbus.set_defaults(handler=run_live_modbus)

    follow = sub.add_parser(
        "csv",
        help="follow a CSV file a logger keeps appending to",
        description=(
            "Follow a wide CSV (a timestamp column + a column per sensor) as a logger appends "
            "to it; partial last lines, truncation and rotation are handled."
        ),
    )
    _common(follow)
    follow.add_argument("--file", type=Path, required=True, help="the growing CSV file")
    follow.add_argument(
        "--timestamp-column", help="name of the timestamp column (default: detected)"
    )
    follow.add_argument("--from-end", action="store_true", help="skip what the file already holds")
    follow.add_argument(
        "--poll",
        type=float,
        default=0.25,
        help="seconds between looks at the file (default: %(default)s)",
    )
    follow.set_defaults(handler=run_live_csv)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--equipment", required=True, help="equipment id in the workspace")
    parser.add_argument("--profile", help="equipment profile (needed when the equipment is new)")
    parser.add_argument(
        "--duration", help="stop after this long (e.g. 90s, 10m, 8h; default: until Ctrl-C)"
    )
    parser.add_argument(
        "--diagnose-every",
        type=float,
        default=None,
        metavar="S",
        help="run a diagnosis of the recent data every S seconds",
    )
    parser.add_argument(
        "--diagnose-window",
        default="10m",
        help="how much recent data each rolling diagnosis covers (default: %(default)s)",
    )
    parser.add_argument(
        "--no-cycle-alignment",
        dest="align_cycles",
        action="store_false",
        help="cut the rolling diagnosis on a fixed clock instead of at the detected load-cycle "
        "starts (what the model was trained on)",
    )
    parser.add_argument(
        "--flush-interval",
        type=float,
        default=1.0,
        help="seconds between writes to the workspace (default: %(default)s)",
    )
    parser.add_argument(
        "--release-between-flushes",
        action="store_true",
        help="open the workspace only while writing, so other programs can use it in between",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _progress(args: argparse.Namespace) -> Any:
    if args.quiet:
        return None

    def show(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    return show


def _profile(args: argparse.Namespace) -> EquipmentProfile:
    """The profile the recording will use: --profile, else the equipment's in the workspace
    (looked up read-only: nothing is written before every input has been checked)."""
    from ingestion.catalog import EquipmentError, equipment_exists, equipment_profile
    from ingestion.profiles import load_profile
    from ingestion.workspace import open_workspace

    if args.profile:
        return load_profile(args.profile)
    path = workspace_path(args)
    if path.exists():
        with open_workspace(path, read_only=True) as store:
            if equipment_exists(store.con, args.equipment):
                return equipment_profile(store.con, args.equipment)
    raise EquipmentError(
        f"equipment {args.equipment!r} is new: say which machine it is with --profile "
        "(see `hydrodiag profile list`)."
    )


def _prepare(
    args: argparse.Namespace,
    kind: str,
    uri: str,
    options: dict[str, Any],
    profile: EquipmentProfile,
) -> Any:
    """Begin the recording's source (equipment made sure of) and the writer that fills it;
    with --release-between-flushes both open the workspace file only while they write.
    Call it only once every input has been checked: it commits the source at once."""
    from ingestion.catalog import begin_live_source
    from ingestion.live_writer import LiveWriter, PathSink, StoreSink
    from ingestion.workspace import open_workspace

    path = workspace_path(args)
    store = None if args.release_between_flushes else open_workspace(path)
    source = begin_live_source(
        path if store is None else store,
        equipment_id=args.equipment,
        kind=kind,
        uri=uri,
        options=options,
        profile=profile if args.profile else None,
    )
    for note in source.notes:
        print(note, file=sys.stderr)
    sink = PathSink(path) if store is None else StoreSink(store)
    writer = LiveWriter(sink, equipment_id=args.equipment, source_id=source.source_id, warn=_warn)
    return source, store, path, writer


def _diagnose_fn(args: argparse.Namespace, store: Any, path: Path) -> Any:
    if not args.diagnose_every:
        return None
    from ingestion.simulator import parse_duration

    window_s = parse_duration(args.diagnose_window)

    def run() -> str:
        from ingestion.workspace import open_workspace

        align = getattr(args, "align_cycles", True)
        if store is not None:
            return rolling_diagnosis(store, args.equipment, window_s, align=align)
        with open_workspace(path) as own:
            return rolling_diagnosis(own, args.equipment, window_s, align=align)

    return run


def _check_intervals(args: argparse.Namespace) -> None:
    for option, value in (
        ("--flush-interval", args.flush_interval),
        ("--diagnose-every", args.diagnose_every),
    ):
        if value is not None and not 0 < value <= 24 * 3600:
            raise HydroDiagError(f"{option} {value}: give seconds between 0 and 86400.")


def _finish(source: SourceImport, store: Any, acquisitions: int, summary: Any) -> None:
    warnings = (
        [f"{summary.failed_flushes} flushes failed and were retried"]
        if summary.failed_flushes
        else []
    )
    source.complete(rows=acquisitions, warnings=warnings)
    if store is not None:
        store.close()
    print(summary.describe())


def run_live_modbus(args: argparse.Namespace) -> int:
    from ingestion.modbus.client import ReadOnlyModbusClient, RtuEndpoint, TcpEndpoint
    from ingestion.modbus.poller import ModbusPoller
    from ingestion.modbus.registermap import load_register_map
    from ingestion.simulator import parse_duration

    if bool(args.host) == bool(args.rtu):
        raise HydroDiagError("give either --host (Modbus TCP) or --rtu PORT (Modbus RTU).")
    endpoint: TcpEndpoint | RtuEndpoint = (
        TcpEndpoint(args.host, args.port)
        if args.host
        else RtuEndpoint(args.rtu, baudrate=args.baud, parity=args.parity, stopbits=args.stopbits)
    )
    duration = parse_duration(args.duration) if args.duration is not None else None
    _check_intervals(args)
    # Everything is checked before the workspace is touched: a refused map leaves no source.
    profile = _profile(args)
    register_map = load_register_map(args.map, profile.sensor_ids)
    client_uri = str(endpoint)
    source, store, path, writer = _prepare(
        args, "modbus", client_uri, {"map": str(args.map)}, profile
    )
    device_id = args.device_id if args.device_id is not None else register_map.device_id
    client = ReadOnlyModbusClient(endpoint, device_id=device_id, timeout_s=args.timeout)
    poller = ModbusPoller(client, register_map, writer, max_gap=args.max_gap, warn=_warn)
    print(
        f"polling {client} per {args.map} into equipment {args.equipment!r}; Ctrl-C stops",
        file=sys.stderr,
    )

    def feed(stop: threading.Event) -> None:
        poller.stop = stop
        poller.run()

    _record(
        args, source, store, path, writer, feed, duration, poller.stats, lambda: poller.stats.reads
    )
    return 0


def run_live_csv(args: argparse.Namespace) -> int:
    from ingestion.backoff import Backoff
    from ingestion.csv_follower import CsvFollower
    from ingestion.live_writer import Gap
    from ingestion.simulator import parse_duration

    duration = parse_duration(args.duration) if args.duration is not None else None
    _check_intervals(args)
    if not args.poll > 0 or args.poll > 3600:
        raise HydroDiagError(f"--poll {args.poll}: give seconds between 0 and 3600, e.g. 0.25.")
    profile = _profile(args)
    follower = CsvFollower(
        args.file,
        profile.sensor_ids,
        timestamp_column=args.timestamp_column,
        from_start=not args.from_end,
        warn=_warn,
    )
    follower.check()  # a missing, binary or foreign file is refused before a source exists
    source, store, path, writer = _prepare(
        args, "live_csv", str(args.file.resolve()), {"from_end": args.from_end}, profile
    )
    follower.on_gap = lambda start, end, reason: writer.add_gap(Gap(start, end, reason))
    rows = 0

    def take() -> None:
        nonlocal rows
        for sensors, ts, values in follower.poll():
            writer.add_many(sensors, ts, values)
            rows += len(ts)

    def feed(stop: threading.Event) -> None:
        # a file that cannot be read for a while (permissions, a network drive) is retried
        # with backoff; the user hears of it once per outage
        backoff = Backoff(first_s=args.poll, cap_s=max(5.0, args.poll), settle_s=0.0)
        failing = False
        while not stop.is_set():
            try:
                take()
                wait, failing = args.poll, False
                backoff.succeeded()
            except OSError as exc:
                if not failing:
                    _warn(f"{args.file}: cannot read the file ({exc.strerror}); retrying.")
                failing, wait = True, backoff.next()
            stop.wait(wait)
        with contextlib.suppress(OSError):
            take()  # what arrived since the last look
        follower.close()

    print(f"following {args.file} into equipment {args.equipment!r}; Ctrl-C stops", file=sys.stderr)
    _record(args, source, store, path, writer, feed, duration, None, lambda: rows)
    return 0


def _record(
    args: argparse.Namespace,
    source: SourceImport,
    store: Any,
    path: Any,
    writer: Any,
    feed: Callable[[threading.Event], None],
    duration_s: float | None,
    poll_stats: Any,
    acquisitions: Callable[[], int],
) -> None:
    """Run the live session of either feed until its duration, Ctrl-C or the feed's end, then
    close the source with its summary (``acquisitions`` is read after the session)."""
    from ingestion.live import LiveSummary, run_live_session

    stop_on_signals()
    try:
        seconds, diagnoses = run_live_session(
            writer,
            feed,
            duration_s=duration_s,
            flush_interval_s=args.flush_interval,
            diagnose_every_s=args.diagnose_every,
            diagnose=_diagnose_fn(args, store, path),
            progress=_progress(args),
        )
    except Exception as exc:  # the feed failed: close the books of what was stored, then say so
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        source.interrupt(f"the recording stopped on an error: {reason}")
        if store is not None:
            store.close()
        raise
    summary = LiveSummary.from_run(source.source_id, seconds, writer, diagnoses, poll_stats)
    _finish(source, store, acquisitions(), summary)


def rolling_diagnosis(store: Any, equipment_id: str, window_s: float, *, align: bool = True) -> str:
    """Diagnose the last ``window_s`` seconds (in whole detected load cycles where the machine
    has them) through the diagnosis engine (:func:`gnn.engine.diagnose_recent`), store it, and
    return a one-line summary."""
    try:
        from gnn.engine import diagnose_recent
    except ImportError:
        raise HydroDiagError("the diagnosis engine is not available in this build.") from None
    from ingestion.cycles import UNALIGNED_WARNING  # here: the CLI starts without numpy

    diagnosis = diagnose_recent(store, equipment_id, window_s, align=align)
    health = "n/a" if diagnosis.overall_health is None else f"{diagnosis.overall_health:.2f}"
    aligned = (
        "windows not aligned to load cycles"
        if any(w.kind == UNALIGNED_WARNING for w in diagnosis.data_quality)
        else diagnosis.selection
    )
    return (
        f"{diagnosis.window_end:%H:%M:%S} health {health} "
        f"({diagnosis.overall_status.value}): {diagnosis.verdict} [{aligned}]"
    )
