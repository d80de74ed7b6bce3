"""Widgets named for what they show; each module runs alone with sample data (``python -m``)."""
