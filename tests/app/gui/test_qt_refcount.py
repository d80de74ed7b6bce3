"""Guard against a Qt binding that over-releases None/True/False (PySide6 6.12.0 on Python 3.11).

With such a binding every pyqtgraph add/remove lowers ``sys.getrefcount(None)`` until the
interpreter aborts with "none_dealloc" — hours into a session, or at the end of a test run.
"""

from __future__ import annotations

import gc
import sys

import pytest

pytestmark = pytest.mark.gui


def test_plot_item_churn_keeps_none_and_bool_refcounts(qtbot) -> None:  # type: ignore[no-untyped-def]
    import pyqtgraph as pg

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    plot = widget.getPlotItem()
    gc.collect()
    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(50):
        region = pg.LinearRegionItem(values=(0, 1))
        plot.addItem(region)
        region.setVisible(False)
        plot.removeItem(region)
    del region
    gc.collect()
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    lost = [b - a for b, a in zip(before, after, strict=True)]
    assert max(lost) < 50, (
        f"the Qt binding released None/True/False {lost} more times than it took them: "
        "this PySide6 build will abort long sessions (see constraints.txt)"
    )
