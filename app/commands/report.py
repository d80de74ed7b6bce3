"""`hydrodiag report`: write the PDF diagnosis report of one diagnosis.

Qt is imported inside the handler (the PDF is written with Qt's own PDF engine); torch never.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    from app.report.model import InspectionFields
    from ingestion.workspace import Store


def _sections(value: str) -> list[str]:
    from app.report.model import Section

    names = [v.strip() for v in value.split(",") if v.strip()]
    known = {s.value for s in Section}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}"
        )
    return names


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.commands._common import open_store, workspace_path
    from app.report.builder import build_report_model, load_diagnosis, save_inspection
    from app.report.model import ALL_SECTIONS, InspectionFields, Paper

    _check_out(args.out)
    if not workspace_path(args).exists():
        raise HydroDiagError(
            f"{workspace_path(args)}: no workspace there. Import data first "
            "(`hydrodiag ingest ...`) or pass --workspace."
        )
    given = {
        k: getattr(args, k)
        for k in ("customer", "site", "inspector", "notes")
        if getattr(args, k) is not None
    }
    out: Path = args.out
    from app.report.render import render_pdf

    with open_store(args) as store:
        diagnosis, inspection_id = load_diagnosis(store, args.equipment, args.diagnosis)
        assert diagnosis.id is not None
        fields: InspectionFields | None = None
        if given:
            # Merge with what the visit already has: a report run that names only the
            # inspector must not wipe the customer typed earlier.
            current = build_inspection_fields(store, inspection_id)
            try:
                fields = InspectionFields.model_validate({**current.model_dump(), **given})
            except ValidationError as exc:
                problems = "; ".join(
                    f"--{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                )
                raise HydroDiagError(f"{problems}. Shorten the text and run again.") from None
        model = build_report_model(store, args.equipment, diagnosis.id, fields)
        # The report first, the visit's fields after it: a report that cannot be written
        # (a full disk, a file another program holds) leaves the workspace as it was.
        result = render_pdf(model, out, Paper(args.paper), args.sections or ALL_SECTIONS)
        if fields is not None:
            save_inspection(store, args.equipment, diagnosis.id, fields)
    print(
        f"wrote {result.path} — diagnosis #{diagnosis.id} of {args.equipment}, "
        f"{result.pages} pages, {result.paper.value.upper()}, {result.seconds:.2f} s"
    )
    return 0


def _check_out(out: Path) -> None:
    """Refuse, before anything is read or stored, a --out the report cannot be written to."""
    if out.is_dir():
        raise HydroDiagError(
            f"--out {out}: is a folder; give a file name such as {out / 'report.pdf'}."
        )
    if not out.parent.is_dir():
        raise HydroDiagError(
            f"--out {out}: the folder {out.parent} does not exist. Create it or pick another --out."
        )
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise HydroDiagError(
            f"--out {out}: the folder {out.parent} is read-only for you; pick another --out."
        )
    if out.exists() and not os.access(out, os.W_OK):
        raise HydroDiagError(f"--out {out}: the file exists and is read-only; pick another --out.")


def build_inspection_fields(store: Store, inspection_id: int | None) -> InspectionFields:
    """The visit fields stored for ``inspection_id`` (empty when there is none)."""
    from app.report.model import InspectionFields

    if inspection_id is None:
        return InspectionFields()
    rows = store.query(
        "SELECT customer, site, inspector, notes FROM inspections WHERE id = ?", [inspection_id]
    )
    if not rows:
        return InspectionFields()
    customer, site, inspector, notes = rows[0]
    return InspectionFields(customer=customer, site=site, inspector=inspector, notes=notes)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the PDF diagnosis report of a diagnosis",
        description=(
            "Write the PDF report of one diagnosis (the latest by default). Customer, site, "
            "inspector and notes are stored with the diagnosis' inspection."
        ),
    )
    parser.add_argument("--equipment", required=True, help="equipment id")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--diagnosis", type=int, default=None, help="diagnosis id")
    which.add_argument(
        "--latest", action="store_true", help="the latest diagnosis of the equipment (default)"
    )
    parser.add_argument("--out", type=Path, required=True, help="PDF file to write")
    parser.add_argument("--paper", choices=("a4", "letter"), default="a4", help="default: a4")
    parser.add_argument(
        "--sections",
        type=_sections,
        default=None,
        help="comma-separated: summary,graph,trends,sensors,findings,recommendations,appendix "
        "(default: all; the cover is always there)",
    )
    stored = "stored with the inspection; omitted = keep the stored value"
    parser.add_argument("--customer", default=None, help=f"customer name ({stored})")
    parser.add_argument("--site", default=None, help=f"site / machine location ({stored})")
    parser.add_argument("--inspector", default=None, help=f"who inspected ({stored})")
    parser.add_argument("--notes", default=None, help=f"free text for the report ({stored})")
    parser.set_defaults(handler=_run)
