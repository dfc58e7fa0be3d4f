"""Resource addresses.

An assignment's address is ``<section id>/<assignment key>``; a grade's is
``<section id>/<assignment key>/grades/<student id>``. File names and folders never enter an
address, so moving or renaming a manifest file changes nothing in the LMS.
"""

from __future__ import annotations

import re

from lmsctl.errors import UsageError

SECTION_ID_RE = re.compile(r"^[0-9a-f]{24}$")
OBJECT_ID_RE = SECTION_ID_RE
ASSIGNMENT_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def assignment_address(section_id: str, key: str) -> str:
    return f"{section_id}/{key}"


def grade_address(section_id: str, key: str, student: str) -> str:
    return f"{section_id}/{key}/grades/{student}"


class Address(str):
    """A parsed address: an assignment, or one student's grade on it.

    It is also its own canonical text (a ``str``), so it keys state, prints and serialises
    exactly as the text does, while the core reads its parts instead of splitting strings.
    Its parts are slots, not an instance dictionary: a plan of 100k grade changes holds 100k
    addresses (the dictionary was 300 bytes of each).
    """

    __slots__ = ("key", "section_id", "student")

    section_id: str
    key: str
    student: str | None

    def __new__(cls, section_id: str, key: str, student: str | None = None) -> Address:
        # (assignment_address and grade_address, written out: a plan makes one per grade)
        text = f"{section_id}/{key}" if student is None else f"{section_id}/{key}/grades/{student}"
        self = super().__new__(cls, text)
        self.section_id = section_id
        self.key = key
        self.student = student
        return self

    @classmethod
    def of(cls, text: str) -> Address:
        """The parts of an address lmsctl wrote itself (state keys, plan files): no checks."""
        if isinstance(text, Address):
            return text
        parts = str(text).split("/")
        if len(parts) == 4 and parts[2] == "grades":
            return cls(parts[0], parts[1], parts[3])
        return cls(parts[0], "/".join(parts[1:]))

    def __getnewargs__(self) -> tuple[str, str, str | None]:  # type: ignore[override]
        # (copy and pickle make it again from its parts)
        return (self.section_id, self.key, self.student)

    @property
    def assignment(self) -> str:
        return assignment_address(self.section_id, self.key)

    def contains(self, other: Address) -> bool:
        """True when ``other`` is this address or below it (a grade of this assignment)."""
        if (self.section_id, self.key) != (other.section_id, other.key):
            return False
        return self.student is None or self.student == other.student


def parse_address(text: str) -> Address:
    """Parse ``<section>/<key>`` or ``<section>/<key>/grades/<student>`` (UsageError if bad)."""
    parts = text.strip().strip("/").split("/")
    hint = "an address is <section id>/<assignment key>[/grades/<student id>]"
    if len(parts) == 2:
        section_id, key = parts
        student = None
    elif len(parts) == 4 and parts[2] == "grades":
        section_id, key, _, student = parts
    else:
        raise UsageError(f"malformed address {text!r}", hint=hint)
    if not SECTION_ID_RE.match(section_id):
        raise UsageError(
            f"malformed address {text!r}: {section_id!r} is not a 24-hex section id", hint=hint
        )
    if not ASSIGNMENT_KEY_RE.match(key):
        raise UsageError(
            f"malformed address {text!r}: {key!r} is not an assignment key "
            "(lowercase letters, digits, '-' and '_', at most 64)",
            hint=hint,
        )
    if student is not None and not OBJECT_ID_RE.match(student):
        raise UsageError(
            f"malformed address {text!r}: {student!r} is not a 24-hex student id",
            hint="a grade address names the student by Clever id, not by a sis:/email: "
            f"reference; lmsctl state show {section_id}/{key} lists them",
        )
    return Address(section_id, key, student)


def matches_targets(address: str, targets: list[Address]) -> bool:
    """True when no targets are given, or the address falls under one of them."""
    if not targets:
        return True
    parsed = address if isinstance(address, Address) else parse_address(address)
    return any(t.contains(parsed) or _section_target(t, parsed) for t in targets)


def _section_target(target: Address, other: Address) -> bool:
    # A grade target also selects its assignment (a grade needs its assignment to exist).
    return (
        target.student is not None
        and other.student is None
        and (target.section_id, target.key) == (other.section_id, other.key)
    )
