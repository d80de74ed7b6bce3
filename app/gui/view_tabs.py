"""ViewTabs: the main window's view tabs. The plot tabs (pyqtgraph) are built the first time
they are shown or asked for, so the window paints sooner and never loads what is not used."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from app.gui.views.overview import OverviewPanel
from app.gui.views.recommendations import RecommendationsPanel

if TYPE_CHECKING:
    from app.gui.views.attention import AttentionPanel
    from app.gui.views.health_trend import HealthTrendPanel
    from app.gui.views.sensor_plot import SensorPlotPanel

VIEW_NAMES = ("overview", "trends", "sensors", "attention", "live", "recommendations")


class ViewTabs(QTabWidget):
    """One tab per view; ``on_built(name, panel)`` runs once for each lazily built panel (to
    connect it and give it the current state)."""

    def __init__(self, titles: Sequence[str], on_built: Callable[[str, QWidget], None]) -> None:
        super().__init__()
        self.setDocumentMode(True)
        self.overview = OverviewPanel()
        self.recommendations = RecommendationsPanel()
        self._on_built = on_built
        self._factories: dict[str, Callable[[], QWidget]] = {
            "trends": _make_trends_panel,
            "sensors": _make_sensor_panel,
            "attention": _make_attention_panel,
            "live": _make_live_panel,
        }
        self._built: dict[str, QWidget] = {}
        self._holders: dict[str, QWidget] = {}
        for name, title in zip(VIEW_NAMES, titles, strict=True):
            if name == "overview":
                self.addTab(self.overview, title)
            elif name == "recommendations":
                self.addTab(self.recommendations, title)
            else:
                holder = QWidget()
                holder_layout = QVBoxLayout(holder)
                holder_layout.setContentsMargins(0, 0, 0, 0)
                self._holders[name] = holder
                self.addTab(holder, title)
        self.currentChanged.connect(self._on_current_changed)

    def panel(self, name: str) -> QWidget:
        """The panel behind a lazily built tab, built on first use."""
        panel = self._built.get(name)
        if panel is None:
            panel = self._factories[name]()
            layout = self._holders[name].layout()
            assert layout is not None
            layout.addWidget(panel)
            self._built[name] = panel
            self._on_built(name, panel)
        return panel

    def built(self, name: str) -> QWidget | None:
        """The panel if it was built already (without building it)."""
        return self._built.get(name)

    def built_names(self) -> list[str]:
        return list(self._built)

    @property
    def trends(self) -> HealthTrendPanel:
        return cast("HealthTrendPanel", self.panel("trends"))

    @property
    def sensors(self) -> SensorPlotPanel:
        return cast("SensorPlotPanel", self.panel("sensors"))

    @property
    def attention(self) -> AttentionPanel:
        return cast("AttentionPanel", self.panel("attention"))

    def show_view(self, name: str) -> QWidget:
        """Bring a view to the front by name and return its panel."""
        self.setCurrentIndex(VIEW_NAMES.index(name))
        if name == "overview":
            return self.overview
        if name == "recommendations":
            return self.recommendations
        return self.panel(name)

    def _on_current_changed(self, index: int) -> None:
        for name, holder in self._holders.items():
            if self.widget(index) is holder:
                self.panel(name)


WARM_UP_MODULES = (
    "pyqtgraph",
    "app.gui.views.health_trend",
    "app.gui.views.sensor_plot",
    "app.gui.views.attention",
    "app.gui.views.live",
    "app.gui.report_dialog",
    "app.gui.dialogs.import_dialog",
    "app.gui.dialogs.settings_dialog",
    "app.gui.dialogs.help",
)


def warm_up(ctx: object) -> None:
    """Import, off the GUI thread, the modules the plot tabs and dialogs need on first use,
    and parse the shipped profiles; the first open of a tab then only builds its widgets.
    (A module the GUI thread asks for meanwhile waits for this import, never runs it twice.)"""
    import importlib

    from app.core import queries

    for name in WARM_UP_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional part missing from this build: its tab says so
            continue
    queries.shipped_profiles()


def _make_trends_panel() -> QWidget:
    from app.gui.views.health_trend import HealthTrendPanel

    return HealthTrendPanel()


def _make_sensor_panel() -> QWidget:
    from app.gui.views.sensor_plot import SensorPlotPanel

    return SensorPlotPanel()


def _make_attention_panel() -> QWidget:
    from app.gui.views.attention import AttentionPanel

    return AttentionPanel()


def _make_live_panel() -> QWidget:
    try:
        from app.gui.views.live import LivePanel
    except ImportError:  # the live feed modules are optional at build time
        placeholder = QLabel("Live acquisition is not available in this build.")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        return placeholder
    return LivePanel()
