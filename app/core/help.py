"""The user guide the app shows under Help (F1): the docs/ folder shipped with it. Qt-free.

In a checkout it is ``docs/``; installed from the wheel, the package ``hydrodiag_docs`` (the
same folder, see pyproject.toml); in the desktop bundle, ``docs/`` inside it.
"""

from __future__ import annotations

import importlib.resources
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DOCS_PACKAGE: Final = "hydrodiag_docs"
# The app's own page first, then the rest in the order a field engineer meets them.
ORDER: Final = ("gui", "ingestion", "diagnosis", "report", "live", "model")


@dataclass(frozen=True)
class HelpPage:
    path: Path
    title: str  # the page's first heading


def docs_dir() -> Path:
    """Where the guide's Markdown files are in this installation."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "docs"
    try:
        installed = Path(str(importlib.resources.files(DOCS_PACKAGE)))
    except (ModuleNotFoundError, NotADirectoryError):
        # NotADirectoryError: an editable install maps the package as a namespace whose path
        # holds the editable finder's hook, which importlib.resources cannot read
        installed = None
    if installed is not None and any(installed.glob("*.md")):
        return installed
    return Path(__file__).resolve().parents[2] / "docs"  # a checkout run uninstalled


def help_pages(folder: Path | None = None) -> list[HelpPage]:
    """The guide's pages, the app's own first; an empty list when none shipped."""
    folder = folder or docs_dir()
    pages = []
    for path in sorted(folder.glob("*.md")):
        first = next(
            (ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.startswith("# ")),
            f"# {path.stem}",
        )
        pages.append(HelpPage(path, first[2:].strip()))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(pages, key=lambda p: (rank.get(p.path.stem, len(rank)), p.path.stem))
