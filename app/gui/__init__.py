"""The desktop app: a thin PySide6/pyqtgraph skin over Qt-free ingestion and diagnosis functions."""
