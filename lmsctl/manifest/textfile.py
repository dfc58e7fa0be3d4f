"""Read a manifest or gradebook as text, refusing what is not a plain UTF-8 text file.

A file is refused (with one diagnostic saying why) when it is not a regular file, is larger than
:data:`MAX_FILE_BYTES`, holds NUL bytes (binary), or is not valid UTF-8. A UTF-8 byte-order mark
is dropped.
"""

from __future__ import annotations

import stat
from pathlib import Path

from lmsctl.errors import Diagnostic
from lmsctl.model import SourcePos

#: Largest manifest file read, in bytes.
MAX_FILE_BYTES = 5 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"


class LoadFailure(Exception):
    """Internal: a file cannot be loaded; carries the diagnostics saying why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].message if diagnostics else "load failure")
        self.diagnostics = diagnostics


def _failure(display: str, line: int, col: int, message: str, hint: str, rule: str) -> LoadFailure:
    return LoadFailure([Diagnostic.at(SourcePos(display, line, col), message, hint, rule=rule)])


def read_text(path: Path, display: str) -> str:
    """Read a text file within the size limit, as UTF-8; raise LoadFailure otherwise."""
    return _decode(_read_bytes(path, display), display)


def _read_bytes(path: Path, display: str) -> bytes:
    """The file's bytes (at most one byte above the limit, to tell that it is too large)."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise _failure(
                display,
                1,
                1,
                "is not a regular file",
                "manifests and gradebooks must be plain files",
                "file-read",
            )
        if info.st_size > MAX_FILE_BYTES:
            raise _failure(
                display,
                1,
                1,
                f"file is too large ({info.st_size} bytes; the limit is {MAX_FILE_BYTES})",
                "split it into smaller files",
                "file-size",
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _failure(
            display,
            1,
            1,
            f"cannot read file: {exc.strerror or exc}",
            "check that it exists and is readable",
            "file-read",
        ) from exc
    if len(raw) > MAX_FILE_BYTES:  # it grew after stat()
        raise _failure(
            display,
            1,
            1,
            f"file is too large (the limit is {MAX_FILE_BYTES} bytes)",
            "split it into smaller files",
            "file-size",
        )
    return raw


def _decode(raw: bytes, display: str) -> str:
    """The bytes as UTF-8 text (a byte-order mark dropped); binary or non-UTF-8 is refused."""
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise _failure(
            display,
            line,
            1,
            "file is binary (it contains NUL bytes), not text",
            "save it as UTF-8 text, or move it out of the manifest folder",
            "encoding",
        )
    raw = raw.removeprefix(_UTF8_BOM)  # exc.start then counts from after the byte-order mark
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8")) + 1
        raise _failure(
            display,
            line,
            col,
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
            "encoding",
        ) from exc
