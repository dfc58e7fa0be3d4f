"""ANSI colour for the text renderers: a tiny, pure helper (no terminal detection here).

Whether to colour is the caller's decision (the CLI checks for a terminal, ``--no-color`` and
``NO_COLOR``); these functions only wrap text in SGR codes when asked to.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmsctl.safetext import escape_controls

RESET = "\x1b[0m"

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
