"""The demo the app's welcome page builds: complete, or not there at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.demo import build_demo
from ingestion.demo import DEMO_EQUIPMENT
from ingestion.progress import CancelledError
from ingestion.workspace import open_workspace


class _CancelAfter:
    """A progress whose user presses Cancel after ``steps`` updates."""

    def __init__(self, steps: int) -> None:
        self.left = steps

    @property
    def cancelled(self) -> bool:
        return self.left <= 0

    def start(self, task: str, total: int | None = None, unit: str = "rows") -> None:
        pass

    def update(self, done: int, total: int | None = None) -> None:
        self.left -= 1

    def finish(self) -> None:
        pass


def test_the_demo_is_built_and_diagnosed(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    summary = build_demo(path)
    assert summary.path == path and path.exists()
    assert not list(tmp_path.glob(".*building*"))
    with open_workspace(path, read_only=True) as store:
        n = store.query("SELECT count(*) FROM diagnoses WHERE equipment_id = ?", [DEMO_EQUIPMENT])
    assert n[0][0] == len(summary.diagnoses) > 0


@pytest.mark.parametrize("steps", [3, 15])
def test_a_cancelled_build_leaves_no_demo(tmp_path: Path, steps: int) -> None:
    """Cancelled while simulating (the simulation reports 12 steps) or while diagnosing (it
    reports one per half hour): no demo file, no leftovers; an earlier demo stays as it was."""
    path = tmp_path / "demo.duckdb"
    path.write_bytes(b"the earlier demo")
    with pytest.raises(CancelledError):
        build_demo(path, progress=_CancelAfter(steps))
    assert path.read_bytes() == b"the earlier demo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb"]
