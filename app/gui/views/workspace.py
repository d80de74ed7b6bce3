"""WorkspacePanel: the fleet — each equipment with the status and time of its latest diagnosis —
and, under it, its inspections, imports and diagnoses. Right-click (or the Edit menu) renames
and deletes; the main window asks for confirmation and does the work off the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import queries, timefmt
from app.core.presentation import format_health, status_style
from gnn.results import Status
from ingestion.workspace import Store

ROLE_KIND = Qt.ItemDataRole.UserRole
ROLE_ID = Qt.ItemDataRole.UserRole + 1
ROLE_EQUIPMENT = Qt.ItemDataRole.UserRole + 2

RENAMABLE = ("equipment", "inspection")
DELETABLE = ("equipment", "inspection", "source", "diagnosis")
KIND_WORDS = {
    "equipment": "equipment",
    "inspection": "inspection",
    "source": "import",
    "diagnosis": "diagnosis",
}


_ICONS: dict[Status, QIcon] = {}


def status_icon(status: Status) -> QIcon:
    """A dot in the status colour with its glyph: the status at a glance in the first column."""
    icon = _ICONS.get(status)
    if icon is None:
        style = status_style(status)
        pixmap = QPixmap(16, 16)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(style.border))
        painter.setBrush(QColor(style.fill))
        painter.drawEllipse(1, 1, 14, 14)
        painter.setPen(QColor(style.text))
        font = painter.font()
        font.setPixelSize(10)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, style.glyph)
        painter.end()
        icon = _ICONS[status] = QIcon(pixmap)
    return icon


def source_title(kind: str, uri: str) -> str:
    """A source as the tree names it: its file name, or the feed without its query string."""
    name = uri.replace("\\", "/").rsplit("/", 1)[-1] or uri
    return f"{kind}: {name.split('?', 1)[0]}"


def _with_status(item: QTreeWidgetItem, status: Status | None, line: str, tip: str) -> None:
    """The status as a coloured dot with its glyph and, in words, on the item's second line
    (``CRITICAL · 30 Nov 09:00``): one column, nothing to scroll to."""
    if status is not None:
        item.setIcon(0, status_icon(status))
    item.setText(0, f"{item.text(0)}\n{line}")
    item.setToolTip(0, tip)


class WorkspacePanel(QWidget):
    equipmentSelected = Signal(str)
    diagnosisSelected = Signal(str, int)
    newEquipmentRequested = Signal()
    importRequested = Signal()
    renameRequested = Signal(str, object)  # kind, key (equipment id or row id)
    deleteRequested = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path_label = QLabel("")
        self.path_label.setWordWrap(True)
        self.path_label.setStyleSheet("color: #5f6b76; font-size: 11px;")
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setIndentation(14)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.itemClicked.connect(self._on_tree_item_clicked)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_tree_context_menu_requested)
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
        self.context_menu: QMenu | None = None  # the last one shown (tests look at it)

    def refresh(self, store: Store, select: str | None = None) -> None:
        self.path_label.setText(
            f"Workspace: {store.path}" if store.path else "Workspace: in memory"
        )
        self.tree.clear()
        fleet = queries.fleet(store)
        if not fleet:
            empty = QTreeWidgetItem(["(no equipment yet)"])
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.tree.addTopLevelItem(empty)
        chosen: QTreeWidgetItem | None = None
        for eq in fleet:
            top = QTreeWidgetItem([f"{eq.name} ({eq.id})"])
            top.setData(0, ROLE_KIND, "equipment")
            top.setData(0, ROLE_ID, eq.id)
            top.setData(0, ROLE_EQUIPMENT, eq.id)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            about = f"{eq.name} ({eq.id}), profile {eq.profile_id}"
            if eq.diagnosed_at is None or eq.status is None:
                _with_status(top, None, "not diagnosed yet", f"{about}\nno diagnosis yet")
            else:
                when = timefmt.when(eq.diagnosed_at, "%d %b %H:%M")
                line = f"{status_style(eq.status).word} · {format_health(eq.health)} · {when}"
                _with_status(top, eq.status, line, f"{about}\nlatest diagnosis: {eq.verdict}")
            self.tree.addTopLevelItem(top)
            inspections = QTreeWidgetItem(["Inspections"])
            for ins in queries.list_inspections(store, eq.id):
                text = " ".join(
                    p for p in (f"{ins.started_at:%Y-%m-%d}", ins.site, ins.inspector) if p
                )
                child = QTreeWidgetItem([text])
                child.setToolTip(0, f"{text}\ncustomer {ins.customer or '—'}")
                child.setData(0, ROLE_KIND, "inspection")
                child.setData(0, ROLE_ID, ins.id)
                child.setData(0, ROLE_EQUIPMENT, eq.id)
                inspections.addChild(child)
            sources = QTreeWidgetItem(["Sources"])
            for src in queries.list_sources(store, eq.id):
                title = source_title(src.kind, src.uri)
                state = "" if src.status == "complete" else f", {src.status}"
                child = QTreeWidgetItem([f"{title} ({src.size}{state})"])
                child.setToolTip(0, src.uri)
                child.setData(0, ROLE_KIND, "source")
                child.setData(0, ROLE_ID, src.id)
                child.setData(0, ROLE_EQUIPMENT, eq.id)
                sources.addChild(child)
            diagnoses = QTreeWidgetItem(["Diagnoses"])
            last_day = ""
            for diag in queries.list_diagnoses(store, eq.id):
                day = timefmt.when(diag.window_start, "%d %b", zone_label=False)
                # the date once per day (newest first), then times only: rows stay short
                clock = timefmt.when(diag.window_start, "%H:%M", zone_label=False)
                start = clock if day == last_day else f"{day} {clock}"
                last_day = day
                end = timefmt.when(diag.window_end, "%H:%M", zone_label=False)
                word = status_style(diag.overall_status).word
                child = QTreeWidgetItem(
                    [f"#{diag.id} {start}–{end} {word} {format_health(diag.overall_health)}"]
                )
                child.setIcon(0, status_icon(diag.overall_status))
                child.setToolTip(
                    0, f"{timefmt.span(diag.window_start, diag.window_end)}\n{diag.verdict}"
                )
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
        else:
            self.current_equipment = None

    def selected_target(self) -> tuple[str, str | int, str] | None:
        """(kind, key, text) of the selected equipment, inspection, import or diagnosis."""
        item = self.tree.currentItem()
        if item is None or item.data(0, ROLE_KIND) not in DELETABLE:
            return None
        kind = str(item.data(0, ROLE_KIND))
        key = item.data(0, ROLE_ID)
        return kind, (str(key) if kind == "equipment" else int(key)), item.text(0)

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

    def _on_tree_context_menu_requested(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        self.tree.setCurrentItem(item)
        target = self.selected_target()
        if target is None:
            return
        kind, key, _text = target
        menu = QMenu(self)
        if kind == "diagnosis":
            show = QAction("Show", menu)
            show.triggered.connect(lambda: self._on_tree_item_clicked(item, 0))
            menu.addAction(show)
        if kind in RENAMABLE:
            rename = QAction("Rename…", menu)
            rename.triggered.connect(lambda: self.renameRequested.emit(kind, key))
            menu.addAction(rename)
        delete = QAction(f"Delete {KIND_WORDS[kind]}…", menu)
        delete.triggered.connect(lambda: self.deleteRequested.emit(kind, key))
        menu.addAction(delete)
        menu.popup(self.tree.viewport().mapToGlobal(pos))
        self.context_menu = menu


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
