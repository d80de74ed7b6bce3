"""MainWindow: workspace side panel, the always-visible diagnosis headline, and the view tabs.

The window owns the workspace connection (GUI thread) and one :class:`TaskRunner`; imports,
diagnoses and series loads run off the GUI thread on their own cursors. Closing while a task
runs asks first; a cancelled import or diagnosis rolls back, so the workspace is never left
half-written.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core import housekeeping, queries, timefmt
from app.core.markers import Marker, workspace_markers
from app.core.readiness import Readiness, check_readiness
from app.core.settings import Settings, load_settings, save_settings
from app.core.view_series import ViewSeries, epoch_s, load_view_series
from app.gui import first_start, main_dialogs, workspace_edits
from app.gui.dialogs.errors import show_error
from app.gui.main_actions import build_actions, stretch_text, update_actions
from app.gui.retrain_tab import add_retrain_tab
from app.gui.task_status import ClosePolicy, TaskStatus, ask_before_closing
from app.gui.view_tabs import ViewTabs, warm_up
from app.gui.views.diagnosis_summary import DiagnosisSummaryBar
from app.gui.views.welcome import WelcomePage
from app.gui.views.workspace import WorkspacePanel
from app.gui.workers import TaskContext, TaskRunner
from gnn.results import Diagnosis
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.resources import default_workspace_path
from ingestion.workspace import Store, open_workspace

if TYPE_CHECKING:  # the plot panels import pyqtgraph, the dialogs more: they load when used
    from app.gui.dialogs.import_dialog import ImportDialog
    from app.gui.report_dialog import ReportDialog
    from app.gui.views.attention import AttentionPanel
    from app.gui.views.health_trend import HealthTrendPanel
    from app.gui.views.live import LivePanel
    from app.gui.views.sensor_plot import SensorPlotPanel
    from ingestion.labels import LabelImportSummary

log = logging.getLogger(__name__)

TAB_NAMES = ("Overview", "Trends", "Sensors", "Attention", "Live", "Recommendations")


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        workspace: Path | str | None = None,
        equipment_id: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or load_settings()
        timefmt.set_zone(self.settings.time_zone)
        self.store: Store | None = None
        self.readiness: Readiness | None = None  # can the equipment be diagnosed now, and why not
        self._history: dict[str, Any] | None = None  # the equipment's health history, once read
        self.profile: EquipmentProfile | None = None
        self.equipment_id: str | None = None
        self.diagnosis: Diagnosis | None = None
        self.close_policy: ClosePolicy = "ask"
        self.confirm_answer: bool | None = None  # tests: answer confirmations without asking
        self.runner = TaskRunner(self)
        self.runner.activeChanged.connect(self._on_runner_active_changed)
        self.setWindowTitle("HydroDiag")
        self.setMinimumSize(1000, 620)
        self.setAcceptDrops(True)
        self._build_views()
        self.retrain_tab = add_retrain_tab(self)  # built when first shown (app.gui.retrain_tab)
        self.acts = build_actions(self, TAB_NAMES)
        self.tasks = TaskStatus(self, self.runner)
        self.status_label = self.tasks.label  # what the window says it is doing
        self._update_actions()
        self._restore_layout()
        path = workspace or self.settings.workspace_path or default_workspace_path()
        # Opening is deferred to the event loop so the window paints first; tests and the demo
        # call open_workspace() directly when they need it synchronously.
        self._pending_open: tuple[Path, str | None] | None = (Path(path), equipment_id)
        QTimer.singleShot(0, self._open_pending)

    # -- construction ------------------------------------------------------------------

    def _build_views(self) -> None:
        self.summary = DiagnosisSummaryBar()
        self.tabs = ViewTabs(TAB_NAMES, self._on_panel_built)
        self.overview = self.tabs.overview
        self.recommendations = self.tabs.recommendations
        self._sensor_selection: list[str] = []
        main_page = QWidget()
        layout = QVBoxLayout(main_page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        self.welcome = WelcomePage()
        self.welcome.actionRequested.connect(self._on_welcome_action_requested)
        self.pages = QStackedWidget()
        self.pages.addWidget(main_page)
        self.pages.addWidget(self.welcome)
        self.pages.setCurrentWidget(self.welcome)  # until an equipment is shown
        self.setCentralWidget(self.pages)
        self.workspace_panel = WorkspacePanel()
        self.workspace_dock = QDockWidget("Workspace", self)
        self.workspace_dock.setObjectName("WorkspaceDock")
        self.workspace_dock.setWidget(self.workspace_panel)
        self.workspace_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.workspace_dock)
        self.resizeDocks([self.workspace_dock], [330], Qt.Orientation.Horizontal)
        self.workspace_panel.equipmentSelected.connect(self._on_workspace_equipment_selected)
        self.workspace_panel.diagnosisSelected.connect(self._on_workspace_diagnosis_selected)
        self.workspace_panel.newEquipmentRequested.connect(self.new_equipment)
        self.workspace_panel.importRequested.connect(self.import_log)
        self.workspace_panel.renameRequested.connect(self.rename_item)
        self.workspace_panel.deleteRequested.connect(self.delete_item)
        self.workspace_panel.tree.currentItemChanged.connect(lambda *_: self._update_actions())
        self.recommendations.reportRequested.connect(self.open_report)
        self.overview.componentSelected.connect(self._on_overview_component_selected)

    # -- lazily built plot tabs ------------------------------------------------------------

    @property
    def trends(self) -> HealthTrendPanel:
        return self.tabs.trends

    @property
    def sensors(self) -> SensorPlotPanel:
        return self.tabs.sensors

    @property
    def attention(self) -> AttentionPanel:
        return self.tabs.attention

    @property
    def live(self) -> QWidget:
        return self.tabs.panel("live")

    def show_tab(self, name: str) -> QWidget:
        """Bring a view to the front by name (overview, trends, sensors, attention, live,
        recommendations) and return its panel."""
        return self.tabs.show_view(name)

    def _on_panel_built(self, name: str, panel: QWidget) -> None:
        """Connect a plot tab built on first use, and fill it with the current state."""
        if name == "trends":
            self.trends.diagnoseRangeRequested.connect(self._on_trends_diagnose_range_requested)
        elif name == "sensors":
            self.sensors.seriesRequested.connect(self._on_sensors_series_requested)
            self.sensors.windowRequested.connect(self._on_sensors_window_requested)
        elif name == "live" and not isinstance(panel, QLabel):  # a label: not in this build
            live = cast("LivePanel", panel)
            live.errorOccurred.connect(lambda exc: show_error(self, exc, "Live feed"))
            live.recordingChanged.connect(lambda _on: self.refresh_workspace())
        self._fill_profile(name)
        self._fill_diagnosis(name)

    def _fill_profile(self, name: str) -> None:
        """Give a built panel the current equipment (and load its sensor data)."""
        panel = self.tabs.built(name)
        profile, store, equipment = self.profile, self.store, self.equipment_id
        if panel is None or profile is None or store is None or equipment is None:
            return
        if name == "attention":
            self.attention.set_profile(profile)
        elif name == "sensors":
            checked = self._sensor_selection or self._default_sensors(profile)
            self.sensors.set_profile(profile, checked)
            self.sensors.set_units(self.settings.pressure_unit, self.settings.temperature_unit)
            self._load_series(checked)
        elif name == "live" and hasattr(panel, "set_profile"):
            panel.set_profile(profile, equipment, store)

    def _fill_diagnosis(self, name: str) -> None:
        """Give a built panel the current diagnosis (and the equipment's history/markers)."""
        if self.tabs.built(name) is None:
            return
        diagnosis, store, equipment = self.diagnosis, self.store, self.equipment_id
        if name == "attention":
            self.attention.set_diagnosis(diagnosis)
        elif name == "trends":
            if self._history is not None or store is None or equipment is None:
                self.trends.set_history(self._history or {}, diagnosis)
            else:  # curves now, the history when it is read (off the GUI thread)
                self.trends.set_history({}, diagnosis)
                self._load_history(store, equipment)
        elif name == "sensors" and store is not None and equipment is not None:
            self._load_markers(store, equipment, diagnosis)
            if self.sensors.range_key == "diagnosis" and self.sensors.loaded:
                self.sensors.loaded = set()  # the diagnosed range changed: reload it
                self._load_series(self.sensors.checked_sensors())

    @staticmethod
    def _default_sensors(profile: EquipmentProfile) -> list[str]:
        fast = [s.id for s in profile.sensors if s.rate_hz >= 10][:4]
        return fast or list(profile.sensor_ids[:4])

    # -- layout memory -----------------------------------------------------------------

    def _restore_layout(self) -> None:
        # State (docks, toolbar) first: restoring it after the geometry can resize the window.
        if self.settings.window_state:
            self.restoreState(QByteArray.fromHex(self.settings.window_state.encode()))
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(self.settings.window_geometry.encode()))
        else:
            self.resize(1366, 768)
        if not self.settings.window_state:  # first start: room for the fleet's status column
            QTimer.singleShot(0, self, lambda: self.resizeDocks(
                [self.workspace_dock], [330], Qt.Orientation.Horizontal))  # fmt: skip
        self.tabs.setCurrentIndex(min(max(self.settings.last_tab, 0), self.tabs.count() - 1))

    def save_layout(self) -> None:
        self.settings = self.settings.model_copy(
            update={
                "window_geometry": bytes(self.saveGeometry().toHex().data()).decode(),
                "window_state": bytes(self.saveState().toHex().data()).decode(),
                "last_tab": self.tabs.currentIndex(),
                "last_equipment": self.equipment_id,
            }
        )
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("cannot save settings: %s", exc)

    # -- workspace and equipment ------------------------------------------------------

    def _open_pending(self) -> None:
        if self._pending_open is None:
            return
        path, equipment = self._pending_open
        self._pending_open = None
        try:
            self.open_workspace(path, equipment)
        except HydroDiagError as exc:
            show_error(self, exc, "Opening the workspace")
        # With the window painted and the workspace open, load in the background what the
        # tabs and dialogs need when first opened (pyqtgraph alone took 0.4 s there).
        QTimer.singleShot(200, self, self._warm_up)

    def _warm_up(self) -> None:
        self.runner.start(warm_up, name="Preparing the views", key="warm-up", writes=False,
                          quiet=True)  # fmt: skip

    def open_workspace(self, path: Path | str, equipment_id: str | None = None) -> None:
        """Open (creating if needed) the workspace file and show an equipment of it."""
        self._pending_open = None
        self.runner.cancel_all()
        self.runner.wait_all(10.0)
        store = open_workspace(Path(path))
        if self.store is not None:
            self.store.close()
        self.store = store
        self.settings = self.settings.with_recent(str(path))
        self.setWindowTitle(f"HydroDiag — {Path(path).name}")
        equipment = queries.list_equipment(store)
        known = {e.id for e in equipment}
        wanted = equipment_id or self.settings.last_equipment
        chosen = wanted if wanted in known else (equipment[0].id if equipment else None)
        if equipment_id is not None and equipment_id not in known:
            show_error(self, HydroDiagError(f"equipment {equipment_id!r} is not in {path}"))
        self.workspace_panel.refresh(store, chosen)
        self.set_equipment(chosen)

    def refresh_workspace(self) -> None:
        if self.store is not None:
            self.workspace_panel.refresh(self.store, self.equipment_id)

    def set_equipment(self, equipment_id: str | None) -> None:
        self.equipment_id = equipment_id
        self.diagnosis = None
        self.readiness = None
        self._history = None
        self._sensor_selection = []
        if self.store is None or equipment_id is None:
            self.profile = None
            self.summary.set_equipment("No equipment")
            self._show_diagnosis(None)
            self._set_status("Create an equipment (Ctrl+N) or import a log (Ctrl+I) to begin.")
            self.pages.setCurrentWidget(self.welcome)  # the first steps, as buttons
            self._update_actions()
            return
        self.pages.setCurrentIndex(0)
        profile = queries.equipment_profile(self.store, equipment_id)
        self.profile = profile
        name = next(
            (e.name for e in queries.list_equipment(self.store) if e.id == equipment_id),
            equipment_id,
        )
        self.summary.set_equipment(name)
        self.overview.set_profile(profile)
        self.diagnosis = queries.latest_diagnosis(self.store, equipment_id)
        for panel in self.tabs.built_names():
            self._fill_profile(panel)
        self._show_diagnosis(self.diagnosis)
        self._set_status(f"Equipment {equipment_id} ({profile.name}).")
        self._check_readiness()

    def show_diagnosis_id(self, diagnosis_id: int) -> None:
        if self.store is not None:
            self._show_diagnosis(queries.load_diagnosis(self.store, diagnosis_id))

    def _show_diagnosis(self, diagnosis: Diagnosis | None) -> None:
        self.diagnosis = diagnosis
        self.summary.set_diagnosis(diagnosis, *self._headline_without_diagnosis())
        self.overview.set_diagnosis(diagnosis)
        self.recommendations.set_diagnosis(diagnosis)
        for panel in self.tabs.built_names():
            self._fill_diagnosis(panel)
        self._update_actions()

    # -- what can be done now ----------------------------------------------------------------

    def _check_readiness(self) -> None:
        """Find out off the GUI thread whether the equipment has data and a model that fits
        its profile; F5 and the headline follow the answer (:mod:`app.core.readiness`)."""
        store, equipment, provider = self.store, self.equipment_id, self.settings.provider
        if store is None or equipment is None:
            return

        def work(ctx: TaskContext) -> Readiness:
            return check_readiness(queries.thread_store(store), equipment, provider=provider)

        # A bound slot, not a closure: Qt drops it if the window is gone when the check ends.
        self.runner.start(work, name="Checking the model", key="readiness",
                          on_result=self._on_readiness_checked, writes=False,
                          quiet=True)  # fmt: skip

    def _on_readiness_checked(self, readiness: Readiness) -> None:
        if readiness.equipment_id != self.equipment_id:
            return  # the user moved on meanwhile
        self.readiness = readiness
        if self.diagnosis is None:
            self.summary.set_diagnosis(None, *self._headline_without_diagnosis())
        self._update_actions()

    def _headline_without_diagnosis(self) -> tuple[str, str]:
        """(model hint, placeholder) of the headline while there is no diagnosis to show."""
        r = self.readiness
        if self.equipment_id is None:
            return "", "No equipment yet — open the demo, create an equipment or import a log."
        if r is None:
            return "", "No diagnosis yet."
        if not r.can_diagnose:
            return "", r.reason
        key = stretch_text(self.settings.diagnose_last_minutes)
        return (
            f"Model {r.model_text}",
            f"No diagnosis yet — press Diagnose last {key} (F5).",
        )

    def _update_actions(self) -> None:
        """Enable what can work now; a disabled action says why in its tooltip."""
        update_actions(self)

    def _load_history(self, store: Store, equipment: str) -> None:
        def work(ctx: TaskContext) -> tuple[str, dict[str, Any]]:
            return equipment, queries.health_series(queries.thread_store(store), equipment)

        self.runner.start(work, name="Reading the health history", key="history",
                          on_result=self._on_history_loaded, writes=False)  # fmt: skip

    def _on_history_loaded(self, loaded: tuple[str, dict[str, Any]]) -> None:
        equipment, history = loaded
        if equipment != self.equipment_id:
            return
        self._history = history
        if self.tabs.built("trends") is not None:
            self.trends.set_history(history, self.diagnosis)

    def _load_markers(self, store: Store, equipment: str, diagnosis: Diagnosis | None) -> None:
        """The shaded ranges of the Sensors tab (the workspace's labels and gaps are read off
        the GUI thread)."""
        profile = self.profile

        def work(ctx: TaskContext) -> tuple[str, list[Marker]]:
            local = queries.thread_store(store)
            return equipment, workspace_markers(local, equipment, profile, diagnosis)

        self.runner.start(work, name="Reading labels and gaps", key="markers",
                          on_result=self._on_markers_loaded, writes=False)  # fmt: skip

    def _on_markers_loaded(self, loaded: tuple[str, list[Marker]]) -> None:
        equipment, markers = loaded
        if equipment == self.equipment_id and self.tabs.built("sensors") is not None:
            self.sensors.set_markers(markers)

    def _load_series(
        self, sensor_ids: list[str], window: tuple[float, float] | None = None
    ) -> None:
        """Load what the Sensors view shows of ``sensor_ids``: about two points per pixel over
        its range (or ``window``, epoch seconds, when it zoomed or panned), from the view
        pyramid or, zoomed in, the samples themselves (:mod:`app.core.view_series`)."""
        store, equipment = self.store, self.equipment_id
        if store is None or equipment is None or not sensor_ids:
            return
        if window is None:
            start, end = self._series_range()
            lo = None if start is None else epoch_s(start)
            hi = None if end is None else epoch_s(end)
        else:
            lo, hi = window
        width = max(self.sensors.graphics.width(), 400)

        def work(ctx: TaskContext) -> ViewSeries:
            ctx.report(0.0, f"loading {len(sensor_ids)} sensor(s)")
            local = queries.thread_store(store)
            return load_view_series(local, equipment, sensor_ids, lo, hi, width)

        range_key = self.sensors.range_key

        def done(view: ViewSeries) -> None:
            if self.sensors.range_key != range_key or self.equipment_id != equipment:
                return  # read for an earlier range or equipment: its points would mislead
            self.sensors.set_series(view.series, window=(view.start_s, view.end_s))
            self._set_status(series_status(view.series, equipment))

        # a new window supersedes the last one; adding sensors runs beside it
        key = "series:window" if window is not None else f"series:{','.join(sensor_ids)}"
        self.tasks.start("Loading sensor data", work, done, key=key, writes=False)

    def _series_range(self) -> tuple[datetime | None, datetime | None]:
        """The time range the Sensors tab loads, from its range choice."""
        key = self.sensors.range_key if self.tabs.built("sensors") is not None else "diagnosis"
        if key == "diagnosis" and self.diagnosis is not None:
            d = self.diagnosis
            pad = (d.window_end - d.window_start) * 0.05
            return d.window_start - pad, d.window_end + pad
        if key in ("diagnosis", "last8h") and self.store and self.equipment_id:
            span = queries.data_range(self.store, self.equipment_id)
            if span is not None:
                return span[1] - timedelta(hours=8), span[1] + timedelta(seconds=1)
        return None, None

    # -- tasks ---------------------------------------------------------------------------

    def _on_runner_active_changed(self, count: int) -> None:
        busy = self.runner.busy_count > 0
        self.tasks.show_busy(busy)
        self.acts.cancel.setEnabled(busy)

    def cancel_tasks(self) -> None:
        self.tasks.cancel_all()

    def _set_status(self, text: str) -> None:
        self.tasks.set_text(text)

    # -- actions -------------------------------------------------------------------------

    def choose_workspace(self) -> None:
        main_dialogs.choose_workspace(self)

    def new_equipment(self) -> None:
        main_dialogs.new_equipment(self)

    def import_log(self, path: str | None = None) -> ImportDialog | None:
        """Open the import dialog (optionally pre-filled with a dropped file)."""
        return main_dialogs.import_log(self, path)

    def import_labels(self, path: str | Path | None = None) -> None:
        """Import a CSV of condition labels for the selected equipment (``hydrodiag ingest
        labels``): validated as a whole, one transaction, every problem listed on failure."""
        main_dialogs.import_labels(self, path)

    def _on_labels_imported(self, summary: LabelImportSummary) -> None:
        self.refresh_workspace()
        text = summary.describe()
        self._set_status(text.splitlines()[0])
        if summary.warnings:
            QMessageBox.information(self, "Labels imported", text)

    def _on_import_finished(self, equipment_id: str) -> None:
        self.refresh_workspace()
        self.set_equipment(equipment_id)

    def diagnose(self, start: datetime | None = None, end: datetime | None = None) -> None:
        """Diagnose [start, end), or without them the latest stretch of data (the setting
        ``diagnose_last_minutes``: what F5 is named after)."""
        main_dialogs.diagnose(self, start, end)

    def _on_diagnosis_done(self, diagnosis: Diagnosis) -> None:
        self._history = None  # it has the new windows now
        self.refresh_workspace()
        self._show_diagnosis(diagnosis)
        self._set_status(
            f"Diagnosis #{diagnosis.id}: {diagnosis.verdict} "
            f"({sum(diagnosis.timings_ms.values()):.0f} ms on {diagnosis.provider})"
        )

    def open_report(self) -> ReportDialog | None:
        return main_dialogs.open_report(self)

    def open_settings(self) -> None:
        from app.gui.dialogs.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() and dialog.result_settings is not None:
            self.apply_settings(dialog.result_settings)

    def apply_settings(self, settings: Settings) -> None:
        old = self.settings
        self.settings = settings
        save_settings(settings)
        timefmt.set_zone(settings.time_zone)
        self._show_diagnosis(self.diagnosis)  # times, the F5 stretch and its name
        if settings.provider != old.provider:
            self._check_readiness()
        if self.tabs.built("sensors") is not None:
            self.sensors.set_units(settings.pressure_unit, settings.temperature_unit)
        new_path = settings.workspace_path
        current = str(self.store.path) if self.store and self.store.path else None
        if new_path and new_path != current and new_path != old.workspace_path:
            try:
                self.open_workspace(new_path)
            except HydroDiagError as exc:
                show_error(self, exc, "Opening the workspace")

    # -- the first start ---------------------------------------------------------------------

    def _on_welcome_action_requested(self, name: str) -> None:
        first_start.welcome_action(self, name)

    def open_demo(self) -> None:
        """Open the demo workspace, building it first if there is none."""
        first_start.open_demo(self)

    def open_demo_at(self, path: Path) -> None:
        from ingestion.demo import DEMO_EQUIPMENT

        try:
            self.open_workspace(path, DEMO_EQUIPMENT)
        except HydroDiagError as exc:
            show_error(self, exc, "Opening the demo")

    # -- housekeeping ----------------------------------------------------------------------

    def rename_selected(self) -> None:
        target = self.workspace_panel.selected_target()
        if target is not None:
            self.rename_item(target[0], target[1])

    def delete_selected(self) -> None:
        target = self.workspace_panel.selected_target()
        if target is not None:
            self.delete_item(target[0], target[1])

    def rename_item(self, kind: str, key: object) -> None:
        """Ask for a new name of an equipment or an inspection and store it."""
        workspace_edits.rename_item(self, kind, key)

    def delete_item(self, kind: str, key: object) -> None:
        """Delete an item of the workspace after the user confirmed what goes with it."""
        workspace_edits.delete_item(self, kind, key)

    def _on_deleted(self, what: housekeeping.Deletion) -> None:
        workspace_edits.on_deleted(self, what)

    def confirm(self, title: str, text: str) -> bool:
        """Ask before something that cannot be undone (tests set ``confirm_answer``)."""
        if self.confirm_answer is not None:
            return self.confirm_answer
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(text)
        yes = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is yes

    def open_help(self) -> None:
        from app.gui.dialogs.help import HelpWindow

        HelpWindow.show_for(self)

    def open_about(self) -> None:
        from app.gui.dialogs.about import AboutDialog

        d = self.diagnosis
        model = f"{d.model.model_id} v{d.model.version}" if d else ""
        AboutDialog(self, model_text=model, provider=d.provider if d else "").exec()

    def connect_live(self) -> None:
        live = self.show_tab("live")
        connect = getattr(live, "open_connect_dialog", None)
        if connect is not None:
            connect()

    # -- signals from views ------------------------------------------------------------------

    def _on_workspace_equipment_selected(self, equipment_id: str) -> None:
        try:
            self.set_equipment(equipment_id)
        except HydroDiagError as exc:
            show_error(self, exc)

    def _on_workspace_diagnosis_selected(self, equipment_id: str, diagnosis_id: int) -> None:
        if equipment_id != self.equipment_id:
            self.set_equipment(equipment_id)
        self.show_diagnosis_id(diagnosis_id)

    def _on_trends_diagnose_range_requested(self, start: datetime, end: datetime) -> None:
        self.diagnose(start, end)

    def _on_sensors_series_requested(self, sensor_ids: list[str]) -> None:
        self._load_series(sensor_ids)

    def _on_sensors_window_requested(self, start: float, end: float) -> None:
        self._load_series(self.sensors.checked_sensors(), (start, end))

    def _on_overview_component_selected(self, component_id: str) -> None:
        if self.profile is not None:
            sensors = [s.id for s in self.profile.sensors_of(component_id)]
            if sensors:
                self._sensor_selection = sensors
                if self.tabs.built("sensors") is not None:
                    self.sensors.set_checked(sensors)

    # -- drag and drop, close ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.import_log(urls[0].toLocalFile())

    def closeEvent(self, event: QCloseEvent) -> None:
        running = [t for t in self.runner.running() if t.writes]
        if running:
            policy = self.close_policy
            if policy == "ask":
                answer = ask_before_closing(self, [t.name for t in running])
                if answer is None:  # keep working
                    event.ignore()
                    return
                policy = answer
            if policy == "cancel":
                self.runner.cancel_all()
            self._set_status("Finishing the running task before closing…")
        for task in self.runner.running():
            if not task.writes:  # reads (sensor data loads) are simply dropped
                task.cancel()
        self.runner.wait_all(600.0)  # nothing may still use the workspace when it closes
        stop = getattr(self.tabs.built("live"), "shutdown", None)
        if stop is not None:
            stop()
        self.save_layout()
        if self.store is not None:
            self.store.close()
            self.store = None
        super().closeEvent(event)


def series_status(series: dict[str, Any], equipment: str) -> str:
    """What a finished sensor-data load says: what came, or that there was nothing."""
    with_data = [sid for sid, (t, _v) in series.items() if len(t)]
    empty = [sid for sid in series if sid not in with_data]
    if not with_data:
        return f"No data for {', '.join(series)} of {equipment} in the chosen range."
    text = f"Loaded {', '.join(with_data)}."
    if empty:
        text += f" No data for {', '.join(empty)}."
    return text
