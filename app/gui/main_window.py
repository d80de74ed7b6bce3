"""MainWindow: workspace side panel, the always-visible diagnosis headline, and the view tabs.

The window owns the workspace connection (GUI thread) and one :class:`TaskRunner`; imports,
diagnoses and series loads run off the GUI thread on their own cursors. Closing while a task
runs asks first; a cancelled import or diagnosis rolls back, so the workspace is never left
half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core import queries
from app.core.markers import workspace_markers
from app.core.settings import ProviderPreference, Settings, load_settings, save_settings
from app.gui.dialogs.errors import show_error
from app.gui.views.diagnosis_summary import DiagnosisSummaryBar
from app.gui.views.overview import OverviewPanel
from app.gui.views.recommendations import RecommendationsPanel
from app.gui.views.workspace import WorkspacePanel
from app.gui.workers import TaskContext, TaskRunner
from gnn.results import Diagnosis, StatusThresholds
from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile
from ingestion.resources import default_workspace_path
from ingestion.workspace import Store, open_workspace

if TYPE_CHECKING:  # the plot panels import pyqtgraph; they load when their tab is shown
    from app.gui.views.attention import AttentionPanel
    from app.gui.views.health_trend import HealthTrendPanel
    from app.gui.views.sensor_plot import SensorPlotPanel

log = logging.getLogger(__name__)

TAB_NAMES = ("Overview", "Trends", "Sensors", "Attention", "Live", "Recommendations")
ClosePolicy = Literal["ask", "cancel", "wait"]


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
        self.store: Store | None = None
        self.profile: EquipmentProfile | None = None
        self.equipment_id: str | None = None
        self.diagnosis: Diagnosis | None = None
        self.close_policy: ClosePolicy = "ask"
        self.runner = TaskRunner(self)
        self.runner.activeChanged.connect(self._on_runner_active_changed)
        self._current_task_name = ""
        self.setWindowTitle("HydroDiag")
        self.setMinimumSize(1000, 620)
        self.setAcceptDrops(True)
        self._build_views()
        self._build_actions()
        self._build_status_bar()
        self._restore_layout()
        path = workspace or self.settings.workspace_path or default_workspace_path()
        # Opening is deferred to the event loop so the window paints first; tests and the demo
        # call open_workspace() directly when they need it synchronously.
        self._pending_open: tuple[Path, str | None] | None = (Path(path), equipment_id)
        QTimer.singleShot(0, self._open_pending)

    # -- construction ------------------------------------------------------------------

    def _build_views(self) -> None:
        self.summary = DiagnosisSummaryBar()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.overview = OverviewPanel()
        self.recommendations = RecommendationsPanel()
        # The plot tabs (pyqtgraph) are built when first shown: the window paints sooner.
        self._factories: dict[str, Callable[[], QWidget]] = {
            "trends": self._make_trends_panel,
            "sensors": self._make_sensor_panel,
            "attention": self._make_attention_panel,
            "live": self._make_live_panel,
        }
        self._built: dict[str, QWidget] = {}
        self._holders: dict[str, QWidget] = {}
        self._sensor_selection: list[str] = []
        for name, title in zip(
            ("overview", "trends", "sensors", "attention", "live", "recommendations"),
            TAB_NAMES,
            strict=True,
        ):
            if name == "overview":
                self.tabs.addTab(self.overview, title)
            elif name == "recommendations":
                self.tabs.addTab(self.recommendations, title)
            else:
                holder = QWidget()
                holder_layout = QVBoxLayout(holder)
                holder_layout.setContentsMargins(0, 0, 0, 0)
                self._holders[name] = holder
                self.tabs.addTab(holder, title)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.workspace_panel = WorkspacePanel()
        self.workspace_dock = QDockWidget("Workspace", self)
        self.workspace_dock.setObjectName("WorkspaceDock")
        self.workspace_dock.setWidget(self.workspace_panel)
        self.workspace_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.workspace_dock)
        self.resizeDocks([self.workspace_dock], [250], Qt.Orientation.Horizontal)
        self.workspace_panel.equipmentSelected.connect(self._on_workspace_equipment_selected)
        self.workspace_panel.diagnosisSelected.connect(self._on_workspace_diagnosis_selected)
        self.workspace_panel.newEquipmentRequested.connect(self.new_equipment)
        self.workspace_panel.importRequested.connect(self.import_log)
        self.recommendations.reportRequested.connect(self.open_report)
        self.overview.componentSelected.connect(self._on_overview_component_selected)

    # -- lazily built plot tabs ------------------------------------------------------------

    def _panel(self, name: str) -> QWidget:
        """The panel behind a tab, built (and filled with the current state) on first use."""
        panel = self._built.get(name)
        if panel is None:
            panel = self._factories[name]()
            layout = self._holders[name].layout()
            assert layout is not None
            layout.addWidget(panel)
            self._built[name] = panel
            self._fill_profile(name)
            self._fill_diagnosis(name)
        return panel

    @property
    def trends(self) -> HealthTrendPanel:
        return cast("HealthTrendPanel", self._panel("trends"))

    @property
    def sensors(self) -> SensorPlotPanel:
        return cast("SensorPlotPanel", self._panel("sensors"))

    @property
    def attention(self) -> AttentionPanel:
        return cast("AttentionPanel", self._panel("attention"))

    @property
    def live(self) -> QWidget:
        return self._panel("live")

    def show_tab(self, name: str) -> QWidget:
        """Bring a view to the front by name (overview, trends, sensors, attention, live,
        recommendations) and return its panel."""
        names = ("overview", "trends", "sensors", "attention", "live", "recommendations")
        self.tabs.setCurrentIndex(names.index(name))
        if name == "overview":
            return self.overview
        if name == "recommendations":
            return self.recommendations
        return self._panel(name)

    def _on_tabs_current_changed(self, index: int) -> None:
        for name, holder in self._holders.items():
            if self.tabs.widget(index) is holder:
                self._panel(name)

    def _make_trends_panel(self) -> QWidget:
        from app.gui.views.health_trend import HealthTrendPanel

        panel = HealthTrendPanel()
        panel.diagnoseRangeRequested.connect(self._on_trends_diagnose_range_requested)
        return panel

    def _make_sensor_panel(self) -> QWidget:
        from app.gui.views.sensor_plot import SensorPlotPanel

        panel = SensorPlotPanel()
        panel.seriesRequested.connect(self._on_sensors_series_requested)
        return panel

    def _make_attention_panel(self) -> QWidget:
        from app.gui.views.attention import AttentionPanel

        return AttentionPanel()

    def _make_live_panel(self) -> QWidget:
        try:
            from app.gui.views.live import LivePanel
        except ImportError:  # the live feed modules are optional at build time
            placeholder = QLabel("Live acquisition is not available in this build.")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            return placeholder
        panel = LivePanel()
        panel.errorOccurred.connect(lambda exc: show_error(self, exc, "Live feed"))
        panel.recordingChanged.connect(lambda _on: self.refresh_workspace())
        return panel

    def _fill_profile(self, name: str) -> None:
        """Give a built panel the current equipment (and load its sensor data)."""
        panel = self._built.get(name)
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
        if name not in self._built:
            return
        diagnosis, store, equipment = self.diagnosis, self.store, self.equipment_id
        if name == "attention":
            self.attention.set_diagnosis(diagnosis)
        elif name == "trends":
            history = queries.health_history(store, equipment) if store and equipment else {}
            self.trends.set_history(history, diagnosis)
        elif name == "sensors" and store is not None and equipment is not None:
            self.sensors.set_markers(workspace_markers(store, equipment, self.profile, diagnosis))
            if self.sensors.range_key == "diagnosis" and self.sensors.loaded:
                self.sensors.loaded = set()  # the diagnosed range changed: reload it
                self._load_series(self.sensors.checked_sensors())

    @staticmethod
    def _default_sensors(profile: EquipmentProfile) -> list[str]:
        fast = [s.id for s in profile.sensors if s.rate_hz >= 10][:4]
        return fast or list(profile.sensor_ids[:4])

    def _action(
        self,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
        slot: Callable[[], Any],
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcut, QKeySequence.StandardKey):
            action.setShortcuts(shortcut)
        elif shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.act_open = self._action(
            "&Open workspace…", QKeySequence.StandardKey.Open, self.choose_workspace
        )
        self.act_new = self._action(
            "&New equipment…", QKeySequence.StandardKey.New, self.new_equipment
        )
        self.act_import = self._action(
            "&Import log…", "Ctrl+I", self.import_log, "Import a CSV log"
        )
        self.act_import_labels = self._action(
            "Import condition &labels…",
            "Ctrl+Shift+I",
            self.import_labels,
            "Import a CSV of condition ranges (component, start, end, grade) for training",
        )
        self.act_report = self._action(
            "&Report…", QKeySequence.StandardKey.Print, self.open_report, "PDF report"
        )
        self.act_settings = self._action("&Settings…", "Ctrl+,", self.open_settings)
        self.act_quit = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        self.act_diagnose = self._action(
            "&Diagnose", "F5", self.diagnose, "Diagnose the latest data"
        )
        self.act_cancel = self._action(
            "&Cancel task", "Esc", self.cancel_tasks, "Cancel the running task"
        )
        self.act_connect = self._action("&Connect live feed…", "Ctrl+L", self.connect_live)
        self.act_about = self._action("&About HydroDiag", "F1", self.open_about)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for act in (
            self.act_open,
            self.act_new,
            self.act_import,
            self.act_import_labels,
            self.act_report,
        ):
            file_menu.addAction(act)
        file_menu.addSeparator()
        file_menu.addAction(self.act_settings)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        diag_menu = menu.addMenu("&Diagnosis")
        diag_menu.addAction(self.act_diagnose)
        diag_menu.addAction(self.act_cancel)
        diag_menu.addAction(self.act_connect)
        view_menu = menu.addMenu("&View")
        for i, name in enumerate(TAB_NAMES):
            act = self._action(name, f"Ctrl+{i + 1}", self._tab_switcher(i))
            view_menu.addAction(act)
        view_menu.addSeparator()
        view_menu.addAction(self.workspace_dock.toggleViewAction())
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.act_about)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("MainToolbar")
        toolbar.setMovable(False)
        for act in (self.act_import, self.act_diagnose, self.act_connect, self.act_report):
            toolbar.addAction(act)

    def _tab_switcher(self, index: int) -> Callable[[], None]:
        return lambda: self.tabs.setCurrentIndex(index)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running task (Esc)")
        self.cancel_button.clicked.connect(self.cancel_tasks)
        self.cancel_button.hide()
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)

    # -- layout memory -----------------------------------------------------------------

    def _restore_layout(self) -> None:
        # State (docks, toolbar) first: restoring it after the geometry can resize the window.
        if self.settings.window_state:
            self.restoreState(QByteArray.fromHex(self.settings.window_state.encode()))
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(self.settings.window_geometry.encode()))
        else:
            self.resize(1366, 768)
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
        self._sensor_selection = []
        if self.store is None or equipment_id is None:
            self.profile = None
            self.summary.set_equipment("No equipment")
            self._show_diagnosis(None)
            self._set_status("Create an equipment (Ctrl+N) or import a log (Ctrl+I) to begin.")
            return
        profile = queries.equipment_profile(self.store, equipment_id)
        self.profile = profile
        name = next(
            (e.name for e in queries.list_equipment(self.store) if e.id == equipment_id),
            equipment_id,
        )
        self.summary.set_equipment(name)
        self.overview.set_profile(profile)
        self.diagnosis = queries.latest_diagnosis(self.store, equipment_id)
        for panel in list(self._built):
            self._fill_profile(panel)
        self._show_diagnosis(self.diagnosis)
        self._set_status(f"Equipment {equipment_id} ({profile.name}).")

    def show_diagnosis_id(self, diagnosis_id: int) -> None:
        if self.store is not None:
            self._show_diagnosis(queries.load_diagnosis(self.store, diagnosis_id))

    def _show_diagnosis(self, diagnosis: Diagnosis | None) -> None:
        self.diagnosis = diagnosis
        self.summary.set_diagnosis(diagnosis)
        self.overview.set_diagnosis(diagnosis)
        self.recommendations.set_diagnosis(diagnosis)
        for panel in list(self._built):
            self._fill_diagnosis(panel)

    def _load_series(self, sensor_ids: list[str]) -> None:
        store, equipment = self.store, self.equipment_id
        if store is None or equipment is None or not sensor_ids:
            return

        start, end = self._series_range()

        def work(ctx: TaskContext) -> dict[str, Any]:
            out = {}
            local = queries.thread_store(store)
            for i, sid in enumerate(sensor_ids):
                ctx.report(i / len(sensor_ids), f"loading {sid}")
                out.update(queries.load_series(local, equipment, [sid], start, end))
            return out

        def done(series: dict[str, Any]) -> None:
            self.sensors.set_series(series)
            self._set_status(f"Loaded {', '.join(series)}.")

        self._start(
            "Loading sensor data", work, done, key=f"series:{','.join(sensor_ids)}", writes=False
        )

    def _series_range(self) -> tuple[datetime | None, datetime | None]:
        """The time range the Sensors tab loads, from its range choice."""
        key = self.sensors.range_key if "sensors" in self._built else "diagnosis"
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

    def _start(
        self,
        name: str,
        fn: Callable[[TaskContext], Any],
        on_result: Callable[[Any], None],
        *,
        key: str | None = None,
        writes: bool = True,
    ) -> None:
        self._current_task_name = name
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self._set_status(f"{name}…")

        def on_error(exc: BaseException) -> None:
            self._set_status(f"{name} failed.")
            show_error(self, exc, name)

        self.runner.start(
            fn,
            name=name,
            key=key,
            on_result=on_result,
            on_error=on_error,
            on_progress=self._on_task_progress,
            on_cancelled=lambda: self._set_status(f"{name} cancelled; nothing was changed."),
            writes=writes,
        )

    def _on_task_progress(self, fraction: float, message: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        if message:
            self.status_label.setText(message)

    def _on_runner_active_changed(self, count: int) -> None:
        busy = count > 0
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.act_cancel.setEnabled(busy)

    def cancel_tasks(self) -> None:
        if self.runner.active_count:
            self.runner.cancel_all()
            self._set_status("Cancelling…")

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    # -- actions -------------------------------------------------------------------------

    def choose_workspace(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Open or create a workspace",
            str(self.store.path if self.store and self.store.path else default_workspace_path()),
            "HydroDiag workspace (*.duckdb)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            try:
                self.open_workspace(path)
            except HydroDiagError as exc:
                show_error(self, exc, "Opening the workspace")

    def new_equipment(self) -> None:
        if self.store is None:
            return
        from app.gui.dialogs.new_equipment import NewEquipmentDialog

        dialog = NewEquipmentDialog(self.store, self)
        if dialog.exec() and dialog.created:
            self.workspace_panel.refresh(self.store, dialog.created)
            self.set_equipment(dialog.created)

    def import_log(self, path: str | None = None) -> Any:
        """Open the import dialog (optionally pre-filled with a dropped file)."""
        if self.store is None:
            return None
        try:
            from app.gui.dialogs.import_dialog import ImportDialog
        except ImportError as exc:
            show_error(self, HydroDiagError(f"CSV import is not available in this build ({exc})."))
            return None
        dialog = ImportDialog(self.store, self.runner, parent=self, equipment_id=self.equipment_id)
        dialog.imported.connect(self._on_import_finished)
        if path:
            dialog.set_file(path)
        dialog.open()
        return dialog

    def import_labels(self, path: str | Path | None = None) -> None:
        """Import a CSV of condition labels for the selected equipment (``hydrodiag ingest
        labels``): validated as a whole, one transaction, every problem listed on failure."""
        store, equipment = self.store, self.equipment_id
        if store is None or equipment is None:
            show_error(self, HydroDiagError("Select the equipment the labels are for first."))
            return
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Import condition labels", "", "CSV files (*.csv *.txt);;All files (*)"
            )
            if not chosen:
                return
            path = chosen
        source = Path(path)

        def work(ctx: TaskContext) -> Any:
            from ingestion.labels import import_labels

            return import_labels(queries.thread_store(store), source, equipment_id=equipment)

        self._start("Importing labels", work, self._on_labels_imported, key="import")

    def _on_labels_imported(self, summary: Any) -> None:
        self.refresh_workspace()
        text = summary.describe()
        self._set_status(text.splitlines()[0])
        if summary.warnings:
            QMessageBox.information(self, "Labels imported", text)

    def _on_import_finished(self, equipment_id: str) -> None:
        self.refresh_workspace()
        self.set_equipment(equipment_id)

    def diagnose(self, start: datetime | None = None, end: datetime | None = None) -> None:
        store, equipment = self.store, self.equipment_id
        if store is None or equipment is None:
            show_error(self, HydroDiagError("Select an equipment with data before diagnosing."))
            return
        thresholds = StatusThresholds(
            healthy=self.settings.healthy_threshold, critical=self.settings.critical_threshold
        )
        provider = self.settings.provider

        def work(ctx: TaskContext) -> Diagnosis:
            return run_diagnosis(
                queries.thread_store(store), equipment, start, end, thresholds, provider, ctx
            )

        self._start("Diagnosing", work, self._on_diagnosis_done, key="diagnose")

    def _on_diagnosis_done(self, diagnosis: Diagnosis) -> None:
        self.refresh_workspace()
        self._show_diagnosis(diagnosis)
        self._set_status(
            f"Diagnosis #{diagnosis.id}: {diagnosis.verdict} "
            f"({sum(diagnosis.timings_ms.values()):.0f} ms on {diagnosis.provider})"
        )

    def open_report(self) -> Any:
        if self.store is None or self.diagnosis is None:
            show_error(
                self,
                HydroDiagError("Run or select a diagnosis first; the report is written from it."),
            )
            return None
        try:
            from app.gui.report_dialog import ReportDialog
        except ImportError:
            show_error(self, HydroDiagError("The PDF report is not available in this build."))
            return None
        dialog = ReportDialog(self.store, self.diagnosis, parent=self)
        dialog.open()
        return dialog

    def open_settings(self) -> None:
        from app.gui.dialogs.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() and dialog.result_settings is not None:
            self.apply_settings(dialog.result_settings)

    def apply_settings(self, settings: Settings) -> None:
        old = self.settings
        self.settings = settings
        save_settings(settings)
        if "sensors" in self._built:
            self.sensors.set_units(settings.pressure_unit, settings.temperature_unit)
        new_path = settings.workspace_path
        current = str(self.store.path) if self.store and self.store.path else None
        if new_path and new_path != current and new_path != old.workspace_path:
            try:
                self.open_workspace(new_path)
            except HydroDiagError as exc:
                show_error(self, exc, "Opening the workspace")

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

    def _on_overview_component_selected(self, component_id: str) -> None:
        if self.profile is not None:
            sensors = [s.id for s in self.profile.sensors_of(component_id)]
            if sensors:
                self._sensor_selection = sensors
                if "sensors" in self._built:
                    self.sensors.set_checked(sensors)

    # -- drag and drop, close ----------------------------------------------------------------

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.import_log(urls[0].toLocalFile())

    def closeEvent(self, event: QCloseEvent) -> None:
        running = [t for t in self.runner.running() if t.writes]
        if running:
            names = ", ".join(sorted({t.name for t in running}))
            policy = self.close_policy
            if policy == "ask":
                box = QMessageBox(self)
                box.setWindowTitle("Task running")
                box.setText(f"{names} is still running.")
                box.setInformativeText(
                    "Cancel it and close (nothing half-written is kept), wait for it to finish, "
                    "or keep working?"
                )
                cancel_close = box.addButton(
                    "Cancel task and close", QMessageBox.ButtonRole.DestructiveRole
                )
                wait = box.addButton("Wait, then close", QMessageBox.ButtonRole.AcceptRole)
                box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
                box.exec()
                clicked = box.clickedButton()
                if clicked is cancel_close:
                    policy = "cancel"
                elif clicked is wait:
                    policy = "wait"
                else:
                    event.ignore()
                    return
            if policy == "cancel":
                self.runner.cancel_all()
            self._set_status("Finishing the running task before closing…")
        for task in self.runner.running():
            if not task.writes:  # reads (sensor data loads) are simply dropped
                task.cancel()
        self.runner.wait_all(600.0)  # nothing may still use the workspace when it closes
        stop = getattr(self._built.get("live"), "shutdown", None)
        if stop is not None:
            stop()
        self.save_layout()
        if self.store is not None:
            self.store.close()
            self.store = None
        super().closeEvent(event)


def run_diagnosis(
    store: Store,
    equipment_id: str,
    start: datetime | None,
    end: datetime | None,
    thresholds: StatusThresholds,
    provider: ProviderPreference,
    progress: TaskContext,
) -> Diagnosis:
    """Run the engine and store the result (imported here: onnxruntime loads on first use,
    never torch)."""
    from gnn import engine

    selection = engine.Selection(start=start, end=end)
    # The engine keeps the loaded model (per file and provider) for the session.
    diagnosis = engine.diagnose(
        store,
        equipment_id,
        selection=selection,
        thresholds=thresholds,
        provider=provider,
        progress=progress,
    )
    return diagnosis
