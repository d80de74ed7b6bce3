"""PDF diagnosis reports: a Qt-free report model built from the workspace, rendered with Qt's PDF path.

:func:`app.report.builder.build_report_model` gathers everything a report shows (diagnosis,
profile, inspection, sources, health histories, downsampled sensor series) from the store;
:func:`app.report.render.render_pdf` lays it out and writes the PDF. Neither imports torch.
"""
