"""A seeded simulator of the reference rig (UCI/ZeMA): repeated 60 s load cycles whose shape
follows the four component conditions, with the rig's own noise structure and slow drift.

Parameters are statistics fitted from the shared data by ``python -m training.fit_simulator``
and shipped in ``resources/simulator/<profile>.npz`` (no data rows are shipped):

* the mean cycle of every sensor as a function of the four conditions (piecewise-linear
  interpolation between the data's levels and interactions of up to three conditions) —
  continuous conditions (107 bar) are allowed;
* a low-rank covariance of the variation within a condition (principal components) whose
  scores evolve from cycle to cycle as AR(1) processes: thermal drift and run-to-run variation;
* white within-second noise, used only above 1 Hz. The data is 1 Hz, so what happens inside a
  second is not known: faster channels interpolate the 1 Hz shape, keep each second's mean
  exactly, and add that noise. That is an assumption, not a measurement.

Same seed, scenario, duration and start ⇒ byte-identical output.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile, load_profile
from ingestion.resources import resources_dir

CYCLE_SECONDS: Final = 60
FACTORS: Final = ("cooler", "valve", "pump", "accumulator")
# Which profile component each condition belongs to, and the level → grade map of DESIGN.md.
FACTOR_COMPONENT: Final = {"cooler": "C1", "valve": "V10", "pump": "MP1", "accumulator": "ACC"}
GRADE_LEVELS: Final[dict[str, tuple[tuple[float, int], ...]]] = {
    "cooler": ((100.0, 0), (20.0, 2), (3.0, 3)),
    "valve": ((100.0, 0), (90.0, 1), (80.0, 2), (73.0, 3)),
    "pump": ((0.0, 0), (1.0, 1), (2.0, 2)),
    "accumulator": ((130.0, 0), (115.0, 1), (100.0, 2), (90.0, 3)),
}
FAULT_TYPES: Final = {
    "cooler": "cooler_efficiency_loss",
    "valve": "valve_switching_lag",
    "pump": "pump_internal_leakage",
    "accumulator": "accumulator_precharge_loss",
}


class Conditions(BaseModel):
    """Component conditions in the data set's own units (continuous values allowed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cooler: float = Field(default=100.0, ge=3.0, le=100.0, description="cooler efficiency, %")
    valve: float = Field(default=100.0, ge=73.0, le=100.0, description="switching valve, %")
    pump: float = Field(default=0.0, ge=0.0, le=2.0, description="internal leakage 0/1/2")
    accumulator: float = Field(default=130.0, ge=90.0, le=130.0, description="precharge, bar")

    def as_array(self) -> np.ndarray:
        return np.array([self.cooler, self.valve, self.pump, self.accumulator])

    def grades(self) -> dict[str, int]:
        """Condition grade per component id: the grade of the nearest level of the data set."""
        return {FACTOR_COMPONENT[f]: grade_of(f, float(getattr(self, f))) for f in FACTORS}


def grade_of(factor: str, value: float) -> int:
    levels = GRADE_LEVELS[factor]
    return min(levels, key=lambda lv: abs(lv[0] - value))[1]


def parse_conditions(text: str) -> Conditions:
    """``cooler=20,valve=90,pump=1,accumulator=115`` (any subset) → :class:`Conditions`."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in FACTORS:
            raise HydroDiagError(
                f"--conditions: {part!r} is not NAME=VALUE with NAME one of {', '.join(FACTORS)}."
            )
        try:
            values[key] = float(raw)
        except ValueError:
            raise HydroDiagError(f"--conditions: {raw!r} for {key} is not a number.") from None
    try:
        return Conditions(**values)
    except ValueError as exc:
        raise HydroDiagError(f"--conditions {text!r}: {exc}") from None


# -- scenarios ------------------------------------------------------------------------------

ConditionPath = Callable[[float], Conditions]  # fraction of the run in [0, 1] → conditions


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: ConditionPath


def _lerp(a: float, b: float, f: float) -> float:
    return a + (b - a) * min(max(f, 0.0), 1.0)


def _steps(f: float, points: tuple[tuple[float, float], ...]) -> float:
    value = points[0][1]
    for start, level in points:
        if f >= start:
            value = level
    return value


SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario("healthy", "every component in optimal condition", lambda f: Conditions()),
        Scenario(
            "accumulator-decline",
            "accumulator precharge falling linearly 130 → 90 bar over the run (a shift)",
            lambda f: Conditions(accumulator=_lerp(130.0, 90.0, f)),
        ),
        Scenario(
            "cooler-step",
            "cooler efficiency stepping down 100 → 20 % at 1/3 and → 3 % at 2/3 of the run",
            lambda f: Conditions(cooler=_steps(f, ((0.0, 100.0), (1 / 3, 20.0), (2 / 3, 3.0)))),
        ),
        Scenario(
            "pump-leak",
            "main pump internal leakage appearing: none, weak from 40 %, severe from 75 % of the run",
            lambda f: Conditions(pump=_steps(f, ((0.0, 0.0), (0.4, 1.0), (0.75, 2.0)))),
        ),
        Scenario(
            "valve-lag",
            "switching valve lag growing in steps 100 → 90 → 80 → 73 % at each quarter",
            lambda f: Conditions(
                valve=_steps(f, ((0.0, 100.0), (0.25, 90.0), (0.5, 80.0), (0.75, 73.0)))
            ),
        ),
        Scenario(
            "demo",
            "developing accumulator fault (130 → 100 bar) and a weak pump leak from mid-run",
            lambda f: Conditions(
                accumulator=_lerp(130.0, 100.0, f / 0.85), pump=_steps(f, ((0.0, 0.0), (0.5, 1.0)))
            ),
        ),
        Scenario(
            "combined",
            "accumulator 130 → 100 bar, cooler 100 → 20 % at half time, valve 90 % from 3/4",
            lambda f: Conditions(
                accumulator=_lerp(130.0, 100.0, f),
                cooler=_steps(f, ((0.0, 100.0), (0.5, 20.0))),
                valve=_steps(f, ((0.0, 100.0), (0.75, 90.0))),
            ),
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise HydroDiagError(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)} "
            "(or give fixed --conditions)."
        ) from None


def fixed_scenario(conditions: Conditions) -> Scenario:
    return Scenario("fixed", f"fixed conditions {conditions.model_dump()}", lambda f: conditions)


MAX_DURATION_S: Final = 10 * 366 * 86400.0  # ten years: longer is a typo, not a recording


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``8h``, ``1h30m``, ``2d`` or plain seconds → seconds (positive,
    finite, at most ten years)."""
    seconds = _parse_duration(text)
    if seconds <= 0:
        raise HydroDiagError(f"duration {text.strip()!r}: must be longer than 0 s, e.g. 90s.")
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise HydroDiagError(
            f"duration {text.strip()!r} is longer than ten years; write it like 90s, 15m, 8h "
            "or 1h30m."
        )
    return seconds


def _parse_duration(text: str) -> float:
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if not re.fullmatch(r"(\d+(\.\d+)?[smhd])+", text):
        raise HydroDiagError(f"duration {text!r}: write it like 90s, 15m, 8h or 1h30m.")
    return sum(
        float(number) * units[unit] for number, unit in re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    )


# -- parameters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatorParams:
    """The fitted statistics of one profile (see ``training/fit_simulator.py``)."""

    profile_id: str
    sensors: tuple[str, ...]
    levels: dict[str, tuple[float, ...]]
    interaction_order: int
    coef: np.ndarray  # [regressors, S, 60]
    scale: np.ndarray  # [S, 60]
    components: np.ndarray  # [K, S * 60]
    score_sd: np.ndarray  # [K] pooled spread of each score
    score_log_var: np.ndarray | None  # [1 + Σ levels, K]: log variance additive in conditions
    phi: np.ndarray  # [K]
    hf_noise: np.ndarray  # [S]
    lower: np.ndarray  # [S] lowest value seen on the rig (0 → the sensor never reads below 0)
    upper: np.ndarray  # [S] highest value seen on the rig (documentation; not enforced)

    def design_row(self, conditions: np.ndarray, order: int | None = None) -> np.ndarray:
        """Hat weights per factor and their products (as ``training/fit_simulator.py``)."""
        hats = []
        for j, factor in enumerate(FACTORS):
            levels = self.levels[factor]
            w = np.zeros(len(levels))
            x = float(np.clip(conditions[j], levels[0], levels[-1]))
            i = min(max(int(np.searchsorted(levels, x, side="right")) - 1, 0), len(levels) - 2)
            frac = (x - levels[i]) / (levels[i + 1] - levels[i])
            w[i], w[i + 1] = 1.0 - frac, frac
            hats.append(w)
        parts = [np.ones(1), *hats]
        for size in range(2, (self.interaction_order if order is None else order) + 1):
            for combo in itertools.combinations(range(len(hats)), size):
                product = hats[combo[0]]
                for k in combo[1:]:
                    product = np.multiply.outer(product, hats[k])
                parts.append(np.ravel(product))
        return np.concatenate(parts)

    def score_spread(self, conditions: Conditions) -> np.ndarray:
        """[K] spread of each residual score under ``conditions``."""
        if self.score_log_var is None:
            return self.score_sd
        row = self.design_row(conditions.as_array(), order=1)
        return np.asarray(np.exp(0.5 * (row @ self.score_log_var)), dtype=np.float64)

    def mean_cycle(self, conditions: Conditions) -> np.ndarray:
        """[S, 60] expected cycle under ``conditions``."""
        row = self.design_row(conditions.as_array())
        return np.tensordot(row, self.coef.astype(np.float64), axes=1)


def simulator_params_path(profile_id: str) -> Path:
    return resources_dir() / "simulator" / f"{profile_id}.npz"


@cache
def load_simulator_params(profile_id: str = "zema-test-rig") -> SimulatorParams:
    path = simulator_params_path(profile_id)
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise HydroDiagError(
            f"no simulator parameters for profile {profile_id!r} (looked for {path}); the "
            "simulator only knows the reference rig zema-test-rig. "
            "Run `python -m training.fit_simulator` to refit them."
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    with np.load(path) as npz:
        arrays = {key: np.asarray(npz[key]) for key in npz.files}
    return SimulatorParams(
        profile_id=profile_id,
        sensors=tuple(meta["sensors"]),
        levels={f: tuple(float(v) for v in meta["levels"][f]) for f in FACTORS},
        interaction_order=int(meta.get("interaction_order", 1)),
        coef=arrays["coef"],
        scale=arrays["scale"].astype(np.float64),
        components=arrays["components"].astype(np.float64),
        score_sd=arrays["score_sd"].astype(np.float64),
        score_log_var=arrays["score_log_var"].astype(np.float64)
        if "score_log_var" in arrays
        else None,
        phi=arrays["phi"].astype(np.float64),
        hf_noise=arrays["hf_noise"].astype(np.float64),
        lower=arrays.get("lower", np.full(len(meta["sensors"]), -np.inf)).astype(np.float64),
        upper=arrays.get("upper", np.full(len(meta["sensors"]), np.inf)).astype(np.float64),
    )


# -- the simulator --------------------------------------------------------------------------


class RigSimulator:
    """Generates consecutive cycles of the rig; the residual drift carries over between cycles.

    Args:
        seed: seeds the one random generator everything draws from, in a fixed order.
        profile: the equipment profile (its sensors and rates); default the reference rig.
        rate_hz: ``None`` = each sensor at its profile rate, else every sensor at this rate.
        noise_scale: multiplies the residual (1.0 = the rig's own variation).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        profile: EquipmentProfile | None = None,
        rate_hz: float | None = None,
        noise_scale: float = 1.0,
    ) -> None:
        self.profile = profile or load_profile("zema-test-rig")
        self.params = load_simulator_params(self.profile.id)
        missing = set(self.params.sensors) - set(self.profile.sensor_ids)
        if missing:
            raise HydroDiagError(
                f"profile {self.profile.id!r} lacks sensors the simulator produces: "
                f"{', '.join(sorted(missing))}."
            )
        self.sensors = self.params.sensors
        if rate_hz is not None and rate_hz <= 0:
            raise HydroDiagError(f"--rate {rate_hz}: a rate must be above 0 Hz.")
        self.rates = {
            s: float(rate_hz if rate_hz is not None else self.profile.sensor(s).rate_hz)
            for s in self.sensors
        }
        for sensor, rate in self.rates.items():
            if rate > 1 and abs(rate - round(rate)) > 1e-9:
                raise HydroDiagError(
                    f"sensor {sensor}: rate {rate} Hz must be a whole number above 1 Hz."
                )
            if rate < 1 and abs(1 / rate - round(1 / rate)) > 1e-9:
                raise HydroDiagError(f"sensor {sensor}: rate {rate} Hz must divide 1 Hz evenly.")
        self.noise_scale = noise_scale
        self.rng = np.random.default_rng(seed)
        k = len(self.params.phi)
        self._state = self.rng.standard_normal(k)  # stationary start of the AR(1) scores
        self._floor = np.minimum(self.params.lower, 0.0)

    def next_cycle(self, conditions: Conditions) -> np.ndarray:
        """The next cycle at 1 Hz: [S, 60] in the sensors' units."""
        p = self.params
        innovation = self.rng.standard_normal(len(p.phi))
        self._state = p.phi * self._state + np.sqrt(1.0 - p.phi**2) * innovation
        z = (self._state * p.score_spread(conditions)) @ p.components
        residual: np.ndarray = z.reshape(p.scale.shape) * p.scale * self.noise_scale
        cycle = p.mean_cycle(conditions) + residual
        # Only the physical floor is enforced (no negative pressure or flow). Clipping to the
        # rig's observed maximum too would bend the condition signatures the model reads.
        return np.asarray(np.maximum(cycle, self._floor[:, None]), dtype=np.float64)

    def upsample(self, cycle_1hz: np.ndarray) -> dict[str, np.ndarray]:
        """Per sensor, the cycle's samples at that sensor's rate (see the module docstring)."""
        out: dict[str, np.ndarray] = {}
        centres = np.arange(CYCLE_SECONDS) + 0.5
        for i, sensor in enumerate(self.sensors):
            rate = self.rates[sensor]
            y = cycle_1hz[i]
            if rate == 1:
                out[sensor] = y.copy()
            elif rate < 1:
                step = round(1 / rate)
                out[sensor] = y[::step].copy()
            else:
                r = round(rate)
                t = (np.arange(CYCLE_SECONDS * r) + 0.5) / r
                fine = np.interp(t, centres, y).reshape(CYCLE_SECONDS, r)
                fine += (y - fine.mean(axis=1))[:, None]  # keep every second's mean exact
                noise = self.rng.standard_normal(fine.shape) * self.params.hf_noise[i]
                noise -= noise.mean(axis=1, keepdims=True)
                fine = fine + noise * self.noise_scale
                # Within a second the rig's extremes are not known (the data is 1 Hz): only the
                # physical floor is enforced — a pressure or flow never reads below zero. The
                # second's spread is shrunk until it fits above the floor instead of clipping
                # it, so every second's mean stays the 1 Hz value (clipping biased PS2's
                # zero-pressure seconds upwards, up to 6 bar in second 8, which a model reads).
                dev = fine - y[:, None]
                room = y - self._floor[i]
                lowest = dev.min(axis=1)
                safe = np.where(lowest < 0, lowest, -1.0)
                shrink = np.where(lowest < -room, np.clip(room, 0.0, None) / -safe, 1.0)
                out[sensor] = (y[:, None] + dev * shrink[:, None]).ravel()
        return out


@dataclass(frozen=True)
class SimulatedCycle:
    """One simulated cycle: when it started, the conditions and the samples per sensor."""

    index: int
    start: datetime
    conditions: Conditions
    samples: dict[str, np.ndarray]  # sensor → values at the sensor's rate over the cycle


def simulate_cycles(
    scenario: Scenario,
    duration_s: float,
    *,
    start: datetime,
    seed: int = 0,
    rate_hz: float | None = None,
    profile: EquipmentProfile | None = None,
) -> Iterator[SimulatedCycle]:
    """Yield whole cycles covering ``duration_s`` (rounded up to whole cycles)."""
    simulator = RigSimulator(seed, profile=profile, rate_hz=rate_hz)
    n_cycles = max(1, math.ceil(duration_s / CYCLE_SECONDS))
    for i in range(n_cycles):
        fraction = i / max(n_cycles - 1, 1)
        conditions = scenario.path(fraction)
        cycle = simulator.next_cycle(conditions)
        yield SimulatedCycle(
            index=i,
            start=start + timedelta(seconds=i * CYCLE_SECONDS),
            conditions=conditions,
            samples=simulator.upsample(cycle),
        )


def cycle_timestamps(start: datetime, rate_hz: float) -> np.ndarray:
    """datetime64[us] sample times of one cycle at ``rate_hz`` starting at ``start``."""
    n = round(CYCLE_SECONDS * rate_hz)
    offsets_us = np.round(np.arange(n) * (1e6 / rate_hz)).astype(np.int64)
    return np.datetime64(start.replace(tzinfo=None), "us") + offsets_us.astype("timedelta64[us]")


def wide_cycle_table(cycle: SimulatedCycle, rates: Mapping[str, float]) -> dict[str, np.ndarray]:
    """One cycle as wide columns on the grid of the fastest sensor; slower ones NaN between ticks."""
    fastest = max(rates.values())
    ts = cycle_timestamps(cycle.start, fastest)
    columns: dict[str, np.ndarray] = {"timestamp": ts}
    for sensor, values in cycle.samples.items():
        stride = round(fastest / rates[sensor])
        column = np.full(len(ts), np.nan)
        column[::stride] = values
        columns[sensor] = column
    return columns


def write_simulated_csv(
    path: Path,
    scenario: Scenario,
    duration_s: float,
    *,
    start: datetime,
    seed: int = 0,
    rate_hz: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write a wide CSV (``timestamp`` + a column per sensor, empty between a slow sensor's
    samples) that ``hydrodiag ingest csv`` reads; returns the number of data rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n_cycles = max(1, math.ceil(duration_s / CYCLE_SECONDS))
    rows = 0
    writer: pacsv.CSVWriter | None = None
    tmp = path.with_name(path.name + ".partial")
    try:
        batch: list[dict[str, np.ndarray]] = []
        simulator_rates: dict[str, float] | None = None
        for cycle in simulate_cycles(scenario, duration_s, start=start, seed=seed, rate_hz=rate_hz):
            if simulator_rates is None:
                simulator_rates = {s: len(v) / CYCLE_SECONDS for s, v in cycle.samples.items()}
            batch.append(wide_cycle_table(cycle, simulator_rates))
            if len(batch) == 10 or cycle.index == n_cycles - 1:
                merged = {k: np.concatenate([b[k] for b in batch]) for k in batch[0]}
                table = pa.table(
                    {
                        # 4 decimals: far below every sensor's noise, a third of the file size
                        k: pa.array(np.round(v, 4), from_pandas=True)
                        if k != "timestamp"
                        else pa.array(v)
                        for k, v in merged.items()
                    }
                )
                if writer is None:
                    writer = pacsv.CSVWriter(str(tmp), table.schema)
                writer.write_table(table)
                rows += table.num_rows
                batch = []
                if progress:
                    progress(cycle.index + 1, n_cycles)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return rows


class RigValueSource:
    """The simulator in real time for the Modbus server: ``values_at(t)`` is each sensor's
    sample at ``t`` seconds after start (at its rate), cycles generated as time advances."""

    def __init__(
        self,
        scenario: Scenario,
        duration_s: float,
        *,
        seed: int = 0,
        rate_hz: float | None = None,
        profile: EquipmentProfile | None = None,
    ) -> None:
        self.scenario = scenario
        self.n_cycles = max(1, math.ceil(duration_s / CYCLE_SECONDS))
        self.simulator = RigSimulator(seed, profile=profile, rate_hz=rate_hz)
        self._index = -1
        self._samples: dict[str, np.ndarray] = {}
        self.conditions = scenario.path(0.0)

    def _advance_to(self, index: int) -> None:
        while self._index < index:
            self._index += 1
            fraction = min(self._index / max(self.n_cycles - 1, 1), 1.0)
            self.conditions = self.scenario.path(fraction)
            self._samples = self.simulator.upsample(self.simulator.next_cycle(self.conditions))

    def values_at(self, t: float) -> dict[str, float]:
        index = int(t // CYCLE_SECONDS)
        self._advance_to(index)
        offset = t - index * CYCLE_SECONDS
        out: dict[str, float] = {}
        for sensor, samples in self._samples.items():
            i = min(int(offset * self.simulator.rates[sensor]), len(samples) - 1)
            out[sensor] = float(samples[i])
        return out
