"""OverviewPanel: the component graph with its legend, and the selected component's details."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from app.gui.views.component_details import ComponentDetailsPanel
from app.gui.views.component_graph import ComponentGraphView
from app.gui.views.widgets import StatusLegend
from gnn.results import Diagnosis, Status
from ingestion.profiles import EquipmentProfile


class OverviewPanel(QWidget):
    componentSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graph = ComponentGraphView()
        self.legend = StatusLegend()
        self.details = ComponentDetailsPanel()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.graph, 1)
        left_layout.addWidget(self.legend)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 340])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.diagnosis: Diagnosis | None = None
        self.graph.componentSelected.connect(self._on_graph_component_selected)

    def set_profile(self, profile: EquipmentProfile) -> None:
        self.graph.set_profile(profile)
        self.details.show_component(self.diagnosis, None)

    def set_diagnosis(self, diagnosis: Diagnosis | None) -> None:
        self.diagnosis = diagnosis
        self.graph.set_diagnosis(diagnosis)
        selected = self.graph.selected
        if selected is None and diagnosis is not None:
            # Start on the component that needs attention most.
            worst = sorted(
                (c for c in diagnosis.components if c.health is not None),
                key=lambda c: c.health if c.health is not None else 1.0,
            )
            selected = (
                worst[0].component_id if worst and worst[0].status != Status.HEALTHY else None
            )
        self.select(selected)

    def select(self, component_id: str | None) -> None:
        self.graph.select(component_id)
        self.details.show_component(self.diagnosis, component_id)

    def _on_graph_component_selected(self, component_id: str) -> None:
        self.details.show_component(self.diagnosis, component_id)
        self.componentSelected.emit(component_id)


def main() -> int:
    from app.gui.views._standalone import run_standalone

    def build() -> QWidget:
        from app.core.sample import SAMPLE_PROFILE, sample_diagnosis
        from ingestion.profiles import load_profile

        panel = OverviewPanel()
        panel.set_profile(load_profile(SAMPLE_PROFILE))
        panel.set_diagnosis(sample_diagnosis())
        return panel

    return run_standalone("Overview", build)


if __name__ == "__main__":
    raise SystemExit(main())
