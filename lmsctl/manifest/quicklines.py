"""The regular expressions behind :mod:`lmsctl.manifest.quickyaml`: the usual lines of a
manifest, read one (or two) per match, and runs of entries written alike (a block of grades),
read many per match. What they do not match, the reader reads its slower way, or leaves to
the loader.
"""

from __future__ import annotations

import functools
import re

#: A plain key with at most one ':' (``sis:603``), shorter than libyaml's limit on keys
#: (possessive: a shorter key never fits), and a plain value with no ':' or '#' in it.
BLOCK_KEY = r"[0-9A-Za-z_][^ #:\n]{0,500}+(?::[^ #:\n]{1,400}+)?+"
BLOCK_VALUE = r"[0-9A-Za-z_](?:[^:#\n]*[^:#\n ])?"
#: The flow mapping of a grade line, ``{field: value, flags: [a, b]}``, written the usual way
#: (one space after each ':' and ',', none inside the braces and brackets), with plain keys
#: and values (no ':', '#', '?', quotes or brackets in them; no space at either end). Its
#: layout being fixed, every position in it follows from the lengths of its keys and values.
_FLOW_KEY = r"[0-9A-Za-z_][^\s,:\[\]{}#?'\"]{0,900}+"
_FLOW_PLAIN = r"[0-9A-Za-z_](?:[^,:\[\]{}#?\n]*[^,:\[\]{}#? \n])?"
_FLOW_VALUE = rf"(?:{_FLOW_PLAIN}|\[(?:{_FLOW_PLAIN}(?:, {_FLOW_PLAIN})*)?\])"
_FLOW_PAIR_TEXT = rf"{_FLOW_KEY}: {_FLOW_VALUE}"
_FLOW_MAPPING = rf"\{{(?:{_FLOW_PAIR_TEXT}(?:, {_FLOW_PAIR_TEXT})*)?\}}"
#: One line of a file per match (two for a key alone followed by a deeper ``key: value``, the
#: usual grade in block style). A usual line's groups: 1, 2 its indent and key, then
#:
#: - 3-5: for the deeper ``key: value`` that follows ``key:``: its extra indent, key, value;
#: - 6: for ``key: {...}``, the flow mapping (braces included), read by FLOW_PAIR;
#: - 7: for ``key: value``, the value (none of 3-7 for ``key:`` alone);
#:
#: and group 8 is any other line, read by the reader's general path. (Runs of spaces are
#: possessive: keys and values start and end otherwise.)
LINES = re.compile(
    rf"( *+)({BLOCK_KEY}):(?: *+\n\1( ++)({BLOCK_KEY}): ++({BLOCK_VALUE})"
    rf"| ++({_FLOW_MAPPING})| *+| ++({BLOCK_VALUE})) *+(?:\n|\Z)"
    r"|([^\n]*+)(?:\n|\Z)"
)
#: one ``key: value`` of such a mapping: (key, plain value or '', the list's items or '')
FLOW_PAIR = re.compile(
    rf"({_FLOW_KEY}): (?:({_FLOW_PLAIN})|\[((?:{_FLOW_PLAIN}(?:, {_FLOW_PLAIN})*)?)\])"
)


#: The start of a run of entries (read by lmsctl.manifest.quickyaml's ``_Reader._run``): the
#: indents of its first two lines.
RUN_HEAD = re.compile(r"( ++)[^ \n][^\n]*+\n( ++)")


@functools.cache
def run_pattern(indent: int, inner: int) -> re.Pattern[str]:
    """A run of entries with keys indented by ``indent`` and their one ``name: value`` by
    ``inner``, the value one space after the ':' (without groups: only its end is needed).
    An entry followed by a line indented deeper than its key is not one (it has more)."""
    entry = (
        rf" {{{indent}}}(?:{BLOCK_KEY}): *+\n {{{inner}}}(?:{BLOCK_KEY}): (?:{BLOCK_VALUE}) *+"
        rf"(?:\n|\Z)(?! {{{indent + 1}}})"
    )
    return re.compile(f"(?:{entry})+")
