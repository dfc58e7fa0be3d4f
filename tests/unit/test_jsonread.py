"""lmsctl's fast JSON reading gives what the standard library gives, and fails as it fails."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from lmsctl import jsonread

CASES = [
    b'{"a": 1, "b": [true, false, null], "c": "\\u00e9\\n", "d": -0.0, "e": 1e400}',
    b'{"a": 1, "a": 2}',
    b'{"big": 1180591620717411303424, "neg": -1180591620717411303424}',
    b"[NaN, Infinity, -Infinity]",
    b'"\\ud800"',
    '"x"'.encode("utf-16"),
    b'\xef\xbb\xbf{"a": 1}',
    b'"caf\xc3\xa9"',
    b'"caf\xe9"',
    b'{"a": 1}x',
    b"[1,]",
    b'"a\x01b"',
    b"",
    b"  ",
    b"01",
    b'{"a":',
]


def _outcome(read: Callable[[bytes], Any], raw: bytes) -> object:
    try:
        value = read(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return (type(exc), str(exc))
    return ("value", repr(value), [type(v) for v in value] if isinstance(value, list) else None)


@pytest.mark.parametrize("raw", CASES)
def test_a_body_reads_as_the_standard_library_reads_it(raw: bytes) -> None:
    assert _outcome(jsonread.loads, raw) == _outcome(json.loads, raw)


def test_random_documents_read_as_the_standard_library_reads_them() -> None:
    rng = random.Random(11)
    leaves: list[object] = [0, -7, 2**64 + 1, 1.5, -0.0, math.inf, "é", "\x7f", None, True, ""]

    def value(depth: int) -> object:
        pick = rng.random()
        if depth > 2 or pick < 0.5:
            return rng.choice(leaves)
        if pick < 0.75:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice("abc"): value(depth + 1) for _ in range(rng.randint(0, 3))}

    for _ in range(500):
        raw = json.dumps(value(0), ensure_ascii=rng.random() < 0.5).encode()
        assert _outcome(jsonread.loads, raw) == _outcome(json.loads, raw), raw
