"""A report of what the real engine produced on real UCI cycles, checked against its diagnosis."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.report.builder import build_report_model
from app.report.model import InspectionFields, Paper
from app.report.render import render_pdf
from app.report.wording import threshold_text, trend_text
from gnn.engine import Selection, diagnose
from gnn.persist import load_diagnosis
from gnn.wording import health_text
from ingestion.uci_import import ingest_uci
from ingestion.workspace import open_workspace
from tests.gnn.test_engine import N_CYCLES, base  # noqa: F401  (module fixture: workspace + model)


def test_report_of_engine_diagnosis_on_uci_cycles(
    qapp: object,
    base: tuple[Path, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    workspace, model_path = base
    copy = tmp_path / "ws.duckdb"
    shutil.copy(workspace, copy)
    with open_workspace(copy) as store:
        diagnose(store, "rig", model_path=model_path, selection=Selection(cycles=(1, 20)))
        engine = diagnose(store, "rig", model_path=model_path)
        assert engine.id is not None
        model = build_report_model(
            store, "rig", None, InspectionFields(customer="<b>UCI</b> lab", site="Saarbrücken")
        )
        assert model.diagnosis == load_diagnosis(store, engine.id)  # the latest, as stored
        assert model.sources and model.sources[0].sha256
        result = render_pdf(model, tmp_path / "uci.pdf", Paper.LETTER)
    reader = PdfReader(str(result.path))
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() or "" for p in reader.pages))
    text = text.replace("\u200b", "")
    d = model.diagnosis
    assert f"Diagnosis #{d.id}" in text
    assert f"{d.n_valid_windows} of {d.n_windows} windows valid" in text
    assert d.n_windows == N_CYCLES
    assert "<b>UCI</b> lab" in text
    assert d.verdict in text
    for comp in d.components:
        if comp.health is not None:
            assert health_text(comp.health) in text
        assert trend_text(comp.trend) in text
        assert threshold_text(comp) in text
    for rec in d.recommendations:
        assert rec.title in text
    for finding in d.findings:
        assert finding.summary in text
    assert model.sources[0].sha256 in text.replace(" ", "")
    assert d.provider in text


@pytest.mark.slow
def test_report_with_the_shipped_model_on_real_cycles(qapp: object, tmp_path: Path) -> None:
    """The shipped model on real UCI cycles (a late block, where the accumulator degrades)."""
    from tests.conftest import UCI_DIR
    from tests.gnn.test_engine import write_uci_subset

    folder = write_uci_subset(UCI_DIR, tmp_path / "uci", slice(1500, 1620))
    with open_workspace(tmp_path / "ws.duckdb") as store:
        ingest_uci(store, folder, equipment_id="rig")
        engine = diagnose(store, "rig", provider="cpu")
        model = build_report_model(store, "rig", engine.id)
        result = render_pdf(model, tmp_path / "shipped.pdf")
    text = re.sub(
        r"\s+", " ", " ".join(p.extract_text() or "" for p in PdfReader(str(result.path)).pages)
    )
    d = model.diagnosis
    assert d.model.model_id in text and d.model.version in text
    for comp in d.components:
        if comp.health is not None:
            assert health_text(comp.health) in text
            assert threshold_text(comp) in text
    for rec in d.recommendations:
        assert rec.title in text
    assert "Model card" in text  # read from the card.json beside the shipped model
