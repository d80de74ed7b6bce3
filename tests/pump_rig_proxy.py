"""A stand-in for the hidden pump test rig anomaly benchmark: 34 seeded 1 Hz logs of a
water-pump rig with eight sensors and valve-closure faults as long contiguous segments.

The real benchmark (a public one, kept outside the project and never downloaded here) has 34
logs of about 20 minutes at 1 Hz, eight sensors (two accelerometer RMS channels, motor current,
voltage, loop pressure, motor and fluid temperature, flow RMS), its first ~400 samples normal,
and faults made by closing a valve at the outlet or inlet of the pump (and a few other kinds)
for several minutes. This module imitates what matters for a detector, from what is
documented about such rigs, not from the data:

- a centrifugal pump throttled at the outlet delivers less flow at a higher head and draws
  less current; throttled at the inlet, pressure drops too and the pump starts to cavitate
  (vibration up, noisier flow); closures ramp in over seconds and vary in depth from barely
  visible to gross;
- the motor body heats through the run (a few °C in 20 minutes, beyond anything seen in the
  first 400 samples) and the fluid more slowly: slow drift, not a fault;
- a slow common wander of the operating point moves flow, pressure and current together;
  RMS channels are noisy, accelerometers have isolated spikes; after a fault the valve is not
  always reopened exactly;
- a third of the logs hold other faults: rotor imbalance (vibration only), a leak (pressure
  and flow down, current up slightly), a heating fault (fluid temperature climbing faster).

The generator was tuned so that a plain Hotelling T² fitted on the first 400 samples scores
about as the issue reports on the real logs (F1 ~0.75 with ~24 % false alarms); it is a
proxy, and every figure measured on it says so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

SENSORS = ("ACC1", "ACC2", "CUR", "PRESS", "TEMP", "THERMO", "VOLT", "FLOW")
N_LOGS = 34
FIT_SAMPLES = 400
START = datetime(2026, 3, 2, 9, 0, 0)

PROFILE_YAML = """\
id: pump-test-rig
name: Water pump test rig (proxy of the hidden benchmark)
kind: test rig
components:
  - {id: M1, type: motor, name: Drive motor M1}
  - {id: P1, type: pump, name: Centrifugal pump P1}
  - {id: V1, type: valve, name: Outlet valve V1}
  - {id: V2, type: valve, name: Inlet valve V2}
  - {id: T1, type: tank, name: Water tank T1}
sensors:
  - {id: ACC1, quantity: vibration_acceleration, unit: g, component: P1, rate_hz: 1, min: 0, max: 5}
  - {id: ACC2, quantity: vibration_acceleration, unit: g, component: M1, rate_hz: 1, min: 0, max: 5}
  - {id: CUR, quantity: current, unit: A, component: M1, rate_hz: 1, min: 0, max: 10}
  - {id: VOLT, quantity: voltage, unit: V, component: M1, rate_hz: 1, min: 0, max: 400}
  - {id: TEMP, quantity: temperature, unit: °C, component: M1, rate_hz: 1, min: -20, max: 150}
  - {id: PRESS, quantity: pressure, unit: bar, component: P1, rate_hz: 1, min: -1, max: 10}
  - {id: FLOW, quantity: flow, unit: l/min, component: V1, rate_hz: 1, min: 0, max: 100}
  - {id: THERMO, quantity: temperature, unit: °C, component: T1, rate_hz: 1, min: -20, max: 150}
connections:
  - {source: M1, target: P1, kind: shaft}
  - {source: P1, target: V1, kind: pressure_line}
  - {source: V1, target: T1, kind: return_line}
  - {source: T1, target: V2, kind: suction_line}
  - {source: V2, target: P1, kind: suction_line}
  - {source: M1, target: T1, kind: thermal}
"""


@dataclass
class ProxyLog:
    """One log: values per sensor [n], the 0/1 anomaly label [n] and what the fault was."""

    index: int
    kind: str
    values: dict[str, np.ndarray]
    label: np.ndarray
    segments: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.label.size)


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    e = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + e[t]
    return out


def _ramp(n: int, a: int, b: int, ramp_in: int, ramp_out: int) -> np.ndarray:
    """0 outside [a, b), rising to 1 over ramp_in samples and falling over ramp_out."""
    t = np.arange(n, dtype=float)
    up = np.clip((t - a + 1) / max(ramp_in, 1), 0, 1)
    down = np.clip((b - t) / max(ramp_out, 1), 0, 1)
    return np.where((t >= a) & (t < b), np.minimum(up, down), 0.0)


KINDS = ("outlet",) * 16 + ("inlet",) * 4 + ("imbalance",) * 5 + ("leak",) * 5 + ("heating",) * 4


def make_log(index: int, seed: int = 17) -> ProxyLog:
    """Log ``index`` (0..33) of the proxy; seeded, so the same index gives the same log."""
    rng = np.random.default_rng([seed, index])
    kind = KINDS[index % len(KINDS)]
    n = int(rng.integers(1080, 1260))
    t = np.arange(n, dtype=float)
    f0, p0, i0 = rng.uniform(28, 34), rng.uniform(0.7, 1.1), rng.uniform(1.3, 2.0)
    v0, a10, a20 = rng.uniform(225, 238), rng.uniform(0.20, 0.30), rng.uniform(0.24, 0.32)
    tm0, tf0 = rng.uniform(62, 78), rng.uniform(23, 29)
    # slow common wander of the operating point (speed, supply)
    wander = _ar1(rng, n, 0.995, 0.006)
    supply = _ar1(rng, n, 0.99, 0.002)
    # fault segments after the first FIT_SAMPLES
    segments: list[tuple[int, int]] = []
    a = int(rng.integers(FIT_SAMPLES + 30, FIT_SAMPLES + 300))
    length = int(rng.integers(280, 470))
    segments.append((a, min(a + length, n - 60)))
    if rng.random() < 0.25 and segments[0][1] + 200 < n - 60:
        a2 = int(rng.integers(segments[0][1] + 80, n - 100))
        segments.append((a2, min(a2 + int(rng.integers(60, 200)), n - 20)))
    depth = rng.uniform(0.08, 0.5, len(segments))
    c = np.zeros(n)
    for (lo, hi), d in zip(segments, depth, strict=True):
        c = np.maximum(c, d * _ramp(n, lo, hi, int(rng.integers(3, 25)), int(rng.integers(3, 15))))
    residual = np.zeros(n)
    last = segments[-1][1]
    residual[last:] = rng.uniform(0.0, 0.04) * depth[-1]
    c = c + residual
    outlet = c if kind == "outlet" else 0 * c
    inlet = c if kind == "inlet" else 0 * c
    imbalance = c if kind == "imbalance" else 0 * c
    leak = c if kind == "leak" else 0 * c
    heating = c if kind == "heating" else 0 * c
    throttle = outlet + inlet
    speed = 1.0 + wander
    flow = f0 * speed * (1 - 0.35 * throttle - 0.12 * leak)
    press = p0 * speed**2 * (1 + 0.45 * outlet - 0.30 * inlet - 0.25 * leak)
    cur = i0 * speed**2 * (1 - 0.18 * throttle + 0.04 * leak)
    heat = 1 - np.exp(-(t + rng.uniform(0, 400)) / rng.uniform(500, 1500))
    tm = tm0 + rng.uniform(2, 7) * heat + 0.6 * (cur / i0 - 1) * 10
    # a heating fault warms the fluid while it lasts; it cools back over about a minute
    warm = np.zeros(n)
    for k in range(1, n):
        warm[k] = warm[k - 1] * np.exp(-1 / 60) + heating[k] * 0.05
    tf = tf0 + rng.uniform(0.1, 0.8) * t / n + warm
    volt = v0 * (1 + supply) - 1.5 * (cur - i0)
    cav = 1 + 0.5 * inlet
    acc1 = a10 * (1 + 0.10 * throttle + 0.35 * imbalance) * speed
    acc2 = a20 * (1 + 0.05 * throttle + 0.30 * imbalance) * speed
    values = {
        "ACC1": acc1 * (1 + rng.normal(0, 0.045, n) * cav),
        "ACC2": acc2 * (1 + rng.normal(0, 0.04, n) * cav),
        "CUR": cur * (1 + rng.normal(0, 0.012, n)),
        "PRESS": press * (1 + rng.normal(0, 0.025, n)),
        "TEMP": tm + rng.normal(0, 0.08, n),
        "THERMO": tf + rng.normal(0, 0.1, n),
        "VOLT": volt + rng.normal(0, 0.6, n),
        "FLOW": flow * (1 + rng.normal(0, 0.015, n) * (1 + 0.8 * inlet)),
    }
    # isolated accelerometer spikes, in normal operation too
    for key in ("ACC1", "ACC2"):
        spikes = rng.random(n) < 0.004
        values[key] = values[key] * np.where(spikes, rng.uniform(1.3, 2.0, n), 1.0)
    label = np.zeros(n, dtype=np.int8)
    for lo, hi in segments:
        label[lo:hi] = 1
    return ProxyLog(index, kind, values, label, segments)


def write_log(log: ProxyLog, path: Path, *, start: datetime = START) -> Path:
    """The log as a logger CSV: ``datetime;ACC1;...;anomaly;changepoint`` (1 Hz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    change = np.zeros(log.n, dtype=np.int8)
    for lo, _hi in log.segments:
        change[lo] = 1
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["datetime", *SENSORS, "anomaly", "changepoint"])
        for k in range(log.n):
            ts = start + timedelta(seconds=k)
            w.writerow(
                [
                    ts.strftime("%Y-%m-%d %H:%M:%S"),
                    *(f"{log.values[s][k]:.5g}" for s in SENSORS),
                    int(log.label[k]),
                    int(change[k]),
                ]
            )
    return path


def all_logs(seed: int = 17) -> list[ProxyLog]:
    return [make_log(i, seed) for i in range(N_LOGS)]


# --------------------------------------------------------------------------- a second family

SIM_KINDS = ("closure",) * 12 + ("level shift",) * 6 + ("leak",) * 4


def simulated_log(index: int, seed: int = 29) -> ProxyLog:
    """A second, independent family: 20 minutes of the reference rig from its simulator
    (``ingestion.simulator``, healthy, 1 Hz, 17 sensors, 60 s load cycles and the rig's own
    drift), with an injected fault after the first ``FIT_SAMPLES`` samples — a
    closure-like restriction of the main pump's outlet (less flow FS1, more pressure PS1, PS2,
    more motor power EPS1, ramped in over seconds), a level shift of one sensor by 1.5-4 of its
    standard deviations, or a leak (pump pressure and flow down). Depth varies from barely
    visible to gross."""
    from ingestion.simulator import SCENARIOS, simulate_cycles

    rng = np.random.default_rng([seed, index])
    kind = SIM_KINDS[index % len(SIM_KINDS)]
    cycles = list(
        simulate_cycles(SCENARIOS["healthy"], 20 * 60, start=START, seed=seed + index, rate_hz=1)
    )
    values = {s: np.concatenate([c.samples[s] for c in cycles]) for s in cycles[0].samples}
    n = len(next(iter(values.values())))
    a = int(rng.integers(FIT_SAMPLES + 60, FIT_SAMPLES + 300))
    b = min(a + int(rng.integers(250, 450)), n - 40)
    depth = float(rng.uniform(0.1, 0.6))
    c = depth * _ramp(n, a, b, int(rng.integers(3, 20)), int(rng.integers(3, 12)))
    if kind == "closure":
        values["FS1"] = values["FS1"] * (1 - 0.3 * c)
        values["PS1"] = values["PS1"] * (1 + 0.15 * c)
        values["PS2"] = values["PS2"] * (1 + 0.1 * c)
        values["EPS1"] = values["EPS1"] * (1 + 0.08 * c)
    elif kind == "leak":
        values["PS1"] = values["PS1"] * (1 - 0.12 * c)
        values["FS1"] = values["FS1"] * (1 - 0.15 * c)
        values["SE"] = values["SE"] * (1 - 0.1 * c)
    else:
        sensor = sorted(values)[int(rng.integers(0, len(values)))]
        sd = float(np.std(values[sensor][:FIT_SAMPLES])) or 1.0
        values[sensor] = values[sensor] + (1.5 + 2.5 * depth / 0.6) * sd * (c / depth)
    label = np.zeros(n, dtype=np.int8)
    label[a:b] = 1
    return ProxyLog(index, kind, values, label, [(a, b)])


def write_simulated_log(log: ProxyLog, path: Path, *, start: datetime = START) -> Path:
    """A simulated log as a logger CSV: ``time,<17 sensors>,anomaly``."""
    sensors = sorted(log.values)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time", *sensors, "anomaly"])
        for k in range(log.n):
            ts = start + timedelta(seconds=k)
            w.writerow(
                [ts.isoformat(), *(f"{log.values[s][k]:.6g}" for s in sensors), int(log.label[k])]
            )
    return path


def proxy_workspace(folder: Path, logs: dict[str, int]) -> Path:
    """A workspace in ``folder`` with one equipment per proxy log (``{equipment: log index}``),
    imported as a new user would (`ingest csv --label-column anomaly`)."""
    from app.cli import main

    ws = folder / "ws.duckdb"
    profile = folder / "pump.yaml"
    profile.write_text(PROFILE_YAML, encoding="utf-8")
    for equipment, index in logs.items():
        csv_file = write_log(make_log(index), folder / f"{equipment}.csv")
        argv = ["--workspace", str(ws), "ingest", "csv", str(csv_file), "--equipment", equipment]
        argv += ["--profile", str(profile), "--label-column", "anomaly", "--skip", "changepoint"]
        if main(argv) != 0:
            raise RuntimeError(f"importing {csv_file} failed")
    return ws
