"""ANSI colour for the text renderers: a tiny, pure helper (no terminal detection here).

Whether to colour is the caller's decision (the CLI checks for a terminal, ``--no-color`` and
``NO_COLOR``); these functions only wrap text in SGR codes when asked to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RESET = "\x1b[0m"

#: Characters never printed as they are: C0 controls but newline and tab (ESC, CR, BEL...), DEL,
#: C1 controls (U+0080-U+009F: U+009B is a one-byte CSI to many terminals), the bidirectional
#: controls (U+061C, U+200E/U+200F, U+202A-U+202E, U+2066-U+2069: the "Trojan Source" trick that
#: visually reorders a line a reviewer reads), the line and paragraph separators, and the
#: invisible U+200B and U+FEFF. The rule: text that came from a manifest, the LMS or the roster
#: is shown with each such character as a visible ``\uXXXX`` escape, in every renderer.
UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)


def escape_controls(text: str) -> str:
    """``text`` with every :data:`UNSAFE_CHARS` character written as ``\\uXXXX``.

    Newlines and tabs are kept (the caller decides about line structure). The result holds no
    unsafe character, so escaping twice changes nothing; backslashes already in the text are
    left alone (the escape is for reading, not for parsing back).
    """
    if not UNSAFE_CHARS.search(text):
        return text
    return UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}

#: colour of each plan symbol
SYMBOL_COLORS = {
    "+": "green",
    "~": "yellow",
    "-": "red",
    ">": "cyan",
    "!": "red",
    "?": "magenta",
}


@dataclass(frozen=True)
class Style:
    """Wraps text in ANSI codes when ``color`` is true; its control characters are escaped
    either way (:func:`escape_controls`), so only lmsctl's own codes reach the terminal."""

    color: bool = False

    def __call__(self, text: str, *styles: str) -> str:
        text = escape_controls(text)
        if not self.color or not styles or not text:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}{RESET}"

    def symbol(self, symbol: str) -> str:
        """A plan symbol (``+ ~ - > ! ?``) in its colour, bold."""
        return self(symbol, "bold", SYMBOL_COLORS.get(symbol, "bold"))
