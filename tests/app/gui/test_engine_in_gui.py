"""The app on real engine output: real UCI cycles, diagnosed through gnn.engine with an ONNX model
(the shipped one when present, else the hand-built contract model of tests/gnn/test_engine.py, whose
grades are predictable: the cooler's sensors are shifted so C1 comes out degraded)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from app.core.presentation import STATUS_STYLES
from app.gui.main_window import MainWindow
from app.gui.views.component_graph import connection_attention
from gnn.graph import MODEL_ENV, default_model_path
from ingestion.workspace import open_workspace
from tests.app.gui.conftest import save_screenshot

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture(scope="module")
def uci_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path | None]:
    """(workspace with 40 real UCI cycles, model to use or None for the shipped one)."""
    from ingestion.uci_import import ingest_uci
    from tests.conftest import UCI_DIR
    from tests.gnn.test_engine import write_uci_subset

    root = tmp_path_factory.mktemp("gui-engine")
    folder = write_uci_subset(UCI_DIR, root / "uci", slice(0, 40))
    with open_workspace(root / "ws.duckdb") as store:
        ingest_uci(store, folder, equipment_id="rig")
    if default_model_path().exists():
        return root / "ws.duckdb", None
    from tests.gnn.test_engine import cooler_shifted_model

    return root / "ws.duckdb", cooler_shifted_model(folder, root / "model" / "model.onnx")


def test_diagnose_click_and_read_real_engine_output(
    qtbot, uci_workspace: tuple[Path, Path | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    source, model = uci_workspace
    if model is not None:
        monkeypatch.setenv(MODEL_ENV, str(model))
    workspace = tmp_path / "ws.duckdb"
    shutil.copy(source, workspace)
    win = MainWindow(workspace=workspace)
    win.close_policy = "cancel"
    qtbot.addWidget(win)
    win.open_workspace(workspace, "rig")
    win.resize(1366, 768)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    assert win.diagnosis is None
    qtbot.waitUntil(lambda: win.readiness is not None, timeout=30000)  # the model fits
    assert win.acts.diagnose.isEnabled() and win.acts.diagnose.text() == "&Diagnose last 30 min"
    qtbot.keyClick(win, Qt.Key.Key_F5)  # Diagnose the last 30 minutes
    assert win.runner.busy_count == 1 or win.diagnosis is not None, (
        f"F5 did not start a diagnosis: {win.status_label.text()}"
    )
    qtbot.waitUntil(lambda: win.diagnosis is not None, timeout=60000)
    d = win.diagnosis
    assert d.id is not None and d.n_windows == 30  # of the 40 one-minute cycles
    assert d.selection == "last 30 min"
    assert win.summary.verdict.text() == d.verdict
    assert d.model.version in win.summary.model.text()
    # Every node shows the engine's status for it, every edge width follows its attention.
    graph = win.overview.graph
    for result in d.components:
        assert (
            graph.nodes[result.component_id].fill_color().name()
            == STATUS_STYLES[result.status].fill
        )
    attention = connection_attention(d)
    ordered = sorted(
        graph.connections,
        key=lambda i: attention[tuple(sorted((i.connection.source, i.connection.target)))],
    )
    widths = [i.pen_width() for i in ordered]
    assert widths == sorted(widths)
    if model is not None:  # the contract model's cooler is degraded by construction
        assert d.component("C1").grade is not None and d.component("C1").grade >= 1
    # Click the cooler: its details come from the engine's result.
    node = graph.nodes["C1"]
    point = graph.mapFromScene(node.scenePos())
    qtbot.mouseClick(graph.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(point.x(), point.y()))
    details = win.overview.details
    assert details.component_id == "C1" and any(
        s.startswith("Grade probabilities") for s in details.sections
    )
    save_screenshot(win, "engine-overview-c1")
    # The diagnosis is in the workspace tree and feeds the trends.
    assert "Diagnoses (1)" in win.workspace_panel.tree.topLevelItem(0).child(2).text(0)
    win.show_tab("trends")
    assert set(win.trends.curves) >= {"C1", "V10", "MP1", "ACC"}
    save_screenshot(win, "engine-trends")
    # Select the first half of the history on the trends and diagnose just that range.
    trends = win.trends
    trends.select_button.setChecked(True)
    t, _ = trends.curves["C1"].getData()
    trends.region.setRegion((float(t[0]) - 1.0, float(t[len(t) // 2])))
    start, end = trends.selected_range()
    qtbot.mouseClick(trends.diagnose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: win.diagnosis is not None and win.diagnosis.id == d.id + 1, timeout=60000
    )
    ranged = win.diagnosis
    assert start <= ranged.window_start and ranged.window_end <= end + timedelta(seconds=61)
    assert ranged.n_windows < d.n_windows
    # Picking the first diagnosis in the workspace tree shows it again.
    group = win.workspace_panel.tree.topLevelItem(0).child(2)
    assert group.text(0) == "Diagnoses (2)"
    first = next(
        group.child(i)
        for i in range(group.childCount())
        if group.child(i).text(0).startswith(f"#{d.id} ")
    )
    win.workspace_panel._on_tree_item_clicked(first, 0)
    assert win.diagnosis.id == d.id
    win.show_tab("attention")
    save_screenshot(win, "engine-attention")
    win.show_tab("recommendations")
    save_screenshot(win, "engine-recommendations")
    win.close()
