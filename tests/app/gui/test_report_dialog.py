"""The Report dialog, offscreen: preview pages, section choice, fields stored on save."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader
from pytestqt.qtbot import QtBot

from app.core.sample import SampleWorkspace
from app.gui.report_dialog import ReportDialog
from app.report.builder import load_diagnosis
from app.report.model import Section
from ingestion.workspace import open_workspace

pytestmark = pytest.mark.gui


def test_preview_sections_and_save(
    qtbot: QtBot, sample_template: SampleWorkspace, tmp_path: Path
) -> None:
    shutil.copyfile(sample_template.path, tmp_path / "ws.duckdb")
    store = open_workspace(tmp_path / "ws.duckdb")
    diagnosis, _ = load_diagnosis(store, sample_template.equipment_id)
    diagnosis_id = diagnosis.id
    dialog = ReportDialog(store, diagnosis)  # as the main window opens it
    qtbot.addWidget(dialog)
    assert dialog.building and dialog.page_count == 0  # built off the GUI thread
    qtbot.waitUntil(lambda: not dialog.building, timeout=30000)
    full_pages = dialog.page_count
    assert full_pages >= 4
    assert dialog.pages_layout.count() == full_pages == len(dialog._page_labels)

    for section, box in dialog.section_boxes.items():
        box.setChecked(section == Section.RECOMMENDATIONS)
    dialog.update_preview()
    dialog.update_preview()  # a newer build supersedes the older one
    qtbot.waitUntil(lambda: not dialog.building, timeout=30000)
    assert 1 <= dialog.page_count < full_pages

    dialog.customer.setText('<img src="file:///etc/passwd"> ACME')
    dialog.site.setText("Hall 3")
    dialog.inspector.setText("J. Doe")
    dialog.notes.setPlainText("Pump noisy.\nOil dark.")
    dialog.paper.setCurrentIndex(1)  # Letter
    result = dialog.save_to(tmp_path / "out.pdf")
    assert result.pages == dialog.page_count or result.pages >= 1
    reader = PdfReader(str(result.path))
    assert round(float(reader.pages[0].mediabox.width)) == 612
    first_page = " ".join((reader.pages[0].extract_text() or "").split())
    assert '<img src="file:///etc/passwd"> ACME' in first_page
    rows = store.query("SELECT customer, site, inspector, notes FROM inspections")
    assert rows == [
        ('<img src="file:///etc/passwd"> ACME', "Hall 3", "J. Doe", "Pump noisy.\nOil dark.")
    ]

    # A new dialog for the same diagnosis shows what was stored.
    again = ReportDialog(store, diagnosis_id, equipment_id=sample_template.equipment_id)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: not again.building, timeout=30000)
    assert again.inspector.text() == "J. Doe"
    assert again.notes.toPlainText() == "Pump noisy.\nOil dark."
    store.close()


def test_save_button_writes_off_the_gui_thread(
    qtbot: QtBot, sample_template: SampleWorkspace, tmp_path: Path
) -> None:
    shutil.copyfile(sample_template.path, tmp_path / "ws.duckdb")
    store = open_workspace(tmp_path / "ws.duckdb")
    dialog = ReportDialog(store, sample_template.diagnosis)
    qtbot.addWidget(dialog)
    dialog.customer.setText("ACME")
    with qtbot.waitSignal(dialog.reportSaved, timeout=30000) as saved:
        dialog.start_save(tmp_path / "button.pdf")
    assert saved.args == [str(tmp_path / "button.pdf")]
    assert store.query("SELECT customer FROM inspections") == [("ACME",)]
    qtbot.waitUntil(lambda: dialog.runner.active_count == 0, timeout=30000)
    store.close()
