"""The view pyramid: built at import, extended by live recording, dropped with its source,
built for old workspaces by the migration, and read at the level a range and a budget need."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import numpy as np
import pytest

from ingestion import catalog, pyramid, schema
from ingestion.csv_import import ingest_csv
from ingestion.live_writer import LiveWriter, StoreSink
from ingestion.profiles import EquipmentProfile
from ingestion.progress import CancelledError, TerminalProgress
from ingestion.workspace import Store, open_workspace

T0_S = 1_767_600_000  # 2026-01-05 00:00:00 UTC


def _log(path: Path, seconds: int, rate: int = 10, *, nan_at: int | None = None) -> Path:
    """A wide log of PS1 and TS1 at ``rate`` Hz: PS1 = the sample index, TS1 = 40 + second."""
    lines = ["time,PS1,TS1"]
    for i in range(seconds * rate):
        ts = np.datetime64(T0_S, "s") + np.timedelta64(i * 1000 // rate, "ms")
        ps1 = "NaN" if i == nan_at else str(i)
        lines.append(f"{ts},{ps1},{40 + i // rate}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _direct_level0(store: Store, source_id: int) -> list[tuple[object, ...]]:
    """Level 0 computed straight from the measurements view, for comparison."""
    return store.query(
        "SELECT sensor_id, epoch_us(ts) // 1000000 AS b, count(value), min(value), max(value), "
        "sum(value) FROM measurements WHERE source_id = ? AND value IS NOT NULL "
        "GROUP BY ALL ORDER BY 1, 2",
        [source_id],
    )


def _level(store: Store, source_id: int, level: int) -> list[tuple[object, ...]]:
    return store.query(
        "SELECT sensor_id, bucket, n, vmin, vmax, vsum FROM pyramid "
        "WHERE source_id = ? AND level = ? ORDER BY 1, 2",
        [source_id, level],
    )


def test_wide_import_builds_every_level_from_the_samples(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    summary = ingest_csv(
        store, _log(tmp_path / "a.csv", 70, nan_at=15), equipment_id="rig", profile=rig
    )
    level0 = _level(store, summary.source_id, 0)
    assert level0 == _direct_level0(store, summary.source_id)
    assert len(level0) == 2 * 70  # one bucket a second for each sensor
    ps1 = [r for r in level0 if r[0] == "PS1"]
    # the NaN (sample 15, in second 1) is a gap, not a value: 9 samples there, none NaN
    assert ps1[1][2:5] == (9, 10.0, 19.0)
    for level in range(pyramid.LEVELS):
        rows = _level(store, summary.source_id, level)
        size = pyramid.bucket_s(level)
        assert sum(int(r[2]) for r in rows if r[0] == "PS1") == 699  # every finite sample
        assert max(float(r[4]) for r in rows if r[0] == "PS1") == 699.0
        first_ps1 = next(r for r in rows if r[0] == "PS1")
        assert int(first_ps1[1]) == T0_S // size  # buckets are epoch seconds over their size


def test_read_picks_the_level_and_leaves_short_ranges_to_the_samples(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    ingest_csv(store, _log(tmp_path / "a.csv", 600), equipment_id="rig", profile=rig)
    con = store.cursor()
    # 600 s at 10 Hz is 6000 samples: a budget of 10000 reads them as they are
    assert pyramid.read(con, "rig", ["PS1"], T0_S, T0_S + 600, max_points=6000) == {"PS1": None}
    assert pyramid.read(con, "rig", ["PS1"], T0_S, T0_S + 600, max_points=5999)["PS1"] is not None
    both = pyramid.read(con, "rig", ["TS1", "PS1", "PS2"], T0_S, T0_S + 600, max_points=100)
    coarse, ts1 = both["PS1"], both["TS1"]
    assert both["PS2"] is None  # no data: nothing to show
    assert ts1 is not None and ts1.vmax.max() == 40 + 599
    assert coarse is not None
    assert coarse.seconds == 16 and coarse.level == 2  # 600 / 4 > 100, 600 / 16 <= 100
    assert coarse.vmin[0] == 0.0 and coarse.vmax[-1] == 5999.0
    assert int(coarse.n.sum()) == 6000
    # the mean of a whole bucket: samples 160..319 of the second bucket
    assert coarse.mean[1] == pytest.approx((160 + 319) / 2)
    inner = pyramid.read(con, "rig", ["PS1"], T0_S + 100, T0_S + 300, max_points=100)["PS1"]
    assert inner is not None and inner.seconds == 4
    assert inner.start_s[0] == T0_S + 100 and inner.start_s[-1] == T0_S + 296


def test_pyramid_goes_with_its_source_and_a_cancelled_import_leaves_none(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    path = _log(tmp_path / "a.csv", 30)
    first = ingest_csv(store, path, equipment_id="rig", profile=rig)
    again = ingest_csv(store, path, equipment_id="rig", profile=rig, force=True)
    sources = store.query("SELECT DISTINCT source_id FROM pyramid")
    assert sources == [(again.source_id,)] and again.source_id != first.source_id
    progress = TerminalProgress(io.StringIO())
    progress.cancelled = True
    with pytest.raises(CancelledError):
        ingest_csv(store, path, equipment_id="rig", profile=rig, force=True, progress=progress)
    assert store.query("SELECT DISTINCT source_id FROM pyramid") == sources
    with store.transaction() as con:
        catalog.delete_source(con, again.source_id)
    assert store.query("SELECT count(*) FROM pyramid")[0][0] == 0


def test_live_flushes_extend_the_pyramid_as_a_build_would(
    store: Store, rig: EquipmentProfile
) -> None:
    with store.transaction() as con:
        catalog.ensure_equipment(con, "rig", rig)
    source_id = catalog.begin_live_source(
        store, equipment_id="rig", kind="modbus", uri="t", options={}
    ).source_id
    writer = LiveWriter(StoreSink(store), equipment_id="rig", source_id=source_id)
    for chunk in range(3):  # flushes that end mid-bucket at every level
        for i in range(chunk * 333, (chunk + 1) * 333):
            writer.add(("PS1", "PS2"), T0_S * 1_000_000 + i * 50_000, [float(i), float(-i)])
        assert writer.flush()
    grown = [_level(store, source_id, level) for level in range(pyramid.LEVELS)]
    with store.transaction() as con:
        pyramid.build(con, source_id)
    rebuilt = [_level(store, source_id, level) for level in range(pyramid.LEVELS)]
    assert grown == rebuilt
    assert sum(int(r[2]) for r in grown[3]) == 2 * 999


def test_v4_workspace_gets_its_pyramid_on_migration(tmp_path: Path) -> None:
    path = tmp_path / "v4.duckdb"
    con = duckdb.connect(str(path))
    for migration in schema.MIGRATIONS[:4]:
        con.execute(migration)
    con.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    con.execute(
        "INSERT INTO measurements_long SELECT 'rig', 'PS1', "
        "make_timestamp(CAST(? AS BIGINT) * 1000000 + i * 100000), i, 7 FROM range(100) t(i)",
        [T0_S],
    )
    con.execute(
        "INSERT INTO sources (id, equipment_id, kind, uri, value_count, status, imported_at) "
        "VALUES (7, 'rig', 'csv', 'old.csv', 100, 'complete', now())"
    )
    con.close()
    with open_workspace(path) as store:
        assert store.schema_version == schema.SCHEMA_VERSION
        assert _level(store, 7, 0) == _direct_level0(store, 7)
        top = _level(store, 7, pyramid.LEVELS - 1)
        assert [(r[2], r[3], r[4]) for r in top] == [(100, 0.0, 99.0)]
        # done once: a later open does not look again
        assert pyramid.build_missing(store.con) == 0


def test_an_interrupted_pyramid_build_goes_on_at_the_next_open(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    first = ingest_csv(store, _log(tmp_path / "a.csv", 30), equipment_id="rig", profile=rig)
    later = _log(tmp_path / "b.csv", 30).read_text().replace("2026-01-05", "2026-01-06")
    second = ingest_csv(
        store, _write_text(tmp_path / "c.csv", later), equipment_id="rig", profile=rig
    )
    # as if the first open of a v4 workspace had built one source's pyramid and then died
    store.con.execute("DELETE FROM pyramid WHERE source_id = ?", [second.source_id])
    store.con.execute("DELETE FROM meta WHERE key = ?", [pyramid.BUILT_KEY])
    before = _level(store, first.source_id, 3)
    assert pyramid.build_missing(store.con) == 1
    assert _level(store, first.source_id, 3) == before
    assert _level(store, second.source_id, 0) == _direct_level0(store, second.source_id)
