"""PDF reports: built from a real workspace, written through QPdfWriter, read back with pypdf."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.core.presentation import STATUS_STYLES
from app.core.sample import SAMPLE_EQUIPMENT as EQUIPMENT_ID
from app.core.sample import SampleWorkspace
from app.report.builder import ReportError, build_report_model, load_diagnosis, save_inspection
from app.report.layout import render_images
from app.report.model import (
    ALL_SECTIONS,
    SECTION_TITLES,
    InspectionFields,
    Paper,
    Section,
    SourceInfo,
)
from app.report.render import layout_report, render_pdf
from app.report.wording import threshold_text
from gnn.recommend import shown_confidence
from gnn.results import Diagnosis, Status
from gnn.wording import health_text
from ingestion.workspace import Store, open_workspace

MARKUP = '<img src="file:///etc/passwd"><b>ACME</b> & <script>alert(1)</script> "Söhne"'
REPO = Path(__file__).resolve().parents[3]


def _copy(sample_template: SampleWorkspace, path: Path) -> Path:
    shutil.copyfile(sample_template.path, path)
    return path


@pytest.fixture
def sample(sample_template: SampleWorkspace, tmp_path: Path) -> Iterator[tuple[Store, int]]:
    """A copy of the sample workspace and the id of its latest diagnosis."""
    store = open_workspace(_copy(sample_template, tmp_path / "ws.duckdb"))
    assert sample_template.diagnosis.id is not None
    yield store, sample_template.diagnosis.id
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
    assert f"Overall health {health_text(d.overall_health)}" in text
    assert d.verdict in text
    for comp in d.components:
        assert comp.component_id in text
        if comp.health is not None:
            assert health_text(comp.health) in text
        shown = shown_confidence(comp)  # a grade range's probability where there is one
        if shown is not None:
            assert f"{shown:.0%}" in text
        if comp.anomaly is not None:
            assert f"{comp.anomaly.score:.2f}" in text
    for comp in d.components:
        if comp.assessed:  # e.g. "below critical now", "not reached at the measured rate"
            assert threshold_text(comp) in text
    for rec in d.recommendations:
        assert rec.title in text
        assert rec.action in text
        assert rec.due_date.strftime("%Y-%m-%d") in text
    for finding in d.findings:
        assert finding.summary in text
    violation = d.component("MP1").limit_violations[0]
    assert f"{violation.worst_value:g} {violation.unit}" in text  # the worst value
    for name in ("ACME Hydraulics", "Hall 3", "J. Doe", d.provider, d.model.model_id):
        assert name in text
    source = model.sources[0]
    assert source.uri in text.replace(" ", "")
    assert source.sha256 is None and "— (live feed)" in text  # simulated: no file to hash
    # Recommendations are ordered by priority: urgent before low.
    assert text.index(d.recommendations[0].title) < text.index(d.recommendations[-1].title)


def test_appendix_gives_each_file_source_its_full_sha256(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    simulated = model.sources[0]
    logger = simulated.model_copy(
        update={
            "id": simulated.id + 1,
            "kind": "csv",
            "uri": "/data/rig/hall3/logger-2026-11-30.csv",
            "sha256": hashlib.sha256(b"a logger export").hexdigest(),
        }
    )
    sources: tuple[SourceInfo, ...] = (simulated, logger)
    result = render_pdf(model.model_copy(update={"sources": sources}), tmp_path / "r.pdf")
    text = _flat(_text(result.path)[1]).replace(" ", "")
    assert logger.sha256 is not None and logger.sha256 in text
    assert logger.uri in text and simulated.uri in text


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
    assert f"Overall health 95 % — {STATUS_STYLES[Status.HEALTHY].label}" in text


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


def test_missing_things_are_clear_errors(
    sample: tuple[Store, int], sample_template: SampleWorkspace
) -> None:
    store, _ = sample
    with pytest.raises(ReportError, match=rf"no equipment 'press'.*known: {EQUIPMENT_ID}"):
        build_report_model(store, "press")
    ids = ", ".join(str(d.id) for d in sample_template.diagnoses)  # "1, 2, …, 8"
    with pytest.raises(ReportError, match=rf"has no diagnosis 99 .*its diagnoses: {ids}\)"):
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


def test_every_page_renders_to_png(qapp: object, sample: tuple[Store, int], tmp_path: Path) -> None:
    """The written file, not Qt's picture of it, read by another engine (PDFium, as a browser
    would): every page renders and is not blank."""
    import pypdfium2

    store, diagnosis_id = sample
    result = render_pdf(build_report_model(store, EQUIPMENT_ID, diagnosis_id), tmp_path / "r.pdf")
    pdf = pypdfium2.PdfDocument(result.path)
    assert len(pdf) == result.pages
    for index in range(len(pdf)):
        pixels = pdf[index].render(scale=30 / 72, grayscale=True).to_numpy()
        assert int((pixels < 200).sum()) > 50, f"page {index + 1} is blank"  # ink, not white
    pdf.close()


def test_cli_writes_report_and_stores_inspection(
    sample_template: SampleWorkspace, tmp_path: Path
) -> None:
    workspace = _copy(sample_template, tmp_path / "ws.duckdb")
    out = tmp_path / "cli.pdf"
    code = (
        "import sys; from app.cli import main; "
        f"rc = main(['--workspace', {str(workspace)!r}, 'report', '--equipment', {EQUIPMENT_ID!r}, "
        f"'--latest', '--out', {str(out)!r}, '--paper', 'letter', '--customer', {MARKUP!r}, "
        "'--inspector', 'Ann']); "
        "print('torch loaded' if 'torch' in sys.modules else 'torch-free'); sys.exit(rc)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "torch-free" in run.stdout
    latest = sample_template.diagnosis.id
    wrote = rf"wrote .*cli\.pdf — diagnosis #{latest} of {EQUIPMENT_ID}, \d+ pages, LETTER"
    assert re.search(wrote, run.stdout)
    assert PdfReader(str(out)).pages[0].mediabox.width == 612
    with open_workspace(workspace, read_only=True) as check:
        assert check.query("SELECT customer, inspector FROM inspections") == [(MARKUP, "Ann")]


def test_cli_errors(
    sample_template: SampleWorkspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    workspace = _copy(sample_template, tmp_path / "ws.duckdb")
    rc = main(
        ["--workspace", str(workspace), "report", "--equipment", EQUIPMENT_ID, "--diagnosis", "99",
         "--out", str(tmp_path / "x.pdf")]
    )  # fmt: skip
    assert rc == 1
    assert "has no diagnosis 99" in capsys.readouterr().err
    rc = main(
        ["--workspace", str(workspace), "report", "--equipment", EQUIPMENT_ID,
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
    rec_pages = [p for p in pages if any(f"{r.title} (item" in p for r in d.recommendations)]
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
    assert f"0 of {d.n_windows} windows valid" in text
    assert text.count("? NO DATA") >= 4


def test_sensor_choice_and_buckets(sample: tuple[Store, int]) -> None:
    store, diagnosis_id = sample
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    d = model.diagnosis
    pump = d.component("MP1")  # warning, anomalous through VS1, VS1 over its warning limit
    assert pump.anomaly is not None and pump.anomaly.is_anomalous
    violation = pump.limit_violations[0]
    second = pump.anomaly.top_sensors[1]
    chosen = [(s.sensor_id, s.reason) for s in model.sensors]
    # Limit violations first, then the other top contributors of anomalous components, then a
    # sensor of each component that is not healthy (the accumulator has none), then key signals
    # up to four: the first pressure sensor is taken, so electrical power.
    assert chosen == [
        ("VS1", "limit violation (warning high 4.5 mm/s)"),
        (second.sensor_id, f"{second.contribution:.0%} of the MP1 anomaly"),
        (model.profile.sensors_of("MP1")[0].id, "on MP1 (warning)"),
        ("EPS1", "key signal"),
    ]
    vs1 = model.sensors[0]
    assert vs1.n_samples == d.n_windows * 60  # every 1 Hz sample of the half hour, none lost
    # Buckets are whole 60 s cycles, one per window, each min <= mean <= max.
    assert len(vs1.t) == d.n_windows
    assert all(b - a == pytest.approx(60.0) for a, b in zip(vs1.t, vs1.t[1:], strict=False))
    assert all(lo <= m <= hi for lo, m, hi in zip(vs1.lo, vs1.mean, vs1.hi, strict=True))
    assert max(vs1.hi) == pytest.approx(violation.worst_value, rel=1e-6)  # the spike survives
    assert vs1.violations == (violation,)
    assert vs1.anomalous_spans  # MP1's anomalous windows are marked on its sensors


def test_health_history_is_the_stored_one_latest_diagnosis_wins(
    sample: tuple[Store, int], sample_template: SampleWorkspace
) -> None:
    from gnn.engine import Selection, diagnose

    store, diagnosis_id = sample

    def graded(diagnoses: Iterable[Diagnosis]) -> int:
        return len({w.start for d in diagnoses for w in d.windows if "ACC" in w.health})

    acc = next(
        h for h in build_report_model(store, EQUIPMENT_ID, diagnosis_id).histories
        if h.component_id == "ACC"
    )  # fmt: skip
    assert acc.n_windows == graded(sample_template.diagnoses)  # every diagnosis' windows
    assert acc.health[0] > acc.health[-1]  # the history shows the decline
    # The last hour once more: the same windows again, counted once.
    again = diagnose(
        store, EQUIPMENT_ID, selection=Selection(start=sample_template.end - timedelta(hours=1))
    )
    acc_again = next(
        h for h in build_report_model(store, EQUIPMENT_ID, again.id).histories
        if h.component_id == "ACC"
    )  # fmt: skip
    assert acc_again.n_windows == acc.n_windows
    # An earlier diagnosis' report (the accumulator still in warning) shows the history as it
    # was then.
    earlier = next(
        d for d in sample_template.diagnoses if d.component("ACC").status == Status.WARNING
    )
    assert earlier.id is not None
    before = build_report_model(store, EQUIPMENT_ID, earlier.id).histories
    upto = [d for d in sample_template.diagnoses if d.window_end <= earlier.window_end]
    assert next(h for h in before if h.component_id == "ACC").n_windows == graded(upto)
    assert len(upto) < len(sample_template.diagnoses)


def test_characters_the_font_lacks_print_as_their_names_not_boxes(
    qapp: object, sample: tuple[Store, int], tmp_path: Path
) -> None:
    """User text goes through app.core.text.printable_text with the report font's glyph test:
    a wrench the font has no glyph for prints as "[wrench]", a right-to-left override cannot
    reorder a word, in the body, the header and the footer alike."""
    import unicodedata

    from app.report.layout import font_family
    from app.report.printable import glyph_test

    store, diagnosis_id = sample
    renders = glyph_test(font_family())
    lacking = next(ch for ch in ("\U0001f527", "\u6f22", "\U0001f6e0") if not renders(ch))
    name = f"[{unicodedata.name(lacking).lower()}]"
    fields = InspectionFields(
        customer=f"ACME {lacking} Ölwerk",
        site="Hall \u202e2 llaH",
        inspector="Jörg",
        notes=f"seal kit {lacking} ordered",
    )
    save_inspection(store, EQUIPMENT_ID, diagnosis_id, fields)
    model = build_report_model(store, EQUIPMENT_ID, diagnosis_id)
    model = model.model_copy(update={"equipment_name": f"Press {lacking} 7"})
    result = render_pdf(model, tmp_path / "glyphs.pdf")
    _, pages = _text(result.path)
    text = _flat(pages)
    assert lacking not in text
    assert f"ACME {name} Ölwerk" in text and f"seal kit {name} ordered" in text
    assert f"Press {name} 7" in text  # the title and every page's header
    assert "\u202e" not in text and "Hall 2 llaH" in text
    assert all(f"Press {name} 7" in page for page in pages[1:]), "the running header"
