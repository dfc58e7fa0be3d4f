"""JSON read as the standard library reads it, faster: msgspec first, the standard library for
what msgspec refuses.

msgspec's decoder accepts strict JSON only (UTF-8, no NaN or Infinity, no lone surrogates), and
for that JSON gives what ``json.loads`` gives: the same values (integers of any size exact, the
last of a repeated key). Anything else, including every input ``json.loads`` rejects, goes to
``json.loads``, so what is accepted and the error of what is not (``json.JSONDecodeError`` or
``UnicodeDecodeError``, with its position) stay the standard library's.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

#: msgspec's untyped decoder: dicts, lists, str, int, float, bool and None, as json.loads makes
_DECODER = msgspec.json.Decoder()


def loads(content: bytes | str) -> Any:
    """``json.loads(content)``'s result (see the module's docstring)."""
    try:
        return _DECODER.decode(content)
    except msgspec.DecodeError:
        return json.loads(content)
