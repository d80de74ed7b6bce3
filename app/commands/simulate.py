"""`hydrodiag simulate`: the reference rig as a CSV log or as a live Modbus TCP/RTU server."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    from ingestion.modbus.registermap import RegisterMap
    from ingestion.simulator import Scenario


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate the reference rig: a CSV log, or a live Modbus server",
        description=(
            "Simulate the UCI/ZeMA reference rig: repeated 60 s load cycles with component "
            "conditions following a scenario. Writes a wide CSV (--out) that "
            "`hydrodiag ingest csv` reads, or serves the sensors live as Modbus registers "
            "(--modbus-tcp / --modbus-rtu) per a register map (--write-map writes it)."
        ),
    )
    parser.add_argument(
        "--profile", default="zema-test-rig", help="equipment profile (default: %(default)s)"
    )
    parser.add_argument(
        "--scenario", default="healthy", help="scenario name (see --list-scenarios)"
    )
    parser.add_argument(
        "--conditions",
        help="fixed conditions instead of a scenario, e.g. cooler=20,valve=90,pump=1,accumulator=115",
    )
    parser.add_argument("--list-scenarios", action="store_true", help="list scenarios and exit")
    parser.add_argument(
        "--duration",
        default=None,
        help="length of the log, or how long to serve (e.g. 90s, 15m, 8h); the scenario spans "
        "it (default: 8h for --out; a server runs until Ctrl-C with an 8 h scenario)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="write every sensor at this rate in Hz (default: each sensor at its profile rate)",
    )
    parser.add_argument(
        "--start", help="UTC start time of the log, ISO 8601 (default: now minus the duration)"
    )
    parser.add_argument("--out", type=Path, help="write the log to this CSV file")
    parser.add_argument("--modbus-tcp", metavar="HOST:PORT", help="serve live over Modbus TCP")
    parser.add_argument(
        "--modbus-rtu", metavar="PORT", help="serve live over Modbus RTU on a serial port"
    )
    parser.add_argument(
        "--baud", type=int, default=19200, help="RTU baud rate (default: %(default)s)"
    )
    parser.add_argument(
        "--write-map", type=Path, metavar="MAP.yaml", help="write the register map the server uses"
    )
    parser.add_argument(
        "--map",
        type=Path,
        metavar="MAP.yaml",
        help="serve per this register map instead of the default one",
    )
    parser.add_argument(
        "--register-type",
        choices=["float32", "int16", "uint16", "int32", "uint32"],
        default="float32",
        help="register type of the default map (default: %(default)s)",
    )
    parser.add_argument(
        "--table",
        choices=["input", "holding"],
        default="input",
        help="register table of the default map (default: %(default)s)",
    )
    parser.set_defaults(handler=run_simulate)


MAX_RATE_HZ = 1000.0  # ten times the rig's fastest sensor; more is a typo, not a logger


def run_simulate(args: argparse.Namespace) -> int:
    from ingestion.simulator import (
        SCENARIOS,
        fixed_scenario,
        get_scenario,
        parse_conditions,
        parse_duration,
        write_simulated_csv,
    )

    if args.list_scenarios:
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:22s} {scenario.description}")
        return 0
    scenario = (
        fixed_scenario(parse_conditions(args.conditions))
        if args.conditions
        else get_scenario(args.scenario)
    )
    if args.rate is not None and not 0 < args.rate <= MAX_RATE_HZ:
        raise HydroDiagError(
            f"--rate {args.rate:g}: give a sampling rate above 0 and at most {MAX_RATE_HZ:g} Hz."
        )
    if not (args.out or args.modbus_tcp or args.modbus_rtu or args.write_map):
        raise HydroDiagError(
            "say what to produce: --out FILE.csv, --modbus-tcp HOST:PORT, --modbus-rtu PORT or --write-map MAP.yaml."
        )
    if args.out and (args.modbus_tcp or args.modbus_rtu):
        raise HydroDiagError("--out writes a log, --modbus-* serves live: use one of them per run.")
    if args.out:
        _check_out(args.out)
        duration = parse_duration("8h" if args.duration is None else args.duration)
        start = _start(args.start, duration)
        total = max(1, int(-(-duration // 60)))

        def progress(done: int, n: int) -> None:
            if sys.stderr.isatty() and (done % 20 == 0 or done == n):
                print(
                    f"\r  {done}/{n} cycles",
                    end="" if done < n else "\n",
                    file=sys.stderr,
                    flush=True,
                )

        rows = write_simulated_csv(
            args.out,
            scenario,
            duration,
            start=start,
            seed=args.seed,
            rate_hz=args.rate,
            progress=progress,
        )
        print(
            f"wrote {args.out}: {rows} rows, {total} cycles of scenario {scenario.name!r} from {start:%Y-%m-%d %H:%M:%S} UTC (seed {args.seed})"
        )
        if args.write_map:
            _write_map(args)
        return 0
    return _serve(args, scenario)


def _check_out(out: Path) -> None:
    """Refuse, before simulating hours of data, a log that could not be written."""
    if out.is_dir():
        raise HydroDiagError(
            f"--out {out}: is a folder; give a file name such as {out / 'log.csv'}."
        )
    if not out.parent.is_dir():
        raise HydroDiagError(
            f"--out {out}: the folder {out.parent} does not exist. Create it or pick another file."
        )
    if not os.access(out.parent, os.W_OK):
        raise HydroDiagError(f"--out {out}: the folder {out.parent} is read-only for you.")


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (also for a background process, where SIGINT starts out ignored)
    end the run through KeyboardInterrupt, so the caller's clean-up still runs."""
    import signal

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _start(text: str | None, duration: float) -> datetime:
    if text:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise HydroDiagError(
                f"--start {text!r}: write it as ISO 8601, e.g. 2026-01-05T06:00:00."
            ) from None
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0, second=0)
    return now - timedelta(seconds=duration)


def _build_map(args: argparse.Namespace) -> RegisterMap:
    from ingestion.modbus.registermap import (
        DataType,
        Table,
        load_register_map,
        simulator_register_map,
    )
    from ingestion.profiles import load_profile

    profile = load_profile(args.profile)
    if args.map:
        return load_register_map(args.map, profile.sensor_ids)
    sensors = [(s.id, s.unit, float(args.rate or s.rate_hz)) for s in profile.sensors]
    return simulator_register_map(
        sensors, table=Table(args.table), data_type=DataType(args.register_type)
    )


def _write_map(args: argparse.Namespace) -> None:
    register_map = _build_map(args)
    args.write_map.write_text(register_map.to_yaml(), encoding="utf-8")
    print(f"wrote the register map to {args.write_map}")


def _serve(args: argparse.Namespace, scenario: Scenario) -> int:
    from ingestion.modbus.server import ModbusSimServer
    from ingestion.simulator import RigValueSource, parse_duration

    register_map = _build_map(args)
    if args.write_map:
        _write_map(args)
    if not (args.modbus_tcp or args.modbus_rtu):
        return 0
    serve_s = parse_duration(args.duration) if args.duration is not None else None
    source = RigValueSource(scenario, serve_s or 8 * 3600.0, seed=args.seed, rate_hz=args.rate)
    if args.modbus_tcp:
        host, _, port = args.modbus_tcp.rpartition(":")
        if not host or not port.isdigit():
            raise HydroDiagError(
                f"--modbus-tcp {args.modbus_tcp!r}: write it as HOST:PORT, e.g. 127.0.0.1:5020."
            )
        server = ModbusSimServer(register_map, source, host=host, port=int(port))
        where = f"Modbus TCP {host}:{port}"
    else:
        server = ModbusSimServer(register_map, source, rtu_port=args.modbus_rtu, baudrate=args.baud)
        where = f"Modbus RTU {args.modbus_rtu} at {args.baud} baud"
    stop_on_signals()
    server.start()
    print(
        f"serving scenario {scenario.name!r} on {where} (device id {register_map.device_id}, "
        f"{len(register_map.registers)} registers); Ctrl-C stops",
        flush=True,
    )
    try:
        server.serve_until(serve_s)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        reads = sum(server.served.values())
        print(f"served {reads} reads ({server.updates} register updates)", flush=True)
        # per read block: a client that stored every read has this many samples per sensor
        from ingestion.modbus.registermap import plan_batches

        blocks = {(b.table, b.address): b for bs in plan_batches(register_map).values() for b in bs}
        for (table, address), count in sorted(server.served.items()):
            block = blocks.get((table, address))
            sensors = ", ".join(e.sensor for e in block.entries) if block else "?"
            print(f"  {table.value} {address}: {count} reads ({sensors})", flush=True)
    return 0
