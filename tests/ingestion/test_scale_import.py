"""Long logs: a log cut off mid-line imports its whole lines with a note, time order is checked
in bounded batches, and a cancel at any stage of the import leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion import csv_import
from ingestion.csv_import import ingest_csv
from ingestion.profiles import EquipmentProfile
from ingestion.progress import CancelledError, NullProgress
from ingestion.workspace import Store, open_workspace

WIDE = "time,PS1,TS1\n" + "".join(f"2026-01-01T00:00:0{i},{100 + i},{40 + i}\n" for i in range(6))


def _write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize(
    "tail", ["2026-01-01T00:00:06,10", "2026-01-01T00:0", "2026-01-01T00:00:06,"]
)
def test_a_log_cut_mid_line_imports_its_whole_lines_with_a_note(
    store: Store, tmp_path: Path, rig: EquipmentProfile, tail: str
) -> None:
    path = _write(tmp_path, WIDE + tail)
    summary = ingest_csv(store, path, equipment_id="rig", profile=rig)
    assert summary.rows == 6 and summary.values == 12
    note = next(w for w in summary.warnings if "ends mid-line" in w)
    assert repr(tail) in note and "every line before it imported" in note
    assert str(summary.last_ts) == "2026-01-01 00:00:05"
    assert store.query("SELECT sum(n) FROM pyramid WHERE level = 0")[0][0] == 12
    # the file itself is untouched, and the source names it
    assert path.read_bytes().endswith(tail.encode())
    assert store.query("SELECT uri FROM sources")[0][0] == str(path.resolve())


def test_a_last_line_without_line_break_but_whole_is_imported(
    store: Store, tmp_path: Path, rig: EquipmentProfile
) -> None:
    summary = ingest_csv(
        store,
        _write(tmp_path, WIDE + "2026-01-01T00:00:06,106,46"),
        equipment_id="rig",
        profile=rig,
    )
    assert summary.rows == 7 and not any("mid-line" in w for w in summary.warnings)


def test_a_long_log_cut_mid_line(store: Store, tmp_path: Path, rig: EquipmentProfile) -> None:
    text = "time,sensor,value\n2026-01-01 00:00:00,PS1,1\n2026-01-01 00:00:01,PS1,2\n2026-01-01 00:"
    summary = ingest_csv(store, _write(tmp_path, text), equipment_id="rig", profile=rig)
    assert summary.values == 2 and any("ends mid-line" in w for w in summary.warnings)


def test_time_order_is_checked_across_batches(
    store: Store, tmp_path: Path, rig: EquipmentProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_import, "_ORDER_BATCH", 2)  # every step crosses a batch edge
    stamps = ["00:00:00", "00:00:01", "00:00:03", "00:00:02", "00:00:02", "00:00:04", "00:00:04"]
    text = "time,PS1\n" + "".join(f"2026-01-01T{s},{k}\n" for k, s in enumerate(stamps))
    summary = ingest_csv(store, _write(tmp_path, text), equipment_id="rig", profile=rig)
    warnings = " ".join(summary.warnings)
    assert (
        "1 time stamp(s) out of order (first: 2026-01-01T00:00:02.000000 after "
        "2026-01-01T00:00:03.000000); imported sorted"
    ) in warnings
    assert "2 duplicate time stamp(s)" in warnings
    assert summary.rows == 7


class _CancelAfter(NullProgress):
    """Cancels once ``task`` has started: a user pressing Cancel at that stage."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.cancelled = False
        self.seen: list[str] = []

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None:
        self.seen.append(task)
        if task.startswith(self.task):
            self.cancelled = True


@pytest.mark.parametrize("stage", ["importing", "building the view pyramid"])
def test_cancel_at_any_stage_leaves_the_workspace_as_it_was(
    store: Store, tmp_path: Path, rig: EquipmentProfile, stage: str
) -> None:
    ingest_csv(store, _write(tmp_path, WIDE, "first.csv"), equipment_id="rig", profile=rig)
    tables = store.query("SELECT count(*) FROM duckdb_tables()")
    progress = _CancelAfter(stage)
    later = WIDE.replace("00:00:0", "00:01:0")
    with pytest.raises(CancelledError):
        ingest_csv(
            store, _write(tmp_path, later), equipment_id="rig", profile=rig, progress=progress
        )
    assert any(t.startswith(stage) for t in progress.seen)
    assert store.query("SELECT count(*) FROM sources")[0][0] == 1
    assert store.query("SELECT count(*) FROM duckdb_tables()") == tables
    assert store.query("SELECT count(DISTINCT source_id) FROM pyramid")[0][0] == 1
    assert store.query("SELECT count(*) FROM measurements")[0][0] == 12


FILL_DISK = """
import resource, signal, sys
from pathlib import Path
from ingestion.csv_import import ingest_csv
from ingestion.errors import HydroDiagError
from ingestion.profiles import load_profile
from ingestion.workspace import open_workspace
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
store = open_workspace(Path(sys.argv[1]))
limit = Path(sys.argv[1]).stat().st_size + 256 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    ingest_csv(store, Path(sys.argv[2]), equipment_id="rig", profile=load_profile("zema-test-rig"))
except HydroDiagError as exc:
    print("SENTENCE", exc)
"""


def test_a_disk_that_fills_during_import_leaves_the_workspace_and_says_what_is_needed(
    tmp_path: Path, rig: EquipmentProfile
) -> None:
    import random
    import subprocess
    import sys

    ws = tmp_path / "ws.duckdb"
    with open_workspace(ws) as store:
        ingest_csv(store, _write(tmp_path, WIDE, "first.csv"), equipment_id="rig", profile=rig)
    rng = random.Random(3)
    lines = ["time,PS1,PS2,EPS1"] + [
        f"2026-01-02T00:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 100:02d},"
        f"{rng.uniform(0, 200):.6f},{rng.uniform(0, 200):.6f},{rng.uniform(0, 4000):.6f}"
        for i in range(200_000)
    ]
    big = _write(tmp_path, "\n".join(lines) + "\n", "big.csv")
    out = subprocess.run(
        [sys.executable, "-c", FILL_DISK, str(ws), str(big)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "SENTENCE" in out.stdout, out.stderr[-2000:]
    sentence = out.stdout.split("SENTENCE", 1)[1]
    assert "the disk filled while importing" in sentence and "nothing was imported" in sentence
    assert "needs about" in sentence and "free now" in sentence, sentence
    with open_workspace(ws, read_only=True) as store:
        assert store.query("SELECT count(*) FROM sources")[0][0] == 1
        assert store.query("SELECT count(*) FROM measurements")[0][0] == 12
