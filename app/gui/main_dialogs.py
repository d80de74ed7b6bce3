"""What the main window's File and Diagnosis actions do: open a workspace, create an
equipment, import a log or condition labels, diagnose, open the report. The results reach the
window's bound slots (``_on_import_finished``, ``_on_labels_imported``, ``_on_diagnosis_done``)
through its task runner."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from app.core import queries
from app.gui.dialogs.errors import show_error
from app.gui.workers import TaskContext
from gnn.results import Diagnosis, StatusThresholds
from ingestion.errors import HydroDiagError
from ingestion.resources import default_workspace_path

if TYPE_CHECKING:
    from app.gui.dialogs.import_dialog import ImportDialog
    from app.gui.main_window import MainWindow
    from app.gui.report_dialog import ReportDialog
    from ingestion.labels import LabelImportSummary


def choose_workspace(window: MainWindow) -> None:
    path, _ = QFileDialog.getSaveFileName(
        window,
        "Open or create a workspace",
        str(window.store.path if window.store and window.store.path else default_workspace_path()),
        "HydroDiag workspace (*.duckdb)",
        options=QFileDialog.Option.DontConfirmOverwrite,
    )
    if path:
        try:
            window.open_workspace(path)
        except HydroDiagError as exc:
            show_error(window, exc, "Opening the workspace")


def new_equipment(window: MainWindow) -> None:
    if window.store is None:
        return
    from app.gui.dialogs.new_equipment import NewEquipmentDialog

    dialog = NewEquipmentDialog(window.store, window)
    if dialog.exec() and dialog.created:
        window.workspace_panel.refresh(window.store, dialog.created)
        window.set_equipment(dialog.created)


def import_log(window: MainWindow, path: str | None = None) -> ImportDialog | None:
    """Open the import dialog (optionally pre-filled with a dropped file)."""
    if window.store is None:
        return None
    try:
        from app.gui.dialogs.import_dialog import ImportDialog
    except ImportError as exc:
        show_error(window, HydroDiagError(f"CSV import is not available in this build ({exc})."))
        return None
    dialog = ImportDialog(
        window.store, window.runner, parent=window, equipment_id=window.equipment_id
    )
    dialog.imported.connect(window._on_import_finished)
    if path:
        dialog.set_file(path)
    dialog.open()
    return dialog


def import_labels(window: MainWindow, path: str | Path | None = None) -> None:
    """Import a CSV of condition labels for the selected equipment (``hydrodiag ingest
    labels``): validated as a whole, one transaction, every problem listed on failure."""
    store, equipment = window.store, window.equipment_id
    if store is None or equipment is None:
        show_error(window, HydroDiagError("Select the equipment the labels are for first."))
        return
    if path is None:
        chosen, _ = QFileDialog.getOpenFileName(
            window, "Import condition labels", "", "CSV files (*.csv *.txt);;All files (*)"
        )
        if not chosen:
            return
        path = chosen
    source = Path(path)

    def work(ctx: TaskContext) -> LabelImportSummary:
        from ingestion import labels

        return labels.import_labels(queries.thread_store(store), source, equipment_id=equipment)

    window.tasks.start("Importing labels", work, window._on_labels_imported, key="import")


def diagnose(
    window: MainWindow, start: datetime | None = None, end: datetime | None = None
) -> None:
    """Diagnose [start, end), or without them the latest stretch of data (the setting
    ``diagnose_last_minutes``: what F5 is named after)."""
    store, equipment = window.store, window.equipment_id
    if store is None or equipment is None:
        show_error(window, HydroDiagError("Select an equipment with data before diagnosing."))
        return
    if window.readiness is not None and not window.readiness.can_diagnose:
        window._set_status(window.readiness.reason)
        return
    last = (
        timedelta(minutes=window.settings.diagnose_last_minutes)
        if start is None and end is None
        else None
    )
    thresholds = StatusThresholds(
        healthy=window.settings.healthy_threshold, critical=window.settings.critical_threshold
    )
    provider = window.settings.provider

    def work(ctx: TaskContext) -> Diagnosis:
        # Imported here: onnxruntime loads on first use, never torch. The engine keeps the
        # loaded model (per file and provider) for the session.
        from gnn import engine

        return engine.diagnose(
            queries.thread_store(store),
            equipment,
            selection=engine.Selection(start=start, end=end, last=last),
            thresholds=thresholds,
            provider=provider,
            progress=ctx,
        )

    window.tasks.start("Diagnosing", work, window._on_diagnosis_done, key="diagnose")


def open_report(window: MainWindow) -> ReportDialog | None:
    if window.store is None or window.diagnosis is None:
        show_error(
            window,
            HydroDiagError("Run or select a diagnosis first; the report is written from it."),
        )
        return None
    try:
        from app.gui.report_dialog import ReportDialog
    except ImportError:
        show_error(window, HydroDiagError("The PDF report is not available in this build."))
        return None
    dialog = ReportDialog(window.store, window.diagnosis, parent=window, runner=window.runner)
    dialog.open()
    return dialog
