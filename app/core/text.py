"""User text made safe to print in a report (or any document a customer reads).

:func:`printable_text` removes what would change how the text around it is shown — the
Unicode bidirectional controls (an U+202E RIGHT-TO-LEFT OVERRIDE turns "pump ok" into "ko pmup"
and can hide or reorder words of a verdict) and other invisible control characters — and
replaces what the document's font cannot draw (emoji print as empty boxes) by its name, so
that nothing the user typed silently disappears: "ACME 🔧" becomes "ACME [wrench]".
Qt-free: the report passes its font's glyph test as ``renders``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Final

# Embeddings, overrides, isolates and marks: they reorder the text around them when printed.
BIDI_CONTROLS: Final = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
)
# Joiners, variation selectors and skin-tone modifiers only shape the emoji next to them.
_EMOJI_PARTS: Final = frozenset([0x200D, 0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)])
_KEEP_CONTROLS: Final = frozenset("\n\t")


def is_emoji(char: str) -> bool:
    """Pictographs and symbols that text fonts do not carry (emoji, dingbats, flags)."""
    code = ord(char)
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x2600 <= code <= 0x27BF
        or 0x1F1E6 <= code <= 0x1F1FF
        or 0x2B00 <= code <= 0x2BFF
        or code in (0x2300, 0x231A, 0x231B, 0x23E9, 0x23F0, 0x23F3, 0x24C2, 0x3030, 0x303D)
    )


def printable_text(text: str, *, renders: Callable[[str], bool] | None = None) -> str:
    """``text`` without bidi and control characters, with every character the font cannot
    draw written as ``[its name]``.

    Args:
        text: what the user typed (customer, site, inspector, notes, equipment names).
        renders: whether the document's font has a glyph for a character (Qt:
            ``QFontMetricsF(font).inFontUcs4(ord(ch))``). Without it, emoji are taken as
            not drawable and everything else as drawable.
    """
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        code = ord(char)
        if code in BIDI_CONTROLS or code in _EMOJI_PARTS:
            continue
        category = unicodedata.category(char)
        if category == "Cc" and char not in _KEEP_CONTROLS:
            continue
        if category in {"Cf", "Cs", "Co", "Cn"}:  # invisible format, surrogates, unassigned
            continue
        drawable = renders(char) if renders is not None else not is_emoji(char)
        if char.isspace() or drawable:
            out.append(char)
        else:
            name = unicodedata.name(char, f"U+{code:04X}").lower()
            out.append(f"[{name}]")
    return "".join(out)
