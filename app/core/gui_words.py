"""Error sentences worded for someone at the app, not at a terminal.

The import and diagnosis code words its errors for ``hydrodiag`` on the command line ("give
--tz", "--map COLUMN=SENSOR:UNIT", "(--model)"). The app shows the same sentences with each
flag replaced by the control that does the same thing in the app. Qt-free.
"""

from __future__ import annotations

import re
from typing import Final

# (pattern, replacement), applied in order; the specific phrases first, then what is left.
_REWRITES: Final[tuple[tuple[str, str], ...]] = (
    (r"\(give --tz if they are local\)", "(set “Time zone of the log” if they are local)"),
    (r"--tz (\S+) is not applied", r"the time zone \1 you set is not applied"),
    (r"--tz ('[^']*'|\S+) is not a time zone name", r"\1 is not a time zone name"),
    (r"\(--tz\)", "(“Time zone of the log”)"),
    (
        r"Say which one with --map COLUMN=SENSOR and leave the other out with --skip COLUMN\.",
        "Choose the sensor for one of them in the column → sensor table and set the other to (skip).",
    ),
    (
        r"Map them with --map '(?:COLUMN|NAME)=SENSOR\[:UNIT\]', leave them out with --skip COLUMN, "
        r"or import only the matched columns with --ignore-unknown\.",
        "Choose their sensors in the column → sensor table, or leave them at (skip).",
    ),
    (
        r"Map them with --map 'NAME=SENSOR\[:UNIT\]' or drop them with --ignore-unknown\.",
        "Choose their sensors in the sensor table, or leave them at (skip).",
    ),
    (
        r"Map columns with --map '(?:COLUMN|NAME)=SENSOR\[:UNIT\]'\.",
        "Choose the sensor of at least one column in the column → sensor table.",
    ),
    (r"--map '?(?:COLUMN|NAME)=SENSOR(?:\[:UNIT\])?'?", "the column → sensor table"),
    (r"give --encoding latin-1[^.;]*", "save the file as UTF-8 text (or tell us its encoding)"),
    (
        r"give --time-format(?: \(e\.g\. [^)]*\))?(?:, e\.g\. [^.]*)?",
        "save the time column in an ISO 8601 format (2026-11-30 08:00:00)",
    ),
    (
        r"Name it with --time-column \(and --time-format if its format is unusual\)\.",
        "Give the time column a header such as “time” or “timestamp”.",
    ),
    (r"Give it with --delimiter\.", "Save it with commas, semicolons or tabs between the values."),
    (
        r"Use --force to replace it\.",
        "Delete the earlier import (Edit → Delete) to import the file again.",
    ),
    (
        r" Choose a model trained for '([^']*)' \(--model\) or train one\.",
        r" No installed model fits profile '\1' yet; a model trained for it is needed.",
    ),
    (
        r"; train and export one \(`hydrodiag train`, `hydrodiag export-onnx`\) or pass --model PATH\.",
        "; this installation has no diagnosis model. Reinstall HydroDiag or ask for a model file.",
    ),
    (r"\(`hydrodiag ingest [^`]*`\)", "(File → Import log…)"),
    (
        r"say which machine it is with --profile \(see `hydrodiag profile list`\)",
        "choose its profile under Equipment",
    ),
    (
        r"Leave out --profile, or import into a new equipment id\.",
        "Pick the existing equipment, or import into a new equipment id.",
    ),
    (r" \(--dry-run shows them\)", ""),
    (
        r"To diagnose it, learn its normal .*$",
        "To diagnose it, learn its normal from a stretch of its data known to be normal "
        "(Retraining tab, “Learn normal”: no labels needed), or train one on its labelled data "
        "there.",
    ),
)
_LEFTOVER_FLAG: Final = re.compile(r"\s*\(?--[a-z][a-z-]*(?: [A-Z_]+)?\)?")


def for_gui(text: str) -> str:
    """``text`` with command-line flags replaced by the app's words for the same thing."""
    for pattern, replacement in _REWRITES:
        text = re.sub(pattern, replacement, text)
    return _LEFTOVER_FLAG.sub("", text)
