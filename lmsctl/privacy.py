"""Private plans: what a plan may show of students, applied as one layer before rendering.

Three levels (``PrivacyLevel``): ``full``, everything; ``pseudonymise``, each student as
``student-`` + 12 hex of HMAC-SHA256(``LMSCTL_PSEUDONYM_KEY``, Clever id), no name or roster id,
grade values shown, grade comments hidden; ``redact``, no student at all and grades only as
aggregates per assignment. Without a key ``pseudonymise`` falls back to ``redact`` (an unkeyed
hash of a 24-hex id is reversible by trying every id), and says so.

``privatise_document`` turns a plan document (lmsctl.plan.document) into the document of a
level; every renderer (text, JSON, Markdown) reads only that. ``Scrubber`` does the same for
free text: warnings, errors and ``--debug`` tracebacks.

Pure: no I/O; the environment is read only by ``resolve_privacy`` from the mapping it is given.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lmsctl.errors import UsageError
from lmsctl.model import DesiredState
from lmsctl.roster import ROSTER_FIELD

__all__ = [
    "PSEUDONYM_KEY_ENV",
    "PrivacyChoice",
    "PrivacyLevel",
    "Scrubber",
    "StudentDirectory",
    "privatise_document",
    "privatise_fields",
    "privatise_grades",
    "pseudonym",
    "resolve_privacy",
]

#: the environment variable holding the per-repository pseudonym secret
PSEUDONYM_KEY_ENV = "LMSCTL_PSEUDONYM_KEY"
#: shown instead of a grade comment (or any value a level hides)
HIDDEN = "(hidden)"
#: shown instead of a student when there are no pseudonyms (redact)
ANONYMOUS = "[student]"
#: grade fields holding free text
_FREE_TEXT_FIELDS = frozenset({"grade_comment"})
#: assignment fields holding student ids
_STUDENT_LIST_FIELDS = frozenset({"assignee_ids"})
_HEX24 = r"[0-9a-f]{24}"
#: ids in paths of errors and addresses (grades/<id>, submissions/<id>, users/<id>) and in
#: manifest field labels (grades.<id>)
_ID_IN_PATH = re.compile(rf"\b(grades|submissions|users)([/.])({_HEX24})\b")
#: a number of fewer digits than this (a short sis id or student number, "603") is taken for
#: a student only where it is quoted, as messages quote values ("sis_id '603'"): alone it is
#: a count or a line number ("603 grades to set", "line 603"), which must stay as it is; its
#: reference (sis:603) and a longer number (a state id) count everywhere
_MIN_BARE_DIGITS = 7
#: a word of free text, as student tokens are made of (names, ids, emails, sis:603); a quote
#: may be inside a word (O'Brien), not start it ('ann@school.example' is quoted)
_WORD = re.compile(r"[\w.@+:-][\w.@+:'-]*")
#: characters a word may end with that belong to the sentence, not the token
_TRAILING = ".:-'"
#: roster references as manifests write them (sis:603, email:ann@school.example)
_REF = re.compile(
    r"\b(?:(?:sis|student_number|state_id):[\w-]+|email:[\w.+-]+@[\w-]+(?:\.[\w-]+)*)"
)


class PrivacyLevel(enum.StrEnum):
    FULL = "full"
    PSEUDONYMISE = "pseudonymise"
    REDACT = "redact"


@dataclass(frozen=True)
class PrivacyChoice:
    """The level a command renders at, the key (for pseudonyms) and why, for the user."""

    level: PrivacyLevel
    key: bytes | None = None
    notice: str = ""  # one line for stderr, e.g. the fallback to redact
    fallback: bool = False  # redact because pseudonymise had no key

    @property
    def private(self) -> bool:
        return self.level is not PrivacyLevel.FULL


def _ci(env: Mapping[str, str]) -> bool:
    return bool(env.get("CI", "").strip())


def resolve_privacy(
    requested: str | None,
    configured: str | None,
    *,
    fmt: str,
    env: Mapping[str, str],
) -> PrivacyChoice:
    """Pick the level: ``--privacy``, else ``privacy:`` in lmsctl.yaml, else the default.

    The default is ``pseudonymise`` for Markdown and whenever ``CI`` is set, else ``full``.
    In CI, ``full`` needs the pseudonym key: whoever holds it may see the full plan, and a
    workflow without it cannot print one to a log by mistake.
    """
    raw_key = env.get(PSEUDONYM_KEY_ENV, "")
    key = raw_key.encode() if raw_key.strip() else None
    name = requested or configured
    if name:
        level = PrivacyLevel(name)
    elif fmt == "markdown" or _ci(env):
        level = PrivacyLevel.PSEUDONYMISE
    else:
        level = PrivacyLevel.FULL
    if level is PrivacyLevel.FULL and _ci(env) and key is None:
        raise UsageError(
            "a full plan (student names, ids, grade comments) is not shown in CI without "
            f"the pseudonym key: {PSEUDONYM_KEY_ENV} is not set",
            hint=f"set {PSEUDONYM_KEY_ENV} to see the full plan, or use --privacy pseudonymise",
        )
    if level is PrivacyLevel.PSEUDONYMISE and key is None:
        return PrivacyChoice(
            PrivacyLevel.REDACT,
            None,
            f"{PSEUDONYM_KEY_ENV} is not set, so students cannot be pseudonymised safely (an "
            "unkeyed hash of a Clever id can be reversed); showing grades as aggregates only "
            f"(--privacy redact). Set {PSEUDONYM_KEY_ENV} to a secret to see pseudonyms.",
            fallback=True,
        )
    return PrivacyChoice(level, key if level is PrivacyLevel.PSEUDONYMISE else None)


def pseudonym(key: bytes, student_id: str) -> str:
    """The student's stable pseudonym under ``key``: ``student-`` + 12 hex digits."""
    digest = hmac.new(key, student_id.encode(), hashlib.sha256).hexdigest()
    return f"student-{digest[:12]}"


class StudentDirectory:
    """Everything that identifies a student, as text: token -> the student's Clever id ("" for
    a roster reference nobody matched).

    The manifests' references and the rosters (a district's: hundreds of thousands of tokens)
    are read in only when the tokens are first needed (a full plan never needs them), in the
    order they were added (the first id a token is added with stays)."""

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self._tokens: dict[str, str] = {} if tokens is None else tokens
        #: additions not read in yet, oldest first
        self._pending: list[Callable[[], None]] = []

    @property
    def tokens(self) -> dict[str, str]:
        if self._pending:
            pending, self._pending = self._pending, []
            for read in pending:
                read()
        return self._tokens

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StudentDirectory):
            return NotImplemented
        return self.tokens == other.tokens

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StudentDirectory(tokens={self.tokens!r})"

    def add(self, token: Any, student_id: str = "") -> None:
        """One token of a student (the first id a token is added with stays; an email address
        also counts lower-cased)."""
        self._add_all((token,), student_id)

    def _add_all(self, texts: Iterable[Any], student_id: str) -> None:
        """:meth:`add` of each token of one student, in order (the rules live here)."""
        tokens = self.tokens
        for token in texts:
            text = str(token or "").strip()
            if len(text) < 2:
                continue
            if not tokens.get(text):
                tokens[text] = student_id
            if "@" in text:
                tokens.setdefault(text.lower(), student_id)

    def add_user(self, user: Mapping[str, Any]) -> None:
        """A Data API user object (unwrapped): its id, name and every roster id."""
        uid = str(user.get("id") or "")
        texts: list[Any] = [uid] if uid else []
        name = user.get("name") or {}
        if isinstance(name, Mapping):
            first, last = str(name.get("first") or ""), str(name.get("last") or "")
            middle = str(name.get("middle") or "")
            if first and last:
                texts += (f"{first} {last}", f"{last}, {first}")
                if middle:
                    texts.append(f"{first} {middle} {last}")
        roles = user.get("roles") or {}
        student = roles.get("student") if isinstance(roles, Mapping) else None
        sources = [user, student] if isinstance(student, Mapping) else [user]
        for src in sources:
            for prefix, k in _ROSTER_PREFIXES:
                value = src.get(k)
                if value:
                    texts += (value, f"{prefix}{value}")
        # (one call for the user's ten or so tokens: a district's rosters hold tens of
        # thousands of students)
        self._add_all(texts, uid)

    def add_document(self, doc: Mapping[str, Any]) -> None:
        """The students a plan document names (grade changes, drift, conflicts, fixes)."""
        for c in doc.get("changes") or []:
            sid = str(c.get("student") or "")
            if sid:
                self.add(sid, sid)
                if c.get("name") and c.get("name") != sid:
                    self.add(c["name"], sid)
            for f in c.get("fields") or []:
                if f.get("field") in _STUDENT_LIST_FIELDS:
                    for k in ("before", "after", "applied"):
                        for uid in f.get(k) or ():
                            self.add(uid, str(uid))
        for item in list(doc.get("drift") or []) + list(doc.get("conflicts") or []):
            sid = _student_of(str(item.get("address") or ""))
            if sid:
                self.add(sid, sid)
                if item.get("name") and item.get("name") != sid:
                    self.add(item["name"], sid)
        for f in doc.get("state_fixes") or []:
            if f.get("student"):
                self.add(f["student"], str(f["student"]))

    def add_desired(self, desired: DesiredState) -> None:
        """The students the manifests name: Clever ids and roster references as written (read
        in when the tokens are first needed)."""
        self._pending.append(lambda: self._read_desired(desired))

    def _read_desired(self, desired: DesiredState) -> None:
        for a in desired.assignments():
            for ref in [g.student for g in a.grades] + list(a.assignee_refs):
                if ref.is_id:
                    self.add(ref.value, ref.value)
                else:
                    self.add(ref.raw)
                    self.add(ref.value)

    def add_rosters(self, rosters: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Every student of the rosters (:meth:`add_user`; read in when the tokens are first
        needed)."""
        self._pending.append(lambda: self._read_rosters(rosters))

    def _read_rosters(self, rosters: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        for users in rosters.values():
            for user in users:
                self.add_user(user)

    def merge(self, other: StudentDirectory) -> None:
        for token, sid in other.tokens.items():
            self.add(token, sid)


#: (the prefix of a roster reference, the user field it names): ``sis:`` for ``sis_id``, ...
_ROSTER_PREFIXES = tuple((f"{kind.value}:", k) for kind, k in ROSTER_FIELD.items())


def _bare_short_number(word: str, text: str, start: int) -> bool:
    """``word`` (at ``start`` of ``text``) is a short number, not in quotes."""
    quoted = start > 0 and text[start - 1] in "'\""
    return word.isdigit() and len(word) < _MIN_BARE_DIGITS and not quoted


def _student_of(address: str) -> str:
    parts = address.split("/")
    return parts[3] if len(parts) == 4 and parts[2] == "grades" else ""


class Scrubber:
    """Replaces every student token in free text by the student's pseudonym (or ``[student]``)."""

    def __init__(self, choice: PrivacyChoice, directory: StudentDirectory | None = None) -> None:
        self.choice = choice
        self.directory = directory or StudentDirectory()
        self._lookup: dict[str, str] = {}
        self._built_for = -1

    def who(self, student_id: str) -> str:
        """How the level shows this student."""
        if not self.choice.private:
            return student_id
        if self.choice.key is not None and student_id:
            return pseudonym(self.choice.key, student_id)
        return ANONYMOUS

    def _tokens(self) -> dict[str, str]:
        """The directory, lower-cased (rebuilt when it grew)."""
        if self._built_for != len(self.directory.tokens):
            self._lookup = {}
            for token, sid in self.directory.tokens.items():
                if not self._lookup.get(token.lower()):
                    self._lookup[token.lower()] = sid
            self._built_for = len(self.directory.tokens)
        return self._lookup

    def text(self, value: str) -> str:
        """``value`` with every student token replaced (unchanged at level full).

        Linear in the text: each word (and each run of two or three words, for names such as
        "Ava Nguyen" or "Nguyen, Ava") is looked up in the directory.
        """
        if not self.choice.private or not value:
            return value
        value = _ID_IN_PATH.sub(lambda m: m.group(1) + m.group(2) + self.who(m.group(3)), value)
        tokens = self._tokens()
        words = [(m.start(), m.end()) for m in _WORD.finditer(value)]
        out: list[str] = []
        pos = 0
        i = 0
        while i < len(words):
            for n in (3, 2, 1):
                if i + n > len(words):
                    continue
                start, end = words[i][0], words[i + n - 1][1]
                span = value[start:end]
                trimmed = span.rstrip(_TRAILING)
                sid = tokens.get(trimmed.lower())
                if sid is None or _bare_short_number(trimmed, value, start):
                    continue
                out.append(value[pos:start])
                out.append(self.who(sid) if sid else ANONYMOUS)
                pos = start + len(trimmed)
                i += n
                break
            else:
                i += 1
        out.append(value[pos:])
        value = "".join(out)

        def repl(m: re.Match[str]) -> str:
            sid = tokens.get(m.group(0).lower(), "")
            return self.who(sid) if sid else ANONYMOUS

        return _REF.sub(repl, value)

    def value(self, value: Any) -> Any:
        """Every string inside ``value`` (dicts, lists) scrubbed; numbers untouched."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def privatise_fields(
    values: Mapping[str, Any], scrub: Scrubber, *, of_student: bool = False
) -> dict[str, Any]:
    """Field values (API form) at the scrubber's level: grade comments hidden, assignee ids as
    pseudonyms; with ``of_student`` at ``redact``, every value hidden (they are one student's).
    """
    if not scrub.choice.private:
        return dict(values)
    redact = scrub.choice.level is PrivacyLevel.REDACT
    out: dict[str, Any] = {}
    for name, value in values.items():
        if (of_student and redact) or (name in _FREE_TEXT_FIELDS and value is not None):
            value = HIDDEN
        elif name in _STUDENT_LIST_FIELDS:
            value = _students_in(value, scrub)
        out[name] = value
    return out


def privatise_grades(
    grades: Mapping[str, Mapping[str, Any]], scrub: Scrubber
) -> dict[str, dict[str, Any]] | None:
    """Grades by student id at the scrubber's level: keyed by pseudonym, comments hidden;
    None at ``redact`` (no student appears: show how many there are instead)."""
    if scrub.choice.level is PrivacyLevel.REDACT:
        return None
    return {
        scrub.who(student): privatise_fields(values, scrub, of_student=True)
        for student, values in grades.items()
    }


# -- the document layer ------------------------------------------------------------------------


def _hide_free_text(fields: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for f in fields:
        d = dict(f)
        if d.get("field") in _FREE_TEXT_FIELDS:
            for k in ("before", "after", "applied"):
                if d.get(k) is not None:
                    d[k] = HIDDEN
        out.append(d)
    return out


def _students_in(value: Any, scrub: Scrubber) -> Any:
    """A list of student ids (assignee_ids) at the scrubber's level."""
    if isinstance(value, list | tuple):
        return [scrub.who(str(v)) for v in value]
    return value


def _grade_address(address: str, who: str) -> str:
    parts = address.split("/")
    if len(parts) == 4 and parts[2] == "grades":
        return "/".join([*parts[:3], who])
    return address


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def grade_summaries(changes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per assignment: how many grades change, how many go up or down, the mean change."""
    by_assignment: dict[str, dict[str, Any]] = {}
    deltas: dict[str, list[float]] = {}
    for c in changes:
        address = f"{c.get('section_id', '')}/{c.get('key', '')}"
        s = by_assignment.setdefault(
            address,
            {
                "address": address,
                "section_id": c.get("section_id", ""),
                "section_name": c.get("section_name", ""),
                "key": c.get("key", ""),
                "grades": 0,
                "up": 0,
                "down": 0,
                "new": 0,
                "mean_change": None,
            },
        )
        s["grades"] += 1
        for f in c.get("fields") or []:
            if f.get("field") != "grade_points":
                continue
            before, after = _number(f.get("before")), _number(f.get("after"))
            if after is None:
                continue
            if before is None:
                s["new"] += 1
                continue
            delta = after - before
            deltas.setdefault(address, []).append(delta)
            if delta > 0:
                s["up"] += 1
            elif delta < 0:
                s["down"] += 1
    for address, values in deltas.items():
        by_assignment[address]["mean_change"] = round(sum(values) / len(values), 2)
    return list(by_assignment.values())


def _privatise_change(c: dict[str, Any], scrub: Scrubber, redact: bool) -> dict[str, Any]:
    """One change of the document (in place) at the scrubber's level."""
    sid = str(c.get("student") or "")
    if sid or c.get("kind") == "grade":
        who = scrub.who(sid)
        c["student"] = who
        c["name"] = who
        c["address"] = _grade_address(str(c.get("address") or ""), who)
    c["fields"] = _hide_free_text(c.get("fields") or [])
    for f in c["fields"]:
        if f.get("field") in _STUDENT_LIST_FIELDS:
            for k in ("before", "after", "applied"):
                f[k] = _students_in(f.get(k), scrub)
    if redact and sid:
        for f in c["fields"]:
            f["before"] = f["after"] = f["applied"] = HIDDEN
    c["before"] = {f["field"]: f.get("before") for f in c["fields"]}
    c["after"] = {f["field"]: f.get("after") for f in c["fields"]}
    body = dict(c.get("body") or {})
    for k in _FREE_TEXT_FIELDS & body.keys():
        body[k] = HIDDEN
    for k in _STUDENT_LIST_FIELDS & body.keys():
        body[k] = _students_in(body[k], scrub)
    if redact and sid:
        body = dict.fromkeys(body, HIDDEN)
    c["body"] = body
    c["fingerprint"] = None  # a digest of a student's live record: not for display
    return c


def _privatise_findings(
    items: Iterable[dict[str, Any]], scrub: Scrubber, redact: bool
) -> list[dict[str, Any]]:
    """Drift or conflicts (in place) at the scrubber's level."""
    out = []
    for item in items:
        sid = _student_of(str(item.get("address") or ""))
        if sid:
            who = scrub.who(sid)
            item["address"] = _grade_address(item["address"], who)
            item["name"] = ""  # the address shows the pseudonym already
            if redact or item.get("field") in _FREE_TEXT_FIELDS:
                for k in ("applied", "live", "desired"):
                    item[k] = HIDDEN
        elif item.get("field") in _STUDENT_LIST_FIELDS:
            for k in ("applied", "live", "desired"):
                item[k] = _students_in(item.get(k), scrub)
        out.append(item)
    return out


def _aggregated(c: Mapping[str, Any], redact: bool) -> bool:
    """A grade that ``redact`` shows only in the aggregates (``grade_summaries``)."""
    is_grade = bool(c.get("student")) or c.get("kind") == "grade"
    return redact and is_grade and (c.get("actions") or [""])[0] == "grade"


class _ShownChanges:
    """The changes a private level shows, each privatised as it is read (see
    :func:`privatise_document`); ``fresh``: the source gives new dicts on every reading."""

    def __init__(self, changes: Iterable[Any], scrub: Scrubber, redact: bool, fresh: bool) -> None:
        self.changes, self.scrub, self.redact, self.fresh = changes, scrub, redact, fresh

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for c in self.changes:
            if _aggregated(c, self.redact):
                continue
            mine = dict(c) if self.fresh else copy.deepcopy(dict(c))
            yield self.scrub.value(_privatise_change(mine, self.scrub, self.redact))


def privatise_document(
    doc: Mapping[str, Any], choice: PrivacyChoice, directory: StudentDirectory | None = None
) -> dict[str, Any]:
    """The plan document at ``choice.level``; it records its level under ``privacy``.

    The students the document names are added to ``directory`` first, so nothing it names is
    left out; the directory may hold more (the rosters, the manifests' references).

    ``changes`` may be a lazy list (any iterable but a list, e.g. lmsctl.plan.document's, which
    makes new dicts each time it is read): it is then read once for the students, once for the
    aggregates (at ``redact``), and the result's ``changes`` is lazy too, each change made
    private as it is read, so a plan of 100k changes is never copied whole.
    """
    privacy = {
        "level": choice.level.value,
        "pseudonyms": "hmac-sha256" if choice.key is not None and choice.private else None,
        **({"fallback": True} if choice.fallback else {}),
    }
    if not choice.private:
        return {**doc, "privacy": privacy}  # nothing below is changed: no copy of 100k changes
    source = doc.get("changes") or []
    lazy = not isinstance(source, list)
    out: dict[str, Any] = {
        k: v if k == "changes" else copy.deepcopy(v) for k, v in dict(doc).items()
    }
    out["privacy"] = privacy
    full = StudentDirectory()
    full.add_document(doc)
    if directory is not None:
        full.merge(directory)
    scrub = Scrubber(choice, full)
    redact = choice.level is PrivacyLevel.REDACT

    shown = _ShownChanges(source, scrub, redact, fresh=lazy)
    out["changes"] = shown if lazy else list(shown)
    if redact:  # the grades shown only as aggregates, from the document as it was
        out["grade_summaries"] = grade_summaries(c for c in source if _aggregated(c, redact))
    for key in ("drift", "conflicts"):
        out[key] = _privatise_findings(out.get(key) or [], scrub, redact)
    if redact:  # anonymous students of these lists told apart, so they count as in full
        labels: dict[str, str] = {}
        for item in [*(out.get("approvals") or []), *(out.get("frozen") or [])]:
            address = str(item.get("address") or "")
            if sid := _student_of(address):
                label = labels.setdefault(sid, f"[student {len(labels) + 1}]")
                item["address"] = _grade_address(address, label)
                if isinstance(item.get("message"), str):
                    item["message"] = item["message"].replace(address, item["address"])
    for fix in out.get("state_fixes") or []:
        if fix.get("student"):
            fix["student"] = scrub.who(str(fix["student"]))
            fix["set_fields"] = {
                k: HIDDEN if redact or k in _FREE_TEXT_FIELDS else v
                for k, v in (fix.get("set_fields") or {}).items()
            }
    # the safety net: every string left (warnings, reasons, messages, sources); the changes
    # are scrubbed one by one as they are made
    return {k: v if k == "changes" else scrub.value(v) for k, v in out.items()}
