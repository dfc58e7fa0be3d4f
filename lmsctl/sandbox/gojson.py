"""Parse request bodies the way Clever's Go backend does, down to its error messages.

``parse(text)`` returns the decoded JSON value or raises :class:`GoJsonError` whose message is
the one Go's ``encoding/json`` gives for the first syntax error, e.g. ``invalid character ','
looking for beginning of value`` or ``invalid character ':' after object key:value pair``.
"""

from __future__ import annotations

import json
from typing import Any

_WS = " \t\r\n"
#: deeper nesting is refused (Go's decoder allows 10000; no real request nests beyond 3, and
#: Python's recursion limit must never be reached by a request)
MAX_DEPTH = 200


class GoJsonError(ValueError):
    """The body is not JSON; the message is Go's."""


def _quote_char(c: str) -> str:
    """Go's quoteChar: a character in single quotes, escaped like strconv.Quote."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    quoted = json.dumps(c) if (c < " " or c == "\\") else '"' + c + '"'
    if c == "\t":
        quoted = '"\\t"'
    return "'" + quoted[1:-1] + "'"


class Number(float):
    """A JSON number with a fraction or an exponent, as decoded, with its literal text (Go's
    messages quote it, e.g. ``json: cannot unmarshal number 1e309 into ...``)."""

    literal: str

    def __new__(cls, text: str) -> Number:
        number = super().__new__(cls, float(text))
        number.literal = text
        return number


def _integer(text: str) -> int | Number:
    """An integer literal; a very long one becomes a Number (Python's int() refuses more than
    4300 digits; no field takes such a number, and the decoders then refuse it as Go does)."""
    return int(text) if len(text) <= 400 else Number(text)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.depth = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("exceeded max depth")

    def error(self, context: str) -> GoJsonError:
        if self.i >= len(self.s):
            return GoJsonError("unexpected end of JSON input")
        return GoJsonError(f"invalid character {_quote_char(self.s[self.i])} {context}")

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _WS:
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def value(self) -> None:
        self.skip_ws()
        c = self.peek()
        if c == "{":
            self.nest()
            self.i += 1
            self.object()
            self.depth -= 1
        elif c == "[":
            self.nest()
            self.i += 1
            self.array()
            self.depth -= 1
        elif c == '"':
            self.i += 1
            self.string()
        elif c == "-" or (c.isdigit() and c.isascii()):
            self.number()
        elif c in ("t", "f", "n"):
            self.literal({"t": "true", "f": "false", "n": "null"}[c])
        else:
            raise self.error("looking for beginning of value")

    def object(self) -> None:
        self.skip_ws()
        if self.peek() == "}":
            self.i += 1
            return
        while True:
            self.skip_ws()
            if self.peek() != '"':
                raise self.error("looking for beginning of object key string")
            self.i += 1
            self.string()
            self.skip_ws()
            if self.peek() != ":":
                raise self.error("after object key")
            self.i += 1
            self.value()
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == "}":
                self.i += 1
                return
            raise self.error("after object key:value pair")

    def array(self) -> None:
        self.skip_ws()
        if self.peek() == "]":
            self.i += 1
            return
        while True:
            self.value()
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == "]":
                self.i += 1
                return
            raise self.error("after array element")

    def string(self) -> None:
        while True:
            c = self.peek()
            if c == "":
                raise self.error("")
            if c == '"':
                self.i += 1
                return
            if c < " ":
                raise self.error("in string literal")
            if c == "\\":
                self.i += 1
                e = self.peek()
                if e in ('"', "\\", "/", "b", "f", "n", "r", "t"):
                    self.i += 1
                elif e == "u":
                    self.i += 1
                    unit = self.hex4()
                    if 0xDC00 <= unit <= 0xDFFF:
                        raise self.surrogate()
                    if 0xD800 <= unit <= 0xDBFF:
                        # a high surrogate must be followed by a low one (a valid pair)
                        if self.s[self.i : self.i + 2] != "\\u":
                            raise self.surrogate()
                        self.i += 2
                        if not 0xDC00 <= self.hex4() <= 0xDFFF:
                            raise self.surrogate()
                else:
                    raise self.error("in string escape code")
                continue
            self.i += 1

    def hex4(self) -> int:
        start = self.i
        for _ in range(4):
            if self.peek() == "" or self.peek() not in "0123456789abcdefABCDEF":
                raise self.error("in \\u hexadecimal character escape")
            self.i += 1
        return int(self.s[start : self.i], 16)

    def surrogate(self) -> GoJsonError:
        # Go would store U+FFFD silently; the sandbox refuses, so a client's bug shows up
        return GoJsonError("invalid character 'u' in string escape code (lone UTF-16 surrogate)")

    def digits(self, context: str, *, required: bool) -> None:
        start = self.i
        while self.peek() != "" and self.peek() in "0123456789":
            self.i += 1
        if required and self.i == start:
            raise self.error(context)

    def number(self) -> None:
        if self.peek() == "-":
            self.i += 1
            if not (self.peek() != "" and self.peek() in "0123456789"):
                raise self.error("in numeric literal")
        if self.peek() == "0":
            self.i += 1
        else:
            self.digits("in numeric literal", required=True)
        if self.peek() == ".":
            self.i += 1
            self.digits("after decimal point in numeric literal", required=True)
        if self.peek() in ("e", "E") and self.peek() != "":
            self.i += 1
            if self.peek() in ("+", "-") and self.peek() != "":
                self.i += 1
            self.digits("in exponent of numeric literal", required=True)

    def literal(self, word: str) -> None:
        for expected in word:
            if self.peek() != expected:
                raise self.error(f"in literal {word} (expecting {_quote_char(expected)})")
            self.i += 1


def parse(text: str) -> Any:
    """Decode one JSON value; GoJsonError with Go's message on the first syntax error."""
    scanner = _Scanner(text)
    scanner.value()
    scanner.skip_ws()
    if scanner.i < len(text):
        raise scanner.error("after top-level value")
    if any("\ud800" <= c <= "\udfff" for c in text):
        raise scanner.surrogate()  # a raw surrogate code point (only from a str, never UTF-8)
    return json.loads(text, parse_float=Number, parse_int=_integer)
