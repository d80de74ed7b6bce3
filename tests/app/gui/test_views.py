"""Each view built from a real workspace and checked for what it shows; screenshots at 1366×768."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

from app.core import queries
from app.core.presentation import PRIORITY_RANK, STATUS_STYLES
from app.gui.views.attention import attention_matrix, attention_over_time
from app.gui.views.component_graph import MAX_EDGE_W, MIN_EDGE_W, connection_attention
from gnn.results import Status
from tests.app.gui.conftest import EQUIPMENT, save_screenshot

pytestmark = pytest.mark.gui


def test_overview_node_colours_follow_status(window) -> None:  # type: ignore[no-untyped-def]
    diagnosis = window.diagnosis
    assert diagnosis is not None
    graph = window.overview.graph
    assert set(graph.nodes) == {c.component_id for c in diagnosis.components}
    statuses = set()
    for result in diagnosis.components:
        node = graph.nodes[result.component_id]
        assert node.status == result.status
        assert node.fill_color().name() == STATUS_STYLES[result.status].fill
        # Not colour alone: the status word is in the tooltip too.
        assert STATUS_STYLES[result.status].word in node.toolTip()
        statuses.add(result.status)
    # The sample has every kind of node the legend explains except "no data".
    assert {Status.HEALTHY, Status.WARNING, Status.CRITICAL, Status.NOT_ASSESSED} <= statuses
    window.show_tab("overview")
    save_screenshot(window, "overview")


def test_node_tooltip_gives_the_grade_of_what_is_shown(window) -> None:  # type: ignore[no-untyped-def]
    """The selection's grade (as the details panel words it), or the chosen window's own."""
    from gnn.recommend import grade_text

    diagnosis = window.diagnosis
    graph = window.overview.graph
    v10 = diagnosis.component("V10")
    assert f"Grade {grade_text(v10)} (confidence" in graph.nodes["V10"].toolTip()
    k = next(i for i, w in enumerate(diagnosis.windows) if "V10" in w.grade)
    graph.set_diagnosis(diagnosis, window=k)
    grade = diagnosis.windows[k].grade["V10"]
    assert f"Grade {grade} " in graph.nodes["V10"].toolTip()
    assert "(this window)" in graph.nodes["V10"].toolTip()


def test_overview_edge_widths_follow_attention(window) -> None:  # type: ignore[no-untyped-def]
    graph = window.overview.graph
    attention = connection_attention(window.diagnosis)
    pairs = []
    for item in graph.connections:
        key = tuple(sorted((item.connection.source, item.connection.target)))
        pairs.append((attention[key], item.pen_width(), item.opacity()))
    pairs.sort()
    widths = [w for _, w, _ in pairs]
    opacities = [o for _, _, o in pairs]
    assert widths == sorted(widths), "a connection with more attention is drawn thinner"
    assert opacities == sorted(opacities)
    assert widths[-1] == pytest.approx(MAX_EDGE_W)
    assert widths[0] >= MIN_EDGE_W and widths[0] < widths[-1]


def test_clicking_a_component_shows_its_details(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    graph = window.overview.graph
    node = graph.nodes["MP1"]  # the sample's pump has something in every section
    point = graph.mapFromScene(node.scenePos())
    with qtbot.waitSignal(window.overview.componentSelected, timeout=2000) as blocker:
        qtbot.mouseClick(
            graph.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(point.x(), point.y())
        )
    assert blocker.args == ["MP1"]
    details = window.overview.details
    assert details.component_id == "MP1"
    for section in (
        "Grade probabilities",
        "Trend",
        "Fault probabilities",
        "Anomaly",
        "Limit violations",
        "Recommendations",
    ):
        assert any(s.startswith(section) for s in details.sections), section
    assert any(s.startswith("Health over") for s in details.sections)  # the sparkline
    # The sensors tab follows the selection.
    assert window.sensors.checked_sensors() == [s.id for s in window.profile.sensors_of("MP1")]
    save_screenshot(window, "overview-mp1-selected")


def test_summary_bar_always_shows_health_verdict_model_provider(window) -> None:  # type: ignore[no-untyped-def]
    d = window.diagnosis
    bar = window.summary
    assert bar.health.text() == f"{d.overall_health * 100:.0f} %"
    assert bar.verdict.text() == d.verdict
    assert d.model.version in bar.model.text() and "CPU" in bar.model.text()
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        assert bar.isVisible()


def test_trends_hold_health_history_bands_and_projection(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    trends = window.trends
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=15000)  # read off-thread
    history = queries.health_history(window.store, EQUIPMENT)
    assert set(trends.curves) == set(history)
    for comp, (t, h) in history.items():
        x, y = trends.curves[comp].getData()
        np.testing.assert_allclose(x, t)
        np.testing.assert_allclose(y, h)
    thresholds = window.diagnosis.thresholds
    assert trends.bands[Status.CRITICAL].getRegion() == pytest.approx((0.0, thresholds.critical))
    assert trends.bands[Status.WARNING].getRegion() == pytest.approx(
        (thresholds.critical, thresholds.healthy)
    )
    window.show_tab("trends")
    save_screenshot(window, "trends")
    # The accumulator in warning, falling. Shown with a time to critical, its projection runs
    # down to the critical level; with its trend line below critical already (the shipped
    # model 1.7.0 reads the sample so), or with no trend, there is none.
    stored = [
        queries.load_diagnosis(window.store, s.id)
        for s in queries.list_diagnoses(window.store, EQUIPMENT)
    ]
    falling = next(
        d
        for d in sorted(stored, key=lambda d: d.window_start)
        if d.component("ACC").status == Status.WARNING
        and d.component("ACC").trend is not None
        and d.component("ACC").trend.enough_history
    )
    acc = falling.component("ACC")
    assert acc.trend is not None and acc.trend.rate_per_100h
    window.show_diagnosis_id(falling.id)
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=15000)
    px, _py = trends.projections["ACC"].getData()
    already = not acc.trend.hours_to_critical
    assert (px is None or len(px) == 0) if already else len(px) == 2
    ahead = acc.trend.model_copy(update={"hours_to_critical": 5.0})
    shown = falling.model_copy(
        update={
            "components": tuple(
                c.model_copy(update={"trend": ahead}) if c.component_id == "ACC" else c
                for c in falling.components
            )
        }
    )
    trends.set_history(queries.health_series(window.store, EQUIPMENT), shown)
    px, py = trends.projections["ACC"].getData()
    assert len(px) == 2 and py[-1] == pytest.approx(thresholds.critical) and px[1] > px[0]
    save_screenshot(window, "trends-projection")
    # Select a range and ask for a diagnosis of it.
    trends.select_button.setChecked(True)
    lo, hi = float(history["V10"][0][2]), float(history["V10"][0][10])
    trends.region.setRegion((lo, hi))
    with qtbot.waitSignal(trends.diagnoseRangeRequested, timeout=2000) as blocker:
        qtbot.mouseClick(trends.diagnose_button, Qt.MouseButton.LeftButton)
    start, end = blocker.args
    assert start < end
    assert abs((end - start).total_seconds() - (hi - lo)) < 1e-3


def test_sensor_plots_linked_per_unit_with_downsampling(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = window.show_tab("sensors")
    panel.set_checked(["PS1", "PS2", "EPS1", "TS1"])
    qtbot.waitUntil(lambda: {"PS1", "PS2", "EPS1", "TS1"} <= panel.loaded, timeout=10000)
    shown = [item for item in panel.graphics.ci.items if item is not panel.label_strip]
    units = sorted(p.getAxis("left").labelText for p in shown)
    assert units == sorted(["bar", "W", "°C"])
    assert panel.label_strip in panel.graphics.ci.items  # known conditions: a strip of their own
    first = panel.plots["bar"]
    for unit, plot in panel.plots.items():
        if plot is not first:
            assert plot.getViewBox().linkedView(0) is first.getViewBox(), unit
    start, end = window._series_range()  # the diagnosed half hour and a little around it
    ts, values = queries.load_series(window.store, EQUIPMENT, ["PS1"], start, end)["PS1"]
    curve = panel.curves["PS1"]
    x, y = curve.getOriginalDataset()
    np.testing.assert_allclose(x, ts)
    np.testing.assert_allclose(y, values)
    assert curve.opts["clipToView"] and curve.opts["autoDownsample"]
    # Sensors sampled at the same instants share one time array (memory on long logs).
    assert panel._raw["PS1"][0] is panel._raw["EPS1"][0] is panel._raw["TS1"][0]
    assert panel._raw["PS1"][0] is not panel._raw["PS2"][0]  # PS2's dropout: other instants
    # Anomalous windows, the limit violation and the dataset label are marked.
    kinds = {m.kind for m in panel.markers}
    assert {"anomaly", "violation", "label", "gap"} <= kinds
    assert panel._marker_items
    # Units: pressure in psi converts the data and the axis.
    panel.set_units("psi", "°C")
    _, y_psi = curve.getOriginalDataset()
    np.testing.assert_allclose(y_psi, values * 14.503773773)
    assert panel.plots["bar"].getAxis("left").labelText == "psi"
    panel.set_units("bar", "°C")
    save_screenshot(window, "sensors")
    # Another range reloads what is checked, off the GUI thread.
    panel.set_range_key("all")
    assert panel.loaded == set()
    qtbot.waitUntil(lambda: {"PS1", "PS2", "EPS1", "TS1"} <= panel.loaded, timeout=10000)
    x_all, _ = curve.getOriginalDataset()
    ts_all, _ = queries.load_series(window.store, EQUIPMENT, ["PS1"])["PS1"]
    # the pyramid holds every sample the sample workspace kept after its incidents
    per_sensor = "GROUP BY 1 ORDER BY 1"
    assert window.store.query(
        f"SELECT sensor_id, count(value) FROM measurements WHERE equipment_id = ? {per_sensor}",
        [EQUIPMENT],
    ) == window.store.query(
        f"SELECT sensor_id, CAST(sum(n) AS BIGINT) FROM pyramid WHERE equipment_id = ? "
        f"AND level = 0 {per_sensor}",
        [EQUIPMENT],
    )
    # all of it is more samples than pixels: about two points a pixel, from the view pyramid
    assert len(x_all) < len(ts_all)
    assert x_all[0] - ts_all[0] < 60 and ts_all[-1] - x_all[-1] < 60
    # zoomed in to two minutes, the view reloads them: the exact samples
    first.setXRange(ts_all[100], ts_all[100] + 120, padding=0)
    qtbot.waitUntil(
        lambda: (
            panel.loaded_window is not None
            and panel.loaded_window[1] - panel.loaded_window[0] < 600
        ),
        timeout=10000,
    )
    x_zoom, _ = curve.getOriginalDataset()
    lo, hi = panel.loaded_window
    assert np.array_equal(x_zoom, ts_all[(ts_all >= lo) & (ts_all < hi)])


def test_attention_heatmap_and_graph_follow_the_window(window) -> None:  # type: ignore[no-untyped-def]
    panel = window.show_tab("attention")
    d = window.diagnosis
    comps = list(window.profile.component_ids)
    matrix = attention_matrix(d, comps, None)
    # Every edge of the diagnosis lands in the matrix (self-loops on the diagonal).
    assert np.nansum(matrix) == pytest.approx(sum(e.combined for e in d.edges))
    assert np.isnan(matrix[comps.index("M1"), comps.index("C1")])  # no edge there
    image = panel.matrix_image.image
    np.testing.assert_allclose(np.nan_to_num(image), np.nan_to_num(matrix))
    labels, over_time = attention_over_time(d)
    assert over_time.shape == (len(labels), len(d.windows))
    save_screenshot(window, "attention")
    # One window: the graph's edge widths follow that window's attention.
    panel.show_window(3)
    expected = connection_attention(d, 3)
    widths = {
        tuple(sorted((i.connection.source, i.connection.target))): i.pen_width()
        for i in panel.graph.connections
    }
    strongest = max(expected, key=lambda k: expected[k])
    assert widths[strongest] == pytest.approx(max(widths.values()))
    assert panel.window_label.text().startswith("#4")
    save_screenshot(window, "attention-window-4")


def test_recommendations_sorted_and_copyable(window) -> None:  # type: ignore[no-untyped-def]
    panel = window.show_tab("recommendations")
    recs = panel.recommendations
    assert len(recs) == len(window.diagnosis.recommendations) > 1
    keys = [(PRIORITY_RANK[r.priority], r.due_date) for r in recs]
    assert keys == sorted(keys)
    assert panel.table.item(0, 0).text() == recs[0].priority.value.upper()
    text = panel.copy_to_clipboard()
    assert QGuiApplication.clipboard().text() == text
    lines = text.splitlines()
    assert lines[0].startswith("Priority\tDue") and len(lines) == len(recs) + 1
    assert recs[0].action in lines[1]
    save_screenshot(window, "recommendations")


def test_workspace_panel_lists_equipment_sources_diagnoses(window) -> None:  # type: ignore[no-untyped-def]
    tree = window.workspace_panel.tree
    top = tree.topLevelItem(0)
    assert EQUIPMENT in top.text(0)
    groups = [top.child(i).text(0) for i in range(top.childCount())]
    assert groups == ["Inspections (1)", "Sources (1)", "Diagnoses (8)"]  # every half hour


def test_labels_imported_from_the_window_show_as_a_source(
    window, qtbot, tmp_path, sample_template
) -> None:  # type: ignore[no-untyped-def]
    """File > Import condition labels: a bad sheet gets a dialog naming its lines and changes
    nothing; a good one shows in the panel as label ranges, not values."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    start = sample_template.start
    day, hour = f"{start:%Y-%m-%d}", f"{start:%H}"
    head = "component,start,end,grade,fault_type\n"
    bad = tmp_path / "bad-labels.csv"
    bad.write_text(head + f"XYZ,{day} {hour}:00,{day} {hour}:20,7,\n")
    window.import_labels(bad)
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=15000)
    boxes = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]
    assert boxes, "no error dialog"
    text = boxes[-1].text()
    assert "bad-labels.csv" in text and "line 2" in text and "Traceback" not in text
    save_screenshot(boxes[-1], "labels-import-error")
    boxes[-1].close()
    sources = window.workspace_panel.tree.topLevelItem(0).child(1)
    assert sources.text(0) == "Sources (1)"

    sheet = tmp_path / "inspection-labels.csv"
    # Components the simulator's ground truth leaves alone: an overlap would be worth a dialog.
    sheet.write_text(
        head
        + f"F1,{day} {hour}:00,{day} {hour}:20,0,\n"
        + f"MP2,{day} {hour}:00,{day} {hour}:20,1,pump_internal_leakage\n"
    )
    window.import_labels(sheet)
    qtbot.waitUntil(lambda: window.runner.active_count == 0, timeout=15000)
    sources = window.workspace_panel.tree.topLevelItem(0).child(1)
    assert sources.text(0) == "Sources (2)"
    texts = [sources.child(i).text(0) for i in range(sources.childCount())]
    assert texts[0].endswith(" values)")  # complete: no word for the normal case
    assert texts[1] == "labels: inspection-labels.csv (2 label ranges)"
    assert window.status_label.text().startswith("imported 2 label ranges")
    window.workspace_panel.tree.expandAll()
    save_screenshot(window, "workspace-labels-source")
