"""Text from manifests, the LMS or the roster, made safe to print (the lowest layer: errors
use it as much as every renderer)."""

from __future__ import annotations

import re

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
