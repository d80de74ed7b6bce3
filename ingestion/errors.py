"""The one base class for errors a user should see as a sentence, not a traceback."""

from __future__ import annotations


class HydroDiagError(Exception):
    """An error caused by input or environment, with a message that says what and what to do.

    The CLI prints it and exits with status 1; the GUI shows it in a dialog. Anything that is
    not a HydroDiagError is a bug and keeps its traceback.
    """
