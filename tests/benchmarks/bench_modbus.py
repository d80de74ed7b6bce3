"""Live Modbus benchmark over loopback: the simulator server in its own process, our poller and
writer in this one, into a real workspace file.

Cases (as the issue asks): 40 float32 sensors at 100 Hz, and 200 float32 sensors at 10 Hz, each
for --seconds (default 60). For each case, in the same run:

  ours    contiguous registers read in batches (<= 125 registers per request)
  naive   the same sensors spaced apart, one request per sensor - what a poller without
          batching does (run for --naive-seconds, default 15)

Reported per run: achieved poll rate vs target, samples lost (scheduled polls that did not
happen + acquired samples not stored), poll start jitter p50/p99, flush latency p50/p99/max,
CPU use of the client and of the server process. Prints a table, writes
tests/benchmarks/results/bench_modbus.json.

    .venv/bin/python tests/benchmarks/bench_modbus.py               # 60 s per case
    .venv/bin/python tests/benchmarks/bench_modbus.py --seconds 10  # quick look
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ingestion.catalog import begin_live_source, ensure_equipment  # noqa: E402
from ingestion.live_writer import LiveWriter, StoreSink  # noqa: E402
from ingestion.modbus.client import ReadOnlyModbusClient, TcpEndpoint  # noqa: E402
from ingestion.modbus.poller import ModbusPoller  # noqa: E402
from ingestion.modbus.registermap import (  # noqa: E402
    DataType,
    PollGroup,
    RegisterEntry,
    RegisterMap,
    Table,
)
from ingestion.profiles import load_profile  # noqa: E402
from ingestion.workspace import open_workspace  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CASES = {"40x100Hz": (40, 100.0), "200x10Hz": (200, 10.0)}


def build_map(n: int, rate: float, *, spaced: bool) -> RegisterMap:
    step = 4 if spaced else 2  # spaced: a 2-register hole after every float32
    group = f"{rate:g}hz"
    return RegisterMap(
        groups=(PollGroup(name=group, period_s=1.0 / rate),),
        registers=tuple(
            RegisterEntry(
                sensor=f"B{i:03d}", table=Table.INPUT, address=i * step, type=DataType.FLOAT32,
                group=group,
            )
            for i in range(n)
        ),
    )  # fmt: skip


class Waves:
    def __init__(self, n: int) -> None:
        self.names = [f"B{i:03d}" for i in range(n)]
        self.phase = np.linspace(0, 2 * np.pi, n)

    def values_at(self, t: float) -> dict[str, float]:
        v = 100.0 + 10.0 * np.sin(2 * np.pi * 0.5 * t + self.phase)
        return dict(zip(self.names, v.tolist(), strict=True))


def serve(case: str, port: int, spaced: bool) -> None:
    """Child process: serve the case's map until stdin closes."""
    from ingestion.modbus.server import ModbusSimServer

    n, rate = CASES[case]
    with ModbusSimServer(build_map(n, rate, spaced=spaced), Waves(n), port=port, update_hz=rate):
        print("ready", flush=True)
        sys.stdin.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_case(case: str, seconds: float, *, spaced: bool, folder: Path) -> dict[str, Any]:
    n, rate = CASES[case]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", case, "--port", str(port)]
        + (["--spaced"] if spaced else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    server_ps = psutil.Process(server.pid)
    me = psutil.Process()
    path = folder / f"{case}-{'naive' if spaced else 'ours'}.duckdb"
    store = open_workspace(path)
    with store.transaction() as con:
        ensure_equipment(con, "bench", load_profile("zema-test-rig"))
    source_id = begin_live_source(
        store, equipment_id="bench", kind="modbus", uri="b", options={}
    ).source_id
    writer = LiveWriter(StoreSink(store), equipment_id="bench", source_id=source_id)
    register_map = build_map(n, rate, spaced=spaced)
    client = ReadOnlyModbusClient(TcpEndpoint("127.0.0.1", port), timeout_s=1.0)
    poller = ModbusPoller(client, register_map, writer)
    flusher_stop = threading.Event()

    def flush_loop() -> None:
        while not flusher_stop.wait(1.0):
            writer.flush()

    flusher = threading.Thread(target=flush_loop)
    cpu_me0, cpu_srv0 = me.cpu_times(), server_ps.cpu_times()
    t0 = time.perf_counter()
    flusher.start()
    stats = poller.run(seconds)
    wall = time.perf_counter() - t0
    flusher_stop.set()
    flusher.join()
    writer.flush()
    cpu_me1, cpu_srv1 = me.cpu_times(), server_ps.cpu_times()
    server.stdin.close()  # type: ignore[union-attr]
    server.wait(timeout=10)
    stored = store.query("SELECT count(*) FROM measurements")[0][0]
    store.close()
    group = next(iter(stats.groups.values()))
    expected_polls = math.floor(seconds * rate)
    acquired = sum(stats.samples.values())
    jitter = np.asarray(group.jitter_ms)
    flush = np.asarray(writer.stats.flush_ms or [0.0])
    return {
        "case": case,
        "method": "naive (one request per sensor)" if spaced else "ours (batched contiguous reads)",
        "sensors": n,
        "rate_hz": rate,
        "seconds": round(wall, 2),
        "requests": stats.reads + stats.failed_reads,
        "requests_per_poll": (stats.reads + stats.failed_reads) / max(group.polls, 1),
        "polls": group.polls,
        "expected_polls": expected_polls,
        "achieved_rate_hz": round(group.polls / wall, 2),
        "samples_expected": expected_polls * n,
        "samples_acquired": acquired,
        "samples_stored": int(stored),
        "samples_lost": max(expected_polls * n - acquired, 0) + (acquired - int(stored)),
        "missed_ticks": group.missed_ticks,
        "failed_reads": stats.failed_reads,
        "jitter_ms_p50": round(float(np.percentile(jitter, 50)), 3) if jitter.size else None,
        "jitter_ms_p99": round(float(np.percentile(jitter, 99)), 3) if jitter.size else None,
        "flush_ms_p50": round(float(np.percentile(flush, 50)), 2),
        "flush_ms_p99": round(float(np.percentile(flush, 99)), 2),
        "flush_ms_max": round(float(flush.max()), 2),
        "flushes": writer.stats.flushes,
        "client_cpu_percent": round(
            100 * ((cpu_me1.user + cpu_me1.system) - (cpu_me0.user + cpu_me0.system)) / wall, 1
        ),
        "server_cpu_percent": round(
            100 * ((cpu_srv1.user + cpu_srv1.system) - (cpu_srv0.user + cpu_srv0.system)) / wall, 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--naive-seconds", type=float, default=15.0)
    parser.add_argument("--serve", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spaced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.spaced)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-modbus-") as tmp:
        for case in CASES:
            rows.append(run_case(case, args.seconds, spaced=False, folder=Path(tmp)))
            rows.append(
                run_case(case, min(args.naive_seconds, args.seconds), spaced=True, folder=Path(tmp))
            )
    header = (
        f"{'case':9s} {'method':32s} {'req/poll':>8s} {'rate Hz':>8s} {'lost':>7s} "
        f"{'jit p50':>8s} {'jit p99':>8s} {'flush p50':>9s} {'flush p99':>9s} {'cpu cli':>7s} {'cpu srv':>7s}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['case']:9s} {r['method']:32s} {r['requests_per_poll']:8.1f} "
            f"{r['achieved_rate_hz']:8.2f} {r['samples_lost']:7d} {r['jitter_ms_p50']:7.2f}m "
            f"{r['jitter_ms_p99']:7.2f}m {r['flush_ms_p50']:8.1f}m {r['flush_ms_p99']:8.1f}m "
            f"{r['client_cpu_percent']:6.1f}% {r['server_cpu_percent']:6.1f}%"
        )
    print(
        "(jitter and flush latency in ms; lost = scheduled samples not acquired + acquired not stored)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_modbus.json"
    out.write_text(
        json.dumps(
            {
                "seconds": args.seconds,
                "machine": {"python": platform.python_version(), "cpus": psutil.cpu_count()},
                "runs": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
