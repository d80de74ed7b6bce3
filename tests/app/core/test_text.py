"""Report text: bidi controls neutralised, emoji written by name, everything else kept."""

from __future__ import annotations

import pytest

from app.core.text import printable_text


def test_right_to_left_override_cannot_reorder_a_verdict() -> None:
    typed = "Customer \u202eko pmup\u202c ACME \u2066x\u2069 \u200fy"
    assert printable_text(typed) == "Customer ko pmup ACME x y"


def test_emoji_are_written_by_name_not_dropped() -> None:
    assert (
        printable_text("ACME 🔧 Hydraulik ✅") == "ACME [wrench] Hydraulik [white heavy check mark]"
    )
    # joiners, skin tones and variation selectors belong to the emoji they shape
    assert printable_text("👷🏽\u200d♂️ site") == "[construction worker][male sign] site"


@pytest.mark.parametrize(
    "text",
    [
        "Müller & Söhne GmbH",
        "Ölkühler 80 °C, 5 µm",
        "Ñandú — «quoted»",
        "line 1\nline 2\tx",
        "<b>no markup</b>",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert printable_text(text) == text


def test_controls_are_removed_and_the_font_decides_what_is_drawable() -> None:
    assert printable_text("a\x00b\x07c\x1b[31md") == "abc[31md"
    assert printable_text("漢字 ok", renders=lambda ch: ord(ch) < 0x3000) == (
        "[cjk unified ideograph-6f22][cjk unified ideograph-5b57] ok"
    )
