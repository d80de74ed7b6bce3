"""PDF reports: built from a real workspace, written through QPdfWriter, read back with pypdf."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.core.presentation import STATUS_STYLES
from app.report.builder import ReportError, build_report_model, load_diagnosis, save_inspection
from app.report.model import ALL_SECTIONS, SECTION_TITLES, InspectionFields, Paper, Section
from app.report.render import layout_report, render_images, render_pdf, threshold_text
from app.report.sample import EQUIPMENT_ID, make_sample_workspace
from gnn.results import Diagnosis, Status
from ingestion.workspace import Store

MARKUP = '<img src="file:///etc/passwd"><b>ACME</b> & <script>alert(1)</script> "Söhne"'
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[tuple[Store, int]]:
    store, diagnosis_id = make_sample_workspace(tmp_path / "ws.duckdb")
    yield store, diagnosis_id
    store.close()


def _text(path: Path) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(str(path))
    pages = [
        re.sub(r"\s+", " ", p.extract_text() or "").replace("\u200b", "") for p in reader.pages
    ]
    # Ligatures are off: "file" must be searchable as "file", not "\ufb01le".
    assert not any("\ufb01" in p or "\ufb02" in p for p in pages)
    return reader, pages


def _flat(pages: list[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(pages))


def _diagnosis(store: Store) -> Diagnosis:
    return load_diagnosis(store, EQUIPMENT_ID)[0]


def test_pdf_has_sections_numbers_and_recommendations(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    store, diagnosis_id = sample
    fields = InspectionFields(customer="ACME Hydraulics", site="Hall 3", inspector="J. Doe")
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id, fields)
    result = render_pdf(model, tmp_path / "report.pdf")
    reader, pages = _text(result.path)
    assert len(reader.pages) == result.pages >= 4
    text = _flat(pages)
    for section in ALL_SECTIONS:
        assert SECTION_TITLES[section] in text
    for i, page in enumerate(pages):
        assert f"Page {i + 1} of {result.pages}" in page  # footer on every page
        assert "HydroDiag diagnosis report" in page  # header on every page
    d = model.diagnosis
    assert d.overall_health is not None
    assert f"Overall health {d.overall_health:.2f}" in text
    assert d.verdict in text
    for comp in d.components:
        assert comp.component_id in text
        if comp.health is not None:
            assert f"{comp.health:.2f}" in text
        if comp.confidence is not None:
            assert f"{comp.confidence:.0%}" in text
        if comp.anomaly is not None:
            assert f"{comp.anomaly.score:.2f}" in text
    assert threshold_text(d.component("V10")) in text  # "critical in 262 h (193–393)"
    for rec in d.recommendations:
        assert rec.title in text
        assert rec.action in text
        assert rec.due_date.strftime("%Y-%m-%d") in text
    for finding in d.findings:
        assert finding.summary in text
    assert "5.41 mm/s" in text  # the limit violation's worst value
    for name in ("ACME Hydraulics", "Hall 3", "J. Doe", d.provider, d.model.model_id):
        assert name in text
    source = model.sources[0]
    assert source.sha256 is not None and source.sha256 in text.replace(" ", "")
    # Recommendations are ordered by priority: urgent before low.
    assert text.index(d.recommendations[0].title) < text.index(d.recommendations[-1].title)


def test_charts_are_vector_and_fonts_embedded(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    store, diagnosis_id = sample
    result = render_pdf(build_report_model(store, EQUIPMENT_ID, diagnosis_id), tmp_path / "r.pdf")
    reader = PdfReader(str(result.path))
    fonts = 0
    for page in reader.pages:
        resources = page["/Resources"]
        xobjects = resources.get("/XObject", {})
        for ref in xobjects.values():
            assert ref.get_object().get("/Subtype") != "/Image", "a chart was rasterised"
        for ref in resources.get("/Font", {}).values():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            descriptor = (
                descendants[0].get_object()["/FontDescriptor"]
                if descendants
                else font["/FontDescriptor"]
            ).get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            fonts += 1
    assert fonts > 0


def test_markup_in_user_text_is_shown_literally_and_loads_nothing(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    store, diagnosis_id = sample
    fields = InspectionFields(
        customer=MARKUP,
        site='<a href="http://example.com">site</a>',
        inspector="<i>x</i>",
        notes='line 1\n<img src="/etc/hostname"> line 2 &amp; <h1>big</h1>',
    )
    save_inspection(store, EQUIPMENT_ID, diagnosis_id, fields)
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    assert model.inspection.fields == fields
    result = render_pdf(model, tmp_path / "markup.pdf")
    _, pages = _text(result.path)
    text = _flat(pages)
    assert '<img src="file:///etc/passwd"><b>ACME</b> & <script>alert(1)</script>' in text
    assert '<a href="http://example.com">site</a>' in text
    assert '<img src="/etc/hostname"> line 2 &amp; <h1>big</h1>' in text
    assert "root:" not in text  # nothing of /etc/passwd was pulled in
    raw = result.path.read_bytes()
    assert b"/Subtype /Image" not in raw and b"/URI" not in raw


def test_letter_and_a4_page_sizes(qapp: object, sample: tuple[Store, int], tmp_path: Path) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    a4 = render_pdf(model, tmp_path / "a4.pdf", Paper.A4)
    letter = render_pdf(model, tmp_path / "letter.pdf", "letter")
    box_a4 = PdfReader(str(a4.path)).pages[0].mediabox
    box_letter = PdfReader(str(letter.path)).pages[0].mediabox
    assert (round(float(box_a4.width)), round(float(box_a4.height))) == (595, 842)
    assert (round(float(box_letter.width)), round(float(box_letter.height))) == (612, 792)


def test_section_choice(qapp: object, sample: tuple[Store, int], tmp_path: Path) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    full = render_pdf(model, tmp_path / "full.pdf")
    only = render_pdf(model, tmp_path / "recs.pdf", sections=[Section.RECOMMENDATIONS])
    _, pages = _text(only.path)
    text = _flat(pages)
    assert only.pages < full.pages
    assert "Recommendations" in text and "Overall health" in text  # cover always there
    for section in (Section.GRAPH, Section.SENSORS, Section.APPENDIX):
        assert SECTION_TITLES[section] not in text


def test_healthy_diagnosis_without_history_or_actions(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    d = model.diagnosis
    healthy = tuple(
        c.model_copy(update={"status": Status.HEALTHY, "health": 0.95, "limit_violations": ()})
        if c.assessed
        else c
        for c in d.components
    )
    quiet = d.model_copy(
        update={
            "components": healthy,
            "findings": (),
            "recommendations": (),
            "data_quality": (),
            "overall_status": Status.HEALTHY,
            "overall_health": 0.95,
            "verdict": "All assessed components healthy.",
        }
    )
    model = model.model_copy(update={"diagnosis": quiet, "histories": (), "sources": ()})
    result = render_pdf(model, tmp_path / "quiet.pdf")
    text = _flat(_text(result.path)[1])
    assert "no trend chart is needed" in text
    assert "No maintenance action is recommended" in text
    assert "No findings" in text
    assert f"Overall health 0.95 — {STATUS_STYLES[Status.HEALTHY].label}" in text


def test_inspection_is_stored_and_updated(sample: tuple[Store, int]) -> None:
    store, diagnosis_id = sample
    first = save_inspection(store, EQUIPMENT_ID, diagnosis_id, InspectionFields(customer="A"))
    second = save_inspection(
        store, EQUIPMENT_ID, diagnosis_id, InspectionFields(customer="B", notes="n")
    )
    assert first == second
    rows = store.query("SELECT customer, notes FROM inspections")
    assert rows == [("B", "n")]
    assert load_diagnosis(store, EQUIPMENT_ID)[1] == first


def test_missing_things_are_clear_errors(sample: tuple[Store, int]) -> None:
    store, _ = sample
    with pytest.raises(ReportError, match=r"no equipment 'press'.*known: rig"):
        build_report_model(store, "press")
    with pytest.raises(ReportError, match=r"has no diagnosis 99 .*its diagnoses: 1"):
        build_report_model(store, EQUIPMENT_ID, 99)


def test_preview_images_match_pdf_pages(qapp: object, sample: tuple[Store, int]) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    pages = layout_report(model, Paper.LETTER)
    images = render_images(pages, dpi=30)
    assert len(images) == pages.count
    assert images[0].width() == round(8.5 * 30)
    # Not blank: some pixels are dark.
    first = images[0]
    dark = sum(
        1
        for y in range(0, first.height(), 3)
        for x in range(0, first.width(), 3)
        if first.pixelColor(x, y).lightness() < 100
    )
    assert dark > 50


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing")
def test_every_page_renders_to_png(qapp: object, sample: tuple[Store, int], tmp_path: Path) -> None:
    store, diagnosis_id = sample
    result = render_pdf(build_report_model(store, EQUIPMENT_ID, diagnosis_id), tmp_path / "r.pdf")
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(result.path), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == result.pages
    assert all(p.stat().st_size > 2000 for p in pngs)


def test_cli_writes_report_and_stores_inspection(tmp_path: Path) -> None:
    workspace = tmp_path / "ws.duckdb"
    store, _ = make_sample_workspace(workspace)
    store.close()
    out = tmp_path / "cli.pdf"
    code = (
        "import sys; from app.cli import main; "
        f"rc = main(['--workspace', {str(workspace)!r}, 'report', '--equipment', 'rig', "
        f"'--latest', '--out', {str(out)!r}, '--paper', 'letter', '--customer', {MARKUP!r}, "
        "'--inspector', 'Ann']); "
        "print('torch loaded' if 'torch' in sys.modules else 'torch-free'); sys.exit(rc)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "torch-free" in run.stdout
    assert re.search(r"wrote .*cli\.pdf — diagnosis #1 of rig, \d+ pages, LETTER", run.stdout)
    assert PdfReader(str(out)).pages[0].mediabox.width == 612
    from ingestion.workspace import open_workspace

    with open_workspace(workspace, read_only=True) as check:
        assert check.query("SELECT customer, inspector FROM inspections") == [(MARKUP, "Ann")]


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    workspace = tmp_path / "ws.duckdb"
    store, _ = make_sample_workspace(workspace)
    store.close()
    rc = main(
        ["--workspace", str(workspace), "report", "--equipment", "rig", "--diagnosis", "7",
         "--out", str(tmp_path / "x.pdf")]
    )  # fmt: skip
    assert rc == 1
    assert "has no diagnosis 7" in capsys.readouterr().err
    rc = main(
        ["--workspace", str(workspace), "report", "--equipment", "rig",
         "--out", str(tmp_path / "missing" / "x.pdf")]
    )  # fmt: skip
    assert rc == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()


def test_long_content_flows_over_pages(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    store, diagnosis_id = sample
    notes = "\n".join(
        f"Observation {i}: " + "hose chafed near the valve block. " * 5 for i in range(24)
    )
    model = build_report_model(
        store, EQUIPMENT_ID, diagnosis_id, InspectionFields(customer="A" * 200, notes=notes)
    )
    d = model.diagnosis
    recs = tuple(
        r.model_copy(update={"title": f"{r.title} (item {i})"})
        for i in range(6)
        for r in d.recommendations
    )
    verdict = "Accumulator bank critical; " * 12
    model = model.model_copy(
        update={"diagnosis": d.model_copy(update={"recommendations": recs, "verdict": verdict})}
    )
    result = render_pdf(model, tmp_path / "long.pdf")
    _, pages = _text(result.path)
    text = _flat(pages)
    for i in range(24):
        assert f"Observation {i}:" in text  # notes continue on the next page, nothing lost
    assert text.count("Observation 23:") == 1
    first = next(i for i, p in enumerate(pages) if "Observation 0:" in p)
    assert "Observation 23:" not in pages[first]  # split at a line, not moved whole
    for rec in recs:
        assert rec.title in text
    # The checklist runs over more than one page, its header repeated on each.
    rec_pages = [
        p
        for p in pages
        if "Measure and restore accumulator precharge (item" in p
        or "Routine cooler inspection (item" in p
    ]
    assert len(rec_pages) >= 2
    assert all("Done by / date" in p for p in rec_pages)
    assert verdict.strip() in text


def test_insufficient_data_is_reported_not_guessed(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    d = model.diagnosis
    blind = tuple(
        c.model_copy(
            update={
                "status": Status.INSUFFICIENT_DATA,
                "health": None,
                "grade": None,
                "confidence": None,
                "trend": None,
            }
        )
        if c.assessed
        else c
        for c in d.components
    )
    empty = d.model_copy(
        update={
            "components": blind,
            "overall_health": None,
            "overall_status": Status.INSUFFICIENT_DATA,
            "n_valid_windows": 0,
            "windows": tuple(
                w.model_copy(update={"valid": False, "health": {}, "anomaly": {}})
                for w in d.windows
            ),
            "verdict": "Insufficient data: no window had enough valid samples.",
        }
    )
    model = model.model_copy(update={"diagnosis": empty, "histories": ()})
    result = render_pdf(model, tmp_path / "blind.pdf")
    text = _flat(_text(result.path)[1])
    assert "Overall: ? NO DATA" in text
    assert "no trend chart is needed" in text
    assert "0 of 120 windows valid" in text
    assert text.count("? NO DATA") >= 4


def test_sensor_choice_and_buckets(sample: tuple[Store, int]) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    chosen = [(s.sensor_id, s.reason) for s in model.sensors]
    # Limit violations first, then the top contributors of anomalous components (worst first).
    assert [c[0] for c in chosen] == ["VS1", "PS2", "PS1", "TS4", "TS2"]
    assert chosen[0][1] == "limit violation (warning high 4.5 mm/s)"
    assert chosen[1][1] == "46% of the ACC anomaly"
    vs1 = model.sensors[0]
    assert vs1.n_samples == 120 * 60  # every 1 Hz sample of the two hours, none lost
    # Buckets are whole 60 s cycles: 120 of them, each min <= mean <= max.
    assert len(vs1.t) == 120
    assert all(b - a == pytest.approx(60.0) for a, b in zip(vs1.t, vs1.t[1:], strict=False))
    assert all(lo <= m <= hi for lo, m, hi in zip(vs1.lo, vs1.mean, vs1.hi, strict=True))
    assert max(vs1.hi) == pytest.approx(5.41, abs=0.2)  # the spike survives downsampling
    ts4 = next(s for s in model.sensors if s.sensor_id == "TS4")
    assert ts4.anomalous_spans  # C1's anomalous windows are marked on its sensors
    acc = next(h for h in model.histories if h.component_id == "ACC")
    assert acc.n_windows == 105 + 120  # earlier diagnoses + this one's windows
    assert acc.health[0] > acc.health[-1]  # the history shows the decline
