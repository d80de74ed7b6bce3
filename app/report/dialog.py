"""Where the main window looks for the Report dialog; the widget itself lives in the GUI package."""

from __future__ import annotations

from app.gui.report_dialog import ReportDialog

__all__ = ["ReportDialog"]
