"""Every string a user supplied, made printable in the report's font before it is laid out.

Equipment names, the visit's fields (customer, site, inspector, notes), the profile's own
words (its name, kind, component names and descriptions, sensor descriptions) and so the
title, header and footer built from them, go through :func:`app.core.text.printable_text` with
the report font's glyph test: a bidi control cannot reorder a verdict, and a character the font
lacks prints as its name ("[wrench]") instead of an empty box.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QFontMetricsF

from app.core.text import printable_text
from app.report.layout import font
from app.report.model import ReportModel


def glyph_test(family: str) -> Callable[[str], bool]:
    """Whether the report font ``family`` itself has a glyph for a character."""
    metrics = QFontMetricsF(font(family, 9))
    return lambda ch: metrics.inFontUcs4(ord(ch))


def printable_model(model: ReportModel, family: str) -> ReportModel:
    """``model`` with every user-supplied string passed through :func:`printable_text`."""
    renders = glyph_test(family)

    def clean(text: str) -> str:
        return printable_text(text, renders=renders)

    fields = model.inspection.fields
    fields = fields.model_copy(
        update={
            "customer": clean(fields.customer),
            "site": clean(fields.site),
            "inspector": clean(fields.inspector),
            "notes": clean(fields.notes),
        }
    )
    profile = model.profile
    profile = profile.model_copy(
        update={
            "name": clean(profile.name),
            "kind": clean(profile.kind),
            "description": clean(profile.description),
            "components": tuple(
                c.model_copy(update={"name": clean(c.name), "description": clean(c.description)})
                for c in profile.components
            ),
            "sensors": tuple(
                s.model_copy(update={"description": clean(s.description)}) for s in profile.sensors
            ),
        }
    )
    return model.model_copy(
        update={
            "equipment_name": clean(model.equipment_name),
            "inspection": model.inspection.model_copy(update={"fields": fields}),
            "profile": profile,
            "sensors": tuple(
                s.model_copy(update={"description": clean(s.description)}) for s in model.sensors
            ),
        }
    )
