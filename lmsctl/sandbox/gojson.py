"""Parse request bodies the way Clever's Go backend does, down to its error messages.

``parse(text)`` returns the decoded JSON value or raises :class:`GoJsonError` whose message is
the one Go's ``encoding/json`` gives for the first syntax error, e.g. ``invalid character ','
looking for beginning of value`` or ``invalid character ':' after object key:value pair``.
"""

from __future__ import annotations

import json
from typing import Any

_WS = " \t\r\n"


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


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

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
            self.i += 1
            self.object()
        elif c == "[":
            self.i += 1
            self.array()
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
                    for _ in range(4):
                        if self.peek() == "" or self.peek() not in "0123456789abcdefABCDEF":
                            raise self.error("in \\u hexadecimal character escape")
                        self.i += 1
                else:
                    raise self.error("in string escape code")
                continue
            self.i += 1

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
    return json.loads(text)
