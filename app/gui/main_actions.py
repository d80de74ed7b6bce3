"""The main window's actions: its menus, toolbar and keyboard shortcuts (docs/gui.md's table)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


@dataclass(frozen=True)
class MainActions:
    open_workspace: QAction
    new_equipment: QAction
    import_log: QAction
    import_labels: QAction
    report: QAction
    settings: QAction
    quit: QAction
    diagnose: QAction
    cancel: QAction
    connect_live: QAction
    about: QAction
    help: QAction
    demo: QAction
    rename: QAction
    delete: QAction


def add_action(
    window: MainWindow,
    text: str,
    shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
    slot: Callable[[], object],
    tip: str = "",
) -> QAction:
    """An action of the window (its shortcut works wherever the focus is in the window)."""
    action = QAction(text, window)
    if isinstance(shortcut, QKeySequence.StandardKey):
        action.setShortcuts(shortcut)
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action


def build_actions(window: MainWindow, tab_names: Sequence[str]) -> MainActions:
    """Create the actions, the File / Diagnosis / View / Help menus and the toolbar."""
    w = window
    acts = MainActions(
        open_workspace=add_action(
            w, "&Open workspace…", QKeySequence.StandardKey.Open, w.choose_workspace
        ),
        new_equipment=add_action(
            w, "&New equipment…", QKeySequence.StandardKey.New, w.new_equipment
        ),
        import_log=add_action(w, "&Import log…", "Ctrl+I", w.import_log, "Import a CSV log"),
        import_labels=add_action(
            w,
            "Import condition &labels…",
            "Ctrl+Shift+I",
            w.import_labels,
            "Import a CSV of condition ranges (component, start, end, grade) for training",
        ),
        report=add_action(
            w, "&Report…", QKeySequence.StandardKey.Print, w.open_report, "PDF report"
        ),
        settings=add_action(w, "&Settings…", "Ctrl+,", w.open_settings),
        quit=add_action(w, "&Quit", QKeySequence.StandardKey.Quit, w.close),
        diagnose=add_action(w, diagnose_label(w.settings.diagnose_last_minutes), "F5", w.diagnose),
        cancel=add_action(w, "&Cancel task", "Esc", w.cancel_tasks, "Cancel the running task"),
        connect_live=add_action(w, "&Connect live feed…", "Ctrl+L", w.connect_live),
        about=add_action(w, "&About HydroDiag", None, w.open_about),
        help=add_action(
            w,
            "HydroDiag &help",
            QKeySequence.StandardKey.HelpContents,
            w.open_help,
            "The user guide shipped with the app",
        ),
        demo=add_action(
            w,
            "Open the &demo",
            None,
            w.open_demo,
            "A simulated test rig, diagnosed, in a workspace of its own",
        ),
        rename=add_action(w, "&Rename…", "F2", w.rename_selected),
        delete=add_action(w, "&Delete…", QKeySequence.StandardKey.Delete, w.delete_selected),
    )
    menu = w.menuBar()
    file_menu = menu.addMenu("&File")
    for act in (
        acts.open_workspace,
        acts.new_equipment,
        acts.import_log,
        acts.import_labels,
        acts.report,
    ):
        file_menu.addAction(act)
    file_menu.addSeparator()
    file_menu.addAction(acts.settings)
    file_menu.addSeparator()
    file_menu.addAction(acts.quit)
    edit_menu = menu.addMenu("&Edit")
    edit_menu.addAction(acts.rename)
    edit_menu.addAction(acts.delete)
    diag_menu = menu.addMenu("&Diagnosis")
    diag_menu.addAction(acts.diagnose)
    diag_menu.addAction(acts.cancel)
    diag_menu.addAction(acts.connect_live)
    view_menu = menu.addMenu("&View")
    for i, name in enumerate(tab_names):
        view_menu.addAction(add_action(w, name, f"Ctrl+{i + 1}", _tab_switcher(w, i)))
    view_menu.addSeparator()
    view_menu.addAction(w.workspace_dock.toggleViewAction())
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(acts.help)
    help_menu.addAction(acts.demo)
    help_menu.addAction(acts.about)
    toolbar = w.addToolBar("Main")
    toolbar.setObjectName("MainToolbar")
    toolbar.setMovable(False)
    for act in (acts.import_log, acts.diagnose, acts.connect_live, acts.report):
        toolbar.addAction(act)
    return acts


def update_actions(window: MainWindow) -> None:
    """Enable what can work now; a disabled action says why in its tooltip."""
    acts = getattr(window, "acts", None)
    if acts is None:
        return
    minutes = window.settings.diagnose_last_minutes
    acts.diagnose.setText(diagnose_label(minutes))
    no_store = "Open or create a workspace first (Ctrl+O)."
    no_equipment = "Create an equipment (Ctrl+N) or import a log (Ctrl+I) first."
    r = window.readiness
    if window.store is None:
        why_not = no_store
    elif window.equipment_id is None:
        why_not = no_equipment
    elif r is not None and not r.can_diagnose:
        why_not = r.reason
    else:
        why_not = ""
    explain(
        acts.diagnose,
        why_not,
        f"Diagnose the last {stretch_text(minutes)} of data (F5); the stretch is a "
        "setting (Ctrl+,). Trends → Select range diagnoses any other stretch.",
    )
    explain(
        acts.report,
        no_equipment
        if window.equipment_id is None
        else ""
        if window.diagnosis is not None
        else "Run or select a diagnosis first; the report is written from it.",
        "Write the PDF report of the shown diagnosis (Ctrl+P)",
    )
    explain(
        acts.import_labels,
        no_equipment if window.equipment_id is None else "",
        "Import a CSV of condition ranges (component, start, end, grade) for training",
    )
    explain(
        acts.connect_live,
        no_equipment if window.equipment_id is None else "",
        "Read a Modbus device or a growing CSV log live, and record it (Ctrl+L)",
    )
    explain(acts.import_log, no_store if window.store is None else "", "Import a CSV log (Ctrl+I)")
    explain(acts.new_equipment, no_store if window.store is None else "", "New equipment (Ctrl+N)")
    target = window.workspace_panel.selected_target()
    pick = "Select an equipment, inspection, import or diagnosis in the workspace first."
    explain(acts.delete, "" if target else pick, "Delete the selected item (Del)")
    renamable = target is not None and target[0] in ("equipment", "inspection")
    explain(
        acts.rename,
        "" if renamable else "Select an equipment or an inspection in the workspace first.",
        "Rename the selected equipment or inspection (F2)",
    )
    for name, action in (("new", acts.new_equipment), ("import", acts.import_log),
                         ("diagnose", acts.diagnose), ("report", acts.report)):  # fmt: skip
        window.welcome.mirror(name, action.isEnabled(), action.toolTip())
    window.welcome.set_workspace_open(window.store is not None)
    panel = window.workspace_panel
    for button, action in ((panel.new_button, acts.new_equipment),
                           (panel.import_button, acts.import_log)):  # fmt: skip
        button.setEnabled(action.isEnabled())
        button.setToolTip(action.toolTip())


def explain(action: QAction, why_not: str, tip: str) -> None:
    """Enable ``action``, or disable it with the reason as its tooltip and status tip."""
    action.setEnabled(not why_not)
    action.setToolTip(why_not or tip)
    action.setStatusTip(why_not or tip)


def stretch_text(minutes: int) -> str:
    """``30 min``, ``2 h``, ``1 h 30 min``, ``2 days``."""
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day{'s' if days > 1 else ''}"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def diagnose_label(minutes: int) -> str:
    """What F5 does, named on the action and the toolbar: ``Diagnose last 30 min``."""
    return f"&Diagnose last {stretch_text(minutes)}"


def _tab_switcher(window: MainWindow, index: int) -> Callable[[], None]:
    return lambda: window.tabs.setCurrentIndex(index)
