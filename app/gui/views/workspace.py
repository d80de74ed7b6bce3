"""WorkspacePanel: the equipment in the workspace with their inspections, sources and diagnoses."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import queries
from ingestion.workspace import Store

ROLE_KIND = Qt.ItemDataRole.UserRole
ROLE_ID = Qt.ItemDataRole.UserRole + 1
ROLE_EQUIPMENT = Qt.ItemDataRole.UserRole + 2


class WorkspacePanel(QWidget):
    equipmentSelected = Signal(str)
    diagnosisSelected = Signal(str, int)
    newEquipmentRequested = Signal()
    importRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path_label = QLabel("")
        self.path_label.setWordWrap(True)
        self.path_label.setStyleSheet("color: #5f6b76; font-size: 11px;")
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.itemClicked.connect(self._on_tree_item_clicked)
        self.new_button = QPushButton("New equipment…")
        self.new_button.clicked.connect(self.newEquipmentRequested.emit)
        self.import_button = QPushButton("Import log…")
        self.import_button.clicked.connect(self.importRequested.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.path_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self.current_equipment: str | None = None

    def refresh(self, store: Store, select: str | None = None) -> None:
        self.path_label.setText(
            f"Workspace: {store.path}" if store.path else "Workspace: in memory"
        )
        self.tree.clear()
        equipment = queries.list_equipment(store)
        if not equipment:
            empty = QTreeWidgetItem(["(no equipment — New equipment… or Import log…)"])
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.tree.addTopLevelItem(empty)
        chosen: QTreeWidgetItem | None = None
        for eq in equipment:
            top = QTreeWidgetItem([f"{eq.name} ({eq.id})"])
            top.setToolTip(0, f"profile {eq.profile_id}")
            top.setData(0, ROLE_KIND, "equipment")
            top.setData(0, ROLE_EQUIPMENT, eq.id)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.tree.addTopLevelItem(top)
            inspections = QTreeWidgetItem(["Inspections"])
            for ins in queries.list_inspections(store, eq.id):
                text = f"{ins.started_at:%Y-%m-%d} {ins.site or ''} {ins.inspector or ''}".strip()
                child = QTreeWidgetItem([text])
                child.setData(0, ROLE_EQUIPMENT, eq.id)
                inspections.addChild(child)
            sources = QTreeWidgetItem(["Sources"])
            for src in queries.list_sources(store, eq.id):
                name = src.uri.replace("\\", "/").rsplit("/", 1)[-1] or src.uri
                child = QTreeWidgetItem([f"{src.kind}: {name} ({src.size}, {src.status})"])
                child.setToolTip(0, src.uri)
                child.setData(0, ROLE_EQUIPMENT, eq.id)
                sources.addChild(child)
            diagnoses = QTreeWidgetItem(["Diagnoses"])
            for diag in queries.list_diagnoses(store, eq.id):
                health = (
                    f"{diag.overall_health * 100:.0f} %" if diag.overall_health is not None else "—"
                )
                child = QTreeWidgetItem(
                    [
                        f"#{diag.id} {diag.window_start:%m-%d %H:%M}–{diag.window_end:%H:%M} {health} {diag.overall_status}"
                    ]
                )
                child.setToolTip(0, diag.verdict)
                child.setData(0, ROLE_KIND, "diagnosis")
                child.setData(0, ROLE_ID, diag.id)
                child.setData(0, ROLE_EQUIPMENT, eq.id)
                diagnoses.addChild(child)
            for group in (inspections, sources, diagnoses):
                group.setText(0, f"{group.text(0)} ({group.childCount()})")
                group.setData(0, ROLE_EQUIPMENT, eq.id)
                top.addChild(group)
            top.setExpanded(True)
            diagnoses.setExpanded(True)
            sources.setExpanded(True)
            if eq.id == select or (select is None and chosen is None):
                chosen = top
        if chosen is not None:
            self.tree.setCurrentItem(chosen)
            self.current_equipment = str(chosen.data(0, ROLE_EQUIPMENT))

    def _on_tree_item_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        equipment = item.data(0, ROLE_EQUIPMENT)
        if equipment is None:
            return
        if item.data(0, ROLE_KIND) == "diagnosis":
            self.current_equipment = str(equipment)
            self.diagnosisSelected.emit(str(equipment), int(item.data(0, ROLE_ID)))
        elif equipment != self.current_equipment:
            self.current_equipment = str(equipment)
            self.equipmentSelected.emit(str(equipment))


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.sample import sample_workspace_in_temp

        panel = WorkspacePanel()
        panel.refresh(sample_workspace_in_temp().open())
        return panel

    return run_standalone("Workspace", build)


if __name__ == "__main__":
    raise SystemExit(main())
