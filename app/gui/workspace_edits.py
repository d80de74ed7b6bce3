"""Housekeeping from the main window: rename an equipment or an inspection, delete an
equipment, inspection, import or diagnosis (Edit menu, the tree's context menu), asking first
and deleting off the GUI thread; the Qt-free work is :mod:`app.core.housekeeping`."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from app.core import housekeeping, queries
from app.gui.dialogs.errors import show_error
from app.gui.workers import TaskContext
from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


def rename_item(window: MainWindow, kind: str, key: object) -> None:
    """Ask for a new name of an equipment (its name; the id stays) or an inspection (its
    site), and store it."""
    from PySide6.QtWidgets import QInputDialog

    store = window.store
    if store is None or kind not in ("equipment", "inspection"):
        return
    if kind == "equipment":
        current = next((e.name for e in queries.list_equipment(store) if e.id == key), "")
        label = f"Name of equipment {key} (its id stays {key}):"
    else:
        rows = store.query("SELECT site FROM inspections WHERE id = ?", [key])
        current = str(rows[0][0]) if rows else ""
        label = "Site of this inspection (shown with its date and inspector):"
    text, ok = QInputDialog.getText(window, "Rename", label, text=current)
    if not ok or text.strip() == current:
        return
    try:
        if kind == "equipment":
            housekeeping.rename_equipment(store, str(key), text)
        else:
            housekeeping.rename_inspection(store, int(str(key)), text)
    except HydroDiagError as exc:
        show_error(window, exc, "Rename")
        return
    window.refresh_workspace()
    if kind == "equipment" and key == window.equipment_id:
        window.summary.set_equipment(text.strip())
    window._set_status(f"Renamed to {text.strip()!r}.")


def delete_item(window: MainWindow, kind: str, key: object) -> None:
    """Delete an equipment, inspection, import or diagnosis after the user confirmed what
    goes with it; the deletion runs off the GUI thread in one transaction."""
    store = window.store
    if store is None or kind not in ("equipment", "inspection", "source", "diagnosis"):
        return
    target = cast("housekeeping.Kind", kind)
    try:
        what = housekeeping.describe_deletion(store, target, cast("str | int", key))
    except HydroDiagError as exc:
        show_error(window, exc, "Delete")
        return
    if window.confirm(f"Delete {housekeeping.KIND_TITLES[target]}", what.sentence()) is False:
        return

    def work(ctx: TaskContext) -> housekeeping.Deletion:
        return housekeeping.delete(queries.thread_store(store), target, what.key)

    window.tasks.start(f"Deleting {what.title}", work, window._on_deleted, key="delete")


def on_deleted(window: MainWindow, what: housekeeping.Deletion) -> None:
    window._set_status(f"Deleted {what.title}.")
    if what.kind == "equipment" and what.key == window.equipment_id:
        remaining = queries.list_equipment(window.store) if window.store else []
        window.refresh_workspace()
        window.set_equipment(remaining[0].id if remaining else None)
        if window.store is not None:
            window.workspace_panel.refresh(window.store, window.equipment_id)
        return
    window.refresh_workspace()
    if (
        what.kind == "diagnosis"
        and window.diagnosis is not None
        and window.diagnosis.id == what.key
    ):
        window._history = None
        window._show_diagnosis(
            queries.latest_diagnosis(window.store, window.equipment_id)
            if window.store and window.equipment_id
            else None
        )
    elif what.kind == "source" and window.equipment_id is not None:
        window.set_equipment(window.equipment_id)  # its data changed: views and readiness
