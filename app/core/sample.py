"""The sample workspace behind every view run on its own, the report preview, the tests and the
benchmarks: the simulated demo rig, diagnosed by the real engine with the shipped model. Qt-free.

It is ``hydrodiag demo``'s rig (accumulator precharge fading, a pump leak appearing half way),
ending at a fixed time so that it is the same on every run, plus the visit it was recorded on
and two incidents a field log has and the demo's clean simulation lacks: a vibration excursion
on the main pump (a limit violation and an anomaly the engine reports) and a dropout of one
pressure transmitter (a data gap). The latest half hour holds both, so the latest diagnosis
shows every kind of finding the views and the report draw.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from gnn.results import Diagnosis
from ingestion import pyramid
from ingestion.demo import DEMO_EQUIPMENT, DEMO_HOURS, DEMO_PROFILE, build_demo_workspace
from ingestion.workspace import Store, open_workspace

SAMPLE_EQUIPMENT: Final = DEMO_EQUIPMENT
SAMPLE_PROFILE: Final = DEMO_PROFILE
SAMPLE_END: Final = datetime(2026, 11, 30, 9, 0)
# The demo's four hours: the engine measures trends from two hours on, so the later
# diagnoses carry trends, and one still sees the accumulator on its way down to critical.
SAMPLE_HOURS: Final = DEMO_HOURS
DIAGNOSE_EVERY: Final = timedelta(minutes=30)
VISIT: Final = {"customer": "ZeMA gGmbH", "site": "Hall 2", "inspector": "sample"}

# The incidents, as (offset before the end, duration).
VIBRATION_AT: Final = (timedelta(minutes=20), timedelta(seconds=70))
VIBRATION_RISE_MM_S: Final = 4.9  # VS1 runs at ~0.6 mm/s; its warning limit is 4.5
DROPOUT_AT: Final = (timedelta(minutes=12), timedelta(seconds=150))
DROPOUT_SENSORS: Final = ("PS2",)


@dataclass(frozen=True)
class SampleWorkspace:
    """A built sample: the workspace file and its stored diagnoses, oldest first."""

    path: Path
    equipment_id: str
    start: datetime
    end: datetime
    diagnoses: tuple[Diagnosis, ...]

    @property
    def diagnosis(self) -> Diagnosis:
        """The latest diagnosis (the one the app shows and the report is written from)."""
        return self.diagnoses[-1]

    def open(self, *, read_only: bool = False) -> Store:
        return open_workspace(self.path, read_only=read_only)


def build_sample_workspace(
    path: Path | str,
    *,
    hours: float = SAMPLE_HOURS,
    end: datetime = SAMPLE_END,
    incidents: bool = True,
) -> SampleWorkspace:
    """Build (replacing) the sample workspace at ``path`` and diagnose it every half hour.

    About 2–3 s for the default three hours on a laptop core; the diagnoses come from
    ``gnn.engine`` with the shipped model, exactly as ``hydrodiag diagnose`` makes them.
    """
    from gnn.engine import Selection, diagnose

    path = Path(path)
    _simulate(path, hours, end)
    start = end - timedelta(hours=hours)
    diagnoses: list[Diagnosis] = []
    with open_workspace(path) as store:
        inspection_id = _add_visit(store, start)
        if incidents:
            _add_incidents(store, end)
        window_start = start
        while window_start < end:
            window_end = min(window_start + DIAGNOSE_EVERY, end)
            diagnoses.append(
                diagnose(
                    store,
                    SAMPLE_EQUIPMENT,
                    selection=Selection(start=window_start, end=window_end),
                    now=window_end,
                    inspection_id=inspection_id,
                )
            )
            window_start = window_end
    return SampleWorkspace(path, SAMPLE_EQUIPMENT, start, end, tuple(diagnoses))


def _simulate(path: Path, hours: float, end: datetime) -> None:
    # the demo builder only simulates; the diagnoses here are made after the incidents are in
    build_demo_workspace(path, hours=hours, end=end)


def _add_visit(store: Store, start: datetime) -> int:
    """The inspection the sample's data and diagnoses belong to (customer, site, inspector)."""
    with store.transaction() as con:
        row = con.execute(
            "INSERT INTO inspections (equipment_id, started_at, customer, site, inspector) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            [SAMPLE_EQUIPMENT, start, VISIT["customer"], VISIT["site"], VISIT["inspector"]],
        ).fetchone()
        assert row is not None
        inspection_id = int(row[0])
        con.execute(
            "UPDATE sources SET inspection_id = ? WHERE equipment_id = ?",
            [inspection_id, SAMPLE_EQUIPMENT],
        )
    return inspection_id


def _add_incidents(store: Store, end: datetime) -> None:
    vibration_start = end - VIBRATION_AT[0]
    dropout_start = end - DROPOUT_AT[0]
    with store.transaction() as con:
        changed = [
            con.execute(
                "UPDATE measurements_long SET value = value + ? "
                "WHERE equipment_id = ? AND sensor_id = 'VS1' AND ts >= ? AND ts < ?",
                [
                    VIBRATION_RISE_MM_S,
                    SAMPLE_EQUIPMENT,
                    vibration_start,
                    vibration_start + VIBRATION_AT[1],
                ],
            ).fetchall(),
            con.execute(
                "DELETE FROM measurements_long WHERE equipment_id = ? "
                "AND list_contains(?, sensor_id) AND ts >= ? AND ts < ?",
                [
                    SAMPLE_EQUIPMENT,
                    list(DROPOUT_SENSORS),
                    dropout_start,
                    dropout_start + DROPOUT_AT[1],
                ],
            ).fetchall(),
        ]
        # The demo stores its samples in the long table; a silent no-op would hide both
        # incidents, so a changed demo must fail here rather than in every test that uses them.
        if not all(rows and rows[0][0] for rows in changed):
            raise RuntimeError(
                "the demo's samples are no longer in measurements_long: update app.core.sample"
            )
        con.execute(
            "UPDATE sources SET value_count = (SELECT count(*) FROM measurements m "
            "WHERE m.source_id = sources.id) WHERE equipment_id = ?",
            [SAMPLE_EQUIPMENT],
        )
        # the plots read the view pyramid: it must show the incidents too
        for (source_id,) in con.execute(
            "SELECT id FROM sources WHERE equipment_id = ?", [SAMPLE_EQUIPMENT]
        ).fetchall():
            pyramid.build(con, int(source_id))


def sample_workspace_in_temp() -> SampleWorkspace:
    """A sample built in a temporary folder that is removed when the process exits (for a view
    run on its own with ``python -m``)."""
    folder = Path(tempfile.mkdtemp(prefix="hydrodiag-sample-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_sample_workspace(folder / "sample.duckdb")


def sample_diagnosis() -> Diagnosis:
    """The sample's latest diagnosis, for views that show a diagnosis and nothing else."""
    return sample_workspace_in_temp().diagnosis
