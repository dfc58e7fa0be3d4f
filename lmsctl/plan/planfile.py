"""Saved plans: ``lmsctl plan --out FILE`` writes one, ``lmsctl apply FILE`` executes exactly it.

A plan file is JSON (mode 0600): the plan's document (lmsctl.plan.document), which carries the
state lineage and serial it was made against, the manifests' digest and, per change, a
fingerprint of the live value it saw. It never holds a token.

With ``LMSCTL_STATE_KEY`` set, the file is encrypted (AES-256-GCM, lmsctl.state.crypto): only
``kind`` and the envelope are in clear, and reading it needs the same key.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from lmsctl.errors import LmsctlError, StalePlanError, StateError, UsageError
from lmsctl.plan.document import (
    change_from_dict,
    document_pieces,
    joined_parts,
    plan_document,
    plan_from_document,
)
from lmsctl.plan.model import Change, Plan
from lmsctl.state import crypto
from lmsctl.state.model import StateSnapshot

PLAN_FILE_KIND = "lmsctl-plan"
#: about how much text of a plan file is encrypted at a time
WRITE_SIZE = 256 * 1024


def save_plan(
    path: Path, plan: Plan, *, sandbox: bool = False, keys: crypto.StateKeys | None = None
) -> None:
    """Write the plan atomically with mode 0600 (encrypted under ``keys``; None: from the
    environment, LMSCTL_STATE_KEY)."""
    keys = keys if keys is not None else crypto.StateKeys.from_environment()
    doc: dict[str, Any] = {"kind": PLAN_FILE_KIND, "sandbox": sandbox, "plan": plan_document(plan)}
    # streamed: a plan of 100k changes is never held whole, as dicts or as one string
    if keys.encrypting:
        sealer = keys.sealer(crypto.aad(PLAN_FILE_KIND))

        def write(fh: TextIO) -> None:
            # json.dumps of the envelope, its base64 data written as it is sealed (base64's
            # letters need no escape in JSON: the data's JSON form is the data in quotes)
            marker = json.dumps("\0")
            envelope = {"kind": PLAN_FILE_KIND, crypto.FIELD: sealer.envelope("\0")}
            head, tail = json.dumps(envelope, indent=2).split(marker)
            fh.write(head + '"')
            for part in joined_parts(
                document_pieces(doc, sort_keys=True, ensure_ascii=True), WRITE_SIZE, "\n"
            ):
                fh.write(sealer.update(part.encode()))
            fh.write(sealer.finish() + '"' + tail + "\n")
    else:

        def write(fh: TextIO) -> None:
            for piece in document_pieces(doc, sort_keys=True, ensure_ascii=True):
                fh.write(piece)
            fh.write("\n")

    try:
        _write_private(path.resolve(), write)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LmsctlError(
            f"cannot save the plan to {path}: {reason} (choose a file in a writable folder)"
        ) from exc


def _write_private(path: Path, write: Callable[[TextIO], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".plan-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_plan_file(path: Path) -> bool:
    """True when ``path`` is a file that looks like a saved plan (not a manifests root)."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and PLAN_FILE_KIND.encode() in head


def load_plan(path: Path, keys: crypto.StateKeys | None = None) -> tuple[Plan, bool]:
    """Read a saved plan; returns (plan, made against the sandbox).

    An encrypted plan is opened with ``keys`` (None: LMSCTL_STATE_KEY from the environment).
    The plan's changes are read one at a time (see :func:`_read_streamed`), so a plan of 100k
    changes is never held as 100k dicts beside the Plan they make.
    """
    where = f"plan file {path}"

    def reading_keys() -> crypto.StateKeys:
        return keys if keys is not None else crypto.StateKeys.from_environment()

    try:
        with path.open(encoding="utf-8") as fh:
            doc = _read_streamed(fh, _Sealed(reading_keys, where))
    except OSError as exc:
        raise UsageError(f"cannot read plan file {path}: {exc.strerror}") from exc
    except (_Unread, UnicodeDecodeError):
        doc = _read_whole(path)  # anything the streamed reading does not take: as it always was
    if isinstance(doc, dict) and isinstance(doc.get(crypto.FIELD), _Opened):
        doc = doc[crypto.FIELD].doc  # opened as it was read, its tag checked
    elif isinstance(doc, dict) and doc.get("kind") == PLAN_FILE_KIND and crypto.FIELD in doc:
        keys = reading_keys()
        envelope = doc.pop(crypto.FIELD)
        plain = keys.open(envelope, crypto.aad(PLAN_FILE_KIND), where)
        del envelope
        try:
            doc = _read_streamed(io.TextIOWrapper(io.BytesIO(plain), encoding="utf-8"))
        except (_Unread, UnicodeDecodeError):
            try:
                doc = json.loads(plain)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise StateError(f"{path} is not a plan file once decrypted") from exc
    if not isinstance(doc, dict) or doc.get("kind") != PLAN_FILE_KIND or "plan" not in doc:
        raise StateError(
            f"{path} is not a plan file", hint="save a plan with lmsctl plan --out FILE"
        )
    return plan_from_document(doc["plan"]), bool(doc.get("sandbox"))


def _read_whole(path: Path) -> Any:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read plan file {path}: {exc.strerror}") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{path} is not a plan file: invalid JSON at line {exc.lineno}",
            hint="save a plan with lmsctl plan --out FILE",
        ) from exc


# -- reading a plan file a change at a time ------------------------------------------------------

#: how much text the streamed reading takes from the file at a time (at least)
READ_SIZE = 1 << 20
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


class _Unread(Exception):
    """The streamed reading met something it does not take (invalid JSON, another shape, a
    change it cannot read): the file is read whole instead, with the errors that reading gives."""


class _Window:
    """JSON text from a file, a window at a time: what is parsed is dropped, and the window
    grows while one value needs more of it."""

    def __init__(self, fh: _Text) -> None:
        self.fh, self.text, self.pos, self.ended = fh, "", 0, False

    def more(self) -> None:
        data = self.fh.read(max(READ_SIZE, len(self.text) - self.pos))
        if not data:
            self.ended = True
        self.text, self.pos = self.text[self.pos :] + data, 0

    def peek(self) -> str:
        """The next character that is not white space, left unread ("" at the end)."""
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or self.ended:
                return self.text[self.pos : self.pos + 1]
            self.more()

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise _Unread
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                if self.ended:
                    raise _Unread from None
                self.more()
                continue
            if end < len(self.text) or self.ended:  # a number may go on in the next part
                self.pos = end
                return value
            self.more()


class _Text(Protocol):
    def read(self, size: int, /) -> str: ...


@dataclass(frozen=True)
class _Sealed:
    """How to open an encrypted plan file's envelope while it is read: the keys (asked for
    only when the file is encrypted) and the file's name for errors."""

    keys: Callable[[], crypto.StateKeys]
    where: str


@dataclass(frozen=True)
class _Opened:
    """An envelope opened as it was read: the document inside, its tag checked."""

    doc: Any


def _read_streamed(fh: _Text, sealed: _Sealed | None = None) -> Any:
    """``json.load(fh)`` for a plan file, but each item of ``plan.changes`` is made a Change as
    soon as it is read; _Unread when the text is not a JSON object or a change is not one.

    With ``sealed``, the envelope of an encrypted plan file, as lmsctl writes it, is opened as
    it is read (:func:`_envelope`): its value is then an :class:`_Opened`."""
    window = _Window(fh)
    doc = _object(window, (), sealed)
    if window.peek() != "":
        raise _Unread
    return doc


def _object(
    window: _Window, path: tuple[str, ...], sealed: _Sealed | None = None
) -> dict[str, Any]:
    window.take("{")
    out: dict[str, Any] = {}
    if window.peek() == "}":
        window.pos += 1
        return out
    while True:
        key = window.value()
        if not isinstance(key, str):
            raise _Unread
        window.take(":")
        at = (*path, key)
        if (
            at == (crypto.FIELD,)
            and sealed is not None
            and out.get("kind") == PLAN_FILE_KIND
            and window.peek() == "{"
        ):
            out[key] = _envelope(window, sealed)
        elif at == ("plan",) and window.peek() == "{":
            out[key] = _object(window, at)
        elif at == ("plan", "changes") and window.peek() == "[":
            out[key] = _changes(window)
        else:
            out[key] = window.value()
        end = window.peek()
        window.take("," if end == "," else "}")
        if end != ",":
            return out


def _changes(window: _Window) -> list[Change]:
    window.take("[")
    out: list[Change] = []
    if window.peek() == "]":
        window.pos += 1
        return out
    while True:
        item = window.value()
        try:
            if not isinstance(item, dict):
                raise TypeError("a change is an object")
            out.append(change_from_dict(item))
        except (AttributeError, KeyError, TypeError, ValueError):
            raise _Unread from None
        end = window.peek()
        window.take("," if end == "," else "]")
        if end != ",":
            return out


def _envelope(window: _Window, sealed: _Sealed) -> _Opened:
    """The envelope of an encrypted plan file, as lmsctl writes it (``alg``, ``kid``, then the
    base64 ``data``), opened while its data is read: the text and the plaintext are never held
    whole. The plaintext is parsed before its tag is checked at the data's end, and what was
    parsed is dropped when the check fails (the integrity error). Anything the parse does not
    take (another form of envelope, data cut short or changed so that it no longer parses, a
    plaintext that is not a plan file's) is _Unread: the file is then read whole and its
    envelope opened in one piece, as before, and that gives the error."""
    window.take("{")
    head: dict[str, Any] = {}
    for name in ("alg", "kid"):
        if window.value() != name:
            raise _Unread
        window.take(":")
        head[name] = window.value()
        window.take(",")
    if window.value() != "data":
        raise _Unread
    window.take(":")
    window.take('"')
    opener = sealed.keys().opener(head, crypto.aad(PLAN_FILE_KIND), sealed.where)
    plain = _Plaintext(window, opener)
    try:
        doc = _read_streamed(plain)  # (to the data's end: its tag is checked)
    except UnicodeDecodeError:
        raise _Unread from None
    window.take("}")
    return _Opened(doc)


class _Plaintext:
    """The plaintext of an envelope's data, decrypted as its base64 is read from ``window``
    (up to the string's closing quote, where the tag is checked: see crypto.Opener)."""

    def __init__(self, window: _Window, opener: crypto.Opener) -> None:
        self.window, self.opener = window, opener
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.ended = False

    def read(self, size: int, /) -> str:
        """The text of the next part of the data the window holds (``size`` is not looked at:
        the window reads READ_SIZE at a time); "" at its end, once the tag is checked."""
        while not self.ended:
            piece = self._data()
            plain = self.opener.update(piece) if piece else b""
            if self.ended:
                self.opener.finish()  # StateKeyError when the data is not what was sealed
            text = self.decoder.decode(plain, final=self.ended)
            if text:
                return text
        return ""

    def _data(self) -> str:
        """The next part of the base64 text (the whole string once it closes)."""
        window = self.window
        while True:
            end = window.text.find('"', window.pos)
            if end >= 0:
                piece = window.text[window.pos : end]
                window.pos = end + 1
                self.ended = True
            elif window.pos < len(window.text):
                piece = window.text[window.pos :]
                window.pos = len(window.text)
            elif window.ended:
                raise _Unread  # the string never closes
            else:
                window.more()
                continue
            if "\\" in piece:
                raise _Unread  # an escape: not the base64 lmsctl writes
            return piece


def ensure_fresh(plan: Plan, snapshot: StateSnapshot) -> None:
    """Refuse a plan made against another state (lineage) or an older one (serial).

    A plan made before any state existed (serial 0) fits a state that still does not exist;
    the state then takes the plan's lineage.
    """
    if plan.serial == 0 and snapshot.serial == 0:
        if plan.lineage:
            snapshot.lineage = plan.lineage
        return
    if plan.lineage and snapshot.lineage and plan.lineage != snapshot.lineage:
        raise StalePlanError(
            "stale plan: it was made for another state (lineage differs)",
            hint="run plan again",
        )
    if plan.serial != snapshot.serial:
        raise StalePlanError(
            "stale plan: state changed since the plan was made; run plan again",
        )
