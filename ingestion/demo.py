"""The demo workspace: a few hours of the simulated reference rig with a developing
accumulator fault and a weak pump leak, to be diagnosed every half hour so health trends exist.

``hydrodiag demo`` (the README's ``python3 dev.py demo``) builds it on first use, diagnoses it
(``app.commands.demo.diagnose_demo``: the diagnosis engine sits above ingestion) and opens it.
The simulator's ground truth is stored as labels with origin ``simulator``, so the app can show
what was injected next to what the model found.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa

from ingestion.catalog import importing_source, insert_labels
from ingestion.progress import NO_PROGRESS, Progress, check_cancelled
from ingestion.resources import demo_workspace_path
from ingestion.simulator import (
    CYCLE_SECONDS,
    FACTOR_COMPONENT,
    FACTORS,
    FAULT_TYPES,
    Conditions,
    get_scenario,
    simulate_cycles,
)
from ingestion.workspace import open_workspace

DEMO_EQUIPMENT: Final = "demo-rig"
DEMO_PROFILE: Final = "zema-test-rig"
DEMO_SCENARIO: Final = "demo"
DEMO_HOURS: Final = 4.0
DEMO_SEED: Final = 7
DIAGNOSE_EVERY_MIN: Final = 30  # how often the demo's caller diagnoses it


@dataclass
class DemoSummary:
    path: Path
    equipment_id: str
    cycles: int
    values: int
    seconds: float
    start: datetime  # the simulated data's span, [start, end)
    end: datetime
    diagnoses: list[str] = field(default_factory=list)  # one line each, filled by the caller
    truth: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"demo workspace {self.path}: equipment {self.equipment_id!r}, {self.cycles} "
            f"simulated cycles ({self.cycles / 60:.1f} h, {self.values} values), "
            f"built in {self.seconds:.1f} s",
            "injected (simulator ground truth at the end):",
            *(f"  {t}" for t in self.truth),
            "diagnoses:",
            *(f"  {d}" for d in self.diagnoses),
        ]
        return "\n".join(lines)


def build_demo_workspace(
    path: Path | None = None,
    *,
    progress: Progress = NO_PROGRESS,
    hours: float = DEMO_HOURS,
    seed: int = DEMO_SEED,
    end: datetime | None = None,
) -> DemoSummary:
    """Build (replacing) the demo workspace at ``path`` (default: the user's demo workspace).

    The data ends at ``end`` (default: now, to the minute), one value per sensor and second —
    the model's rate; ``hydrodiag simulate`` writes the profile's full rates. The workspace
    holds data, cycles and ground truth; the caller diagnoses it.
    """
    started = time.perf_counter()
    path = Path(path) if path is not None else demo_workspace_path()
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    n_cycles = round(hours * 3600 / CYCLE_SECONDS)
    end = end or datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    start = end - timedelta(seconds=n_cycles * CYCLE_SECONDS)
    scenario = get_scenario(DEMO_SCENARIO)
    progress.start("simulating the demo rig", n_cycles, "cycles")
    store = open_workspace(path)
    try:
        from ingestion.profiles import load_profile

        with importing_source(
            store,
            equipment_id=DEMO_EQUIPMENT,
            kind="simulator",
            uri=f"simulator://{DEMO_PROFILE}/{DEMO_SCENARIO}?seed={seed}&hours={hours:g}",
            options={"scenario": DEMO_SCENARIO, "seed": seed, "rate_hz": 1.0},
            profile=load_profile(DEMO_PROFILE),
            equipment_name="Demo rig (simulated)",
        ) as source:
            con, source_id = source.con, source.source_id
            tables: list[pa.Table] = []
            cycle_rows: list[tuple[int, datetime]] = []
            conditions: list[Conditions] = []
            for cycle in simulate_cycles(
                scenario, n_cycles * CYCLE_SECONDS, start=start, seed=seed, rate_hz=1.0
            ):
                tables.append(_cycle_table(cycle.start, cycle.samples, source_id))
                cycle_rows.append((cycle.index + 1, cycle.start))
                conditions.append(cycle.conditions)
                if cycle.index % 20 == 0:
                    check_cancelled(progress)
                    progress.update(cycle.index + 1, n_cycles)
            measurements = pa.concat_tables(tables)
            con.register("_demo_measurements", measurements)
            con.execute("INSERT INTO measurements_long SELECT * FROM _demo_measurements")
            con.unregister("_demo_measurements")
            cycles = pa.table(
                {
                    "cycle_no": pa.array([c for c, _ in cycle_rows], pa.int32()),
                    "start_ts": pa.array([s for _, s in cycle_rows], pa.timestamp("us")),
                    "end_ts": pa.array(
                        [s + timedelta(seconds=CYCLE_SECONDS) for _, s in cycle_rows],
                        pa.timestamp("us"),
                    ),
                }
            )
            con.register("_demo_cycles", cycles)
            con.execute(
                "INSERT INTO cycles SELECT ?, cycle_no, start_ts, end_ts, TRUE, ? FROM _demo_cycles",
                [DEMO_EQUIPMENT, source_id],
            )
            con.unregister("_demo_cycles")
            _insert_truth(con, conditions, [s for _, s in cycle_rows], source_id)
            source.complete(rows=n_cycles * CYCLE_SECONDS, warnings=["simulated data"])
        progress.finish()
        summary = DemoSummary(
            path=path,
            equipment_id=DEMO_EQUIPMENT,
            cycles=n_cycles,
            values=measurements.num_rows,
            seconds=0.0,
            start=start,
            end=end,
            truth=[
                f"{FACTOR_COMPONENT[f]}: {f} {getattr(conditions[-1], f):g} → grade "
                f"{conditions[-1].grades()[FACTOR_COMPONENT[f]]}"
                for f in FACTORS
            ],
        )
        summary.seconds = time.perf_counter() - started
        return summary
    finally:
        store.close()


def _cycle_table(start: datetime, samples: dict[str, np.ndarray], source_id: int) -> pa.Table:
    sensors = list(samples)
    n = len(next(iter(samples.values())))
    ts = np.datetime64(start, "us") + (np.arange(n) * 1_000_000).astype("timedelta64[us]")
    values = np.concatenate([samples[s] for s in sensors])
    return pa.table(
        {
            "equipment_id": pa.array([DEMO_EQUIPMENT] * (n * len(sensors)), pa.string()),
            "sensor_id": pa.array(np.repeat(sensors, n).tolist(), pa.string()),
            "ts": pa.array(np.tile(ts, len(sensors)), pa.timestamp("us")),
            "value": pa.array(values, pa.float64()),
            "source_id": pa.array(np.full(n * len(sensors), source_id, dtype=np.int32)),
        }
    )


def _insert_truth(
    con: duckdb.DuckDBPyConnection,
    conditions: list[Conditions],
    starts: list[datetime],
    source_id: int,
) -> None:
    """One label per run of constant grade per component (origin 'simulator')."""
    rows: list[tuple[str, datetime, datetime, int, str | None, str]] = []
    for factor in FACTORS:
        component = FACTOR_COMPONENT[factor]
        grades = [c.grades()[component] for c in conditions]
        run_start = 0
        for i in range(1, len(grades) + 1):
            if i == len(grades) or grades[i] != grades[run_start]:
                grade = grades[run_start]
                value = float(np.mean([getattr(c, factor) for c in conditions[run_start:i]]))
                rows.append(
                    (
                        component,
                        starts[run_start],
                        starts[i - 1] + timedelta(seconds=CYCLE_SECONDS),
                        grade,
                        FAULT_TYPES[factor] if grade > 0 else None,
                        f"{value:.4g}",
                    )
                )
                run_start = i
    table = pa.table(
        {
            "component_id": pa.array([r[0] for r in rows], pa.string()),
            "start_ts": pa.array([r[1] for r in rows], pa.timestamp("us")),
            "end_ts": pa.array([r[2] for r in rows], pa.timestamp("us")),
            "grade": pa.array([r[3] for r in rows], pa.int16()),
            "fault_type": pa.array([r[4] for r in rows], pa.string()),
            "raw_value": pa.array([r[5] for r in rows], pa.string()),
        }
    )
    con.register("_demo_labels", table)
    insert_labels(
        con, "_demo_labels", equipment_id=DEMO_EQUIPMENT, origin="simulator", source_id=source_id
    )
    con.unregister("_demo_labels")
