"""The app's error sentences carry the app's words, not the command line's flags."""

from __future__ import annotations

from app.core.gui_words import for_gui
from gnn.registry import NO_MODEL_HINT


def test_no_model_points_at_the_retraining_tab_not_at_commands() -> None:
    message = (
        "no model fits equipment 'press-7' (profile 'example-press'): none is activated for it. "
        f"To diagnose it, {NO_MODEL_HINT.format(equipment='press-7')}."
    )
    shown = for_gui(message)
    assert shown.startswith("no model fits equipment 'press-7' (profile 'example-press')")
    assert "Retraining tab" in shown and "no labels needed" in shown
    assert "hydrodiag" not in shown and "--" not in shown and "`" not in shown


def test_flags_become_controls() -> None:
    shown = for_gui("time stamps have no zone and were taken as UTC (give --tz if they are local)")
    assert shown.endswith("(set “Time zone of the log” if they are local)")
    assert "--" not in for_gui("bad value (--skip-rows)")
