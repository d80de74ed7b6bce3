"""GUI test fixtures: real widgets offscreen, real workspaces in tmp_path, screenshots on disk."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.sample import SAMPLE_EQUIPMENT, SampleWorkspace

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "test-output" / "screenshots"
# Qt's offscreen screen is 800×800 by default; give it a laptop's 1920×1080 so window
# geometry behaves as on a real desktop (the window itself is tested at 1366×768).
_SCREEN = REPO / "test-output" / "offscreen-screen.json"
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    _SCREEN.parent.mkdir(parents=True, exist_ok=True)
    _SCREEN.write_text(
        '{"screens": [{"name": "laptop", "x": 0, "y": 0, "width": 1920, "height": 1080, '
        '"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}',
        encoding="utf-8",
    )
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_SCREEN}"
EQUIPMENT = SAMPLE_EQUIPMENT


@pytest.fixture
def sample_workspace(sample_template: SampleWorkspace, tmp_path: Path) -> Path:
    """A private copy of the session's sample workspace, so tests may write to it."""
    target = tmp_path / "workspace.duckdb"
    shutil.copyfile(sample_template.path, target)
    return target


def open_main_window(qtbot, workspace: Path, equipment: str = EQUIPMENT):  # type: ignore[no-untyped-def]
    """The main window on ``workspace`` at 1366×768, shown, its background loads finished."""
    from app.gui.main_window import MainWindow

    win = MainWindow(workspace=workspace)
    win.close_policy = "cancel"
    qtbot.addWidget(win)
    win.open_workspace(workspace, equipment)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.runner.active_count == 0, timeout=15000)
    return win


def open_empty_window(qtbot, workspace: Path):  # type: ignore[no-untyped-def]
    """The main window on a new, empty workspace at 1366×768, shown (the welcome page)."""
    from app.gui.main_window import MainWindow

    win = MainWindow(workspace=workspace)
    win.close_policy = "cancel"
    qtbot.addWidget(win)
    win.open_workspace(workspace)
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, sample_workspace: Path) -> Iterator:  # type: ignore[no-untyped-def]
    """The main window on the sample workspace, sensor data loaded."""
    win = open_main_window(qtbot, sample_workspace)
    yield win
    win.close()


def save_screenshot(widget, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Render ``widget`` (at 1366×768 when it is a top-level window) to test-output/screenshots."""
    from PySide6.QtWidgets import QApplication

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    for _ in range(3):  # let deferred layout (row heights, new scroll-area contents) settle
        QApplication.processEvents()
    assert widget.grab().save(str(path)), f"could not write {path}"
    return path
