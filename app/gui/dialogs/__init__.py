"""Dialogs: import, live connection, settings, about and the readable error dialog."""
