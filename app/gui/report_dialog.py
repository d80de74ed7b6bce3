"""The Report dialog: visit fields, section choice, a page preview, and "Save PDF…".

A thin skin over :mod:`app.report`: the preview images are painted by the same code that
writes the PDF, so what the engineer sees is what the customer gets. Building and painting a
report takes 0.2–0.7 s on a busy laptop (see docs/report.md), which froze the dialog for that
long on every keystroke pause. The workspace is therefore read by the task runner off the GUI
thread (its own DuckDB cursor), debounced while the user types, a newer build superseding an
older one; the pages are laid out and painted on the GUI thread: text documents made in a
worker deadlocked PySide (the worker held the GIL waiting for Qt's connection lock while the
GUI thread held that lock waiting for the GIL; seen once in a CI run, 2026-12-08). Saving
likewise, and the inspection is stored only once the PDF is whole.

Run ``python -m app.gui.report_dialog`` to try it on a sample workspace.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.queries import thread_store
from app.gui.dialogs.errors import show_error
from app.gui.workers import TaskContext, TaskRunner
from app.report.builder import build_report_model, load_diagnosis, save_inspection
from app.report.layout import font_family, render_images
from app.report.model import (
    ALL_SECTIONS,
    SECTION_TITLES,
    InspectionFields,
    Paper,
    ReportModel,
    Section,
)
from app.report.qtfix import guard_none_refcount
from app.report.render import RenderResult, layout_report, render_pdf
from gnn.results import Diagnosis
from ingestion.errors import HydroDiagError
from ingestion.workspace import Store

PREVIEW_DPI = 60.0


class ReportDialog(QDialog):
    """Write the PDF report of one diagnosis; the visit fields are stored with its inspection."""

    reportSaved = Signal(str)  # path of the PDF written

    def __init__(
        self,
        store: Store,
        diagnosis: Diagnosis | int | None = None,
        parent: QWidget | None = None,
        *,
        equipment_id: str | None = None,
        runner: TaskRunner | None = None,
    ) -> None:
        super().__init__(parent)
        guard_none_refcount()
        font_family()  # the font database is asked here, on the GUI thread, once
        self.store = store
        self.runner = runner or TaskRunner(self)
        self.building = False  # a preview is being built
        self._serial = 0
        if isinstance(diagnosis, Diagnosis):
            equipment_id = diagnosis.equipment_id
            diagnosis_id = diagnosis.id
        else:
            diagnosis_id = diagnosis
        if equipment_id is None:
            raise HydroDiagError("The report needs an equipment: pass a diagnosis or equipment_id.")
        loaded, inspection_id = load_diagnosis(store, equipment_id, diagnosis_id)
        assert loaded.id is not None
        self.equipment_id = equipment_id
        self.diagnosis_id: int = loaded.id
        self.setWindowTitle(f"Report — {equipment_id}, diagnosis #{loaded.id}")
        self.resize(1100, 820)
        self.model: ReportModel | None = None
        self.page_count = 0
        self.last_result: RenderResult | None = None

        self.customer = QLineEdit()
        self.site = QLineEdit()
        self.inspector = QLineEdit()
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("What you saw on site, what was done, agreed next steps…")
        self.notes.setMaximumHeight(140)
        for edit, hint in (
            (self.customer, "customer company"),
            (self.site, "site / machine location"),
            (self.inspector, "your name"),
        ):
            edit.setPlaceholderText(hint)
            edit.setMaxLength(200)
        self.paper = QComboBox()
        self.paper.addItem("A4", Paper.A4.value)
        self.paper.addItem("Letter", Paper.LETTER.value)
        self.section_boxes: dict[Section, QCheckBox] = {}
        sections_box = QGroupBox("Sections (the cover is always included)")
        sections_layout = QVBoxLayout(sections_box)
        for section in ALL_SECTIONS:
            box = QCheckBox(SECTION_TITLES[section])
            box.setChecked(True)
            box.toggled.connect(self._on_options_changed)
            self.section_boxes[section] = box
            sections_layout.addWidget(box)

        form = QFormLayout()
        form.addRow("Customer", self.customer)
        form.addRow("Site", self.site)
        form.addRow("Inspector", self.inspector)
        form.addRow("Notes", self.notes)
        form.addRow("Paper", self.paper)

        self.save_button = QPushButton("Save PDF…")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self._on_save_clicked)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.status = QLabel()
        self.status.setWordWrap(True)

        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(sections_box)
        left.addStretch(1)
        left.addWidget(self.status)
        left.addWidget(buttons)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setFixedWidth(360)

        self._page_labels: list[QLabel] = []
        self.pages_widget = QWidget()
        self.pages_layout = QVBoxLayout(self.pages_widget)
        self.pages_layout.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.preview = QScrollArea()
        self.preview.setWidgetResizable(True)
        self.preview.setWidget(self.pages_widget)
        self.pages_widget.setStyleSheet("background: #8a8a8a;")

        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addWidget(self.preview, 1)

        self._fill_fields(inspection_id)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self.update_preview)
        for line in (self.customer, self.site, self.inspector):
            line.textChanged.connect(self._on_fields_edited)
        self.notes.textChanged.connect(self._on_fields_edited)
        self.paper.currentIndexChanged.connect(self._on_options_changed)
        self.update_preview()

    # -- state -------------------------------------------------------------------------

    def _fill_fields(self, inspection_id: int | None) -> None:
        if inspection_id is None:
            return
        rows = self.store.query(
            "SELECT customer, site, inspector, notes FROM inspections WHERE id = ?",
            [inspection_id],
        )
        if rows:
            customer, site, inspector, notes = rows[0]
            self.customer.setText(customer)
            self.site.setText(site)
            self.inspector.setText(inspector)
            self.notes.setPlainText(notes)

    def fields(self) -> InspectionFields:
        return InspectionFields(
            customer=self.customer.text().strip(),
            site=self.site.text().strip(),
            inspector=self.inspector.text().strip(),
            notes=self.notes.toPlainText().strip()[:5000],
        )

    def sections(self) -> list[Section]:
        return [s for s, box in self.section_boxes.items() if box.isChecked()]

    def paper_size(self) -> Paper:
        return Paper(self.paper.currentData())

    # -- preview -----------------------------------------------------------------------

    def _on_fields_edited(self) -> None:
        self._debounce.start()

    def _on_options_changed(self) -> None:
        self._debounce.start(50)

    def update_preview(self) -> None:
        """Rebuild the report with the current fields and repaint the page images: the
        workspace is read off the GUI thread, the pages are laid out on it (text documents
        made in a worker thread deadlocked PySide against the GUI thread's signal
        disconnections); a build started meanwhile supersedes this one."""
        self._serial += 1
        serial, store, equipment, diagnosis_id = (
            self._serial,
            self.store,
            self.equipment_id,
            self.diagnosis_id,
        )
        fields = self.fields()

        def work(_ctx: TaskContext) -> tuple[int, ReportModel]:
            return serial, build_report_model(thread_store(store), equipment, diagnosis_id, fields)

        self.building = True
        self.status.setText("Building the preview…")
        self.runner.start(
            work,
            name="Building the report preview",
            key="report-preview",
            on_result=self._on_preview_built,
            on_error=self._on_preview_failed,
            writes=False,
        )

    def _on_preview_failed(self, exc: BaseException) -> None:
        self.building = False
        self.status.setText(f"Cannot build the report: {exc}")

    def _on_preview_built(self, built: tuple[int, ReportModel]) -> None:
        serial, model = built
        if serial != self._serial:
            return  # a newer build is on its way
        pages = layout_report(model, self.paper_size(), self.sections())
        images = render_images(pages, PREVIEW_DPI)
        pages.dispose()
        self.building = False
        self.model = model
        # Reuse the page labels: replacing widgets flickers and leaves stale pages painted
        # until the deferred deletes run.
        for i, image in enumerate(images):
            if i == len(self._page_labels):
                label = QLabel()
                label.setStyleSheet("background: white; border: 1px solid #444;")
                self.pages_layout.addWidget(label)
                self._page_labels.append(label)
            label = self._page_labels[i]
            label.setPixmap(QPixmap.fromImage(image))
            label.setToolTip(f"Page {i + 1} of {len(images)}")
            label.show()
        while len(self._page_labels) > len(images):
            extra = self._page_labels.pop()
            self.pages_layout.removeWidget(extra)
            extra.hide()
            extra.deleteLater()
        self.page_count = len(images)
        self.status.setText(
            f"{self.page_count} pages, {self.paper_size().value.upper()}. "
            "Customer, site, inspector and notes are stored with the inspection when you save."
        )

    # -- save --------------------------------------------------------------------------

    def _on_save_clicked(self) -> None:
        default = Path.home() / f"report-{self.equipment_id}-{self.diagnosis_id}.pdf"
        path, _ = QFileDialog.getSaveFileName(self, "Save report", str(default), "PDF (*.pdf)")
        if not path:
            return
        if not path.lower().endswith(".pdf"):
            path += ".pdf"
        self.start_save(Path(path))

    def start_save(self, path: Path) -> None:
        """Read the report off the GUI thread, then write the PDF on it and store the visit
        fields with the inspection once the file is whole (a failed write stores nothing)."""
        store, equipment, diagnosis_id = self.store, self.equipment_id, self.diagnosis_id
        fields, paper, sections = self.fields(), self.paper_size(), self.sections()

        def work(_ctx: TaskContext) -> ReportModel:
            return build_report_model(thread_store(store), equipment, diagnosis_id, fields)

        def write(model: ReportModel) -> None:
            try:
                result = render_pdf(model, path, paper, sections)
                save_inspection(store, equipment, diagnosis_id, fields)
            except HydroDiagError as exc:
                self._on_save_failed(exc)
                return
            self._on_saved(result)

        self.save_button.setEnabled(False)
        self.status.setText(f"Writing {path.name}…")
        self.runner.start(
            work,
            name="Writing the report",
            key="report-save",
            on_result=write,
            on_error=self._on_save_failed,
            on_finished=lambda: self.save_button.setEnabled(True),
        )

    def _on_save_failed(self, exc: BaseException) -> None:
        self.status.setText("The report was not saved.")
        show_error(self, exc, "Report not saved")

    def save_to(self, path: Path) -> RenderResult:
        """Store the visit fields with the inspection, then write the PDF to ``path`` (on the
        calling thread: for scripts and tests; the button uses :meth:`start_save`)."""
        result = write_report(
            self.store, self.equipment_id, self.diagnosis_id, self.fields(), path,
            self.paper_size(), self.sections(),
        )  # fmt: skip
        self._on_saved(result)
        return result

    def _on_saved(self, result: RenderResult) -> None:
        self.last_result = result
        self.status.setText(f"Saved {result.path} ({result.pages} pages, {result.seconds:.2f} s).")
        self.reportSaved.emit(str(result.path))

    def done(self, result: int) -> None:
        self.runner.cancel("report-preview")  # a preview nobody will see
        super().done(result)


def write_report(
    store: Store,
    equipment_id: str,
    diagnosis_id: int,
    fields: InspectionFields,
    path: Path,
    paper: Paper,
    sections: list[Section],
) -> RenderResult:
    """The PDF written, then the visit fields stored with the inspection (on the GUI thread:
    its text documents are Qt objects)."""
    model = build_report_model(store, equipment_id, diagnosis_id, fields)
    result = render_pdf(model, path, paper, sections)
    save_inspection(store, equipment_id, diagnosis_id, fields)
    return result


def main() -> int:
    """Show the dialog on the sample workspace."""
    from PySide6.QtWidgets import QApplication

    from app.core.sample import sample_workspace_in_temp

    app = QApplication.instance() or QApplication(sys.argv)
    sample = sample_workspace_in_temp()
    dialog = ReportDialog(sample.open(), sample.diagnosis)
    dialog.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
