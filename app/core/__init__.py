"""Qt-free logic behind the desktop app: workspace queries, the live session, markers, settings, units.

Everything here runs without an event loop and is tested without one; the widgets in
:mod:`app.gui` only start it and show its results (an import-linter contract keeps Qt out).
"""
