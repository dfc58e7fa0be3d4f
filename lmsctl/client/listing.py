"""One assignment's submissions as its listing's pages come: one per student, the first listed.

The rule has always been: a submission is keyed by its ``user_id``, else its ``id``, else the
count of keys so far (each as text), and the first of a key is kept. A plan wants only the
submissions of the students its grades name (40 of 250 enrolled, over 2,500 listings at 100k
grades): with ``only``, the listing picks just those as each page is read, in one pass, instead
of keying every submission and filtering them afterwards. The usual page (objects with a text
``user_id``) is read by a quick rule that gives the same result; a page with any other item
makes the listing read every page so far again by the whole rule, and go on by it.

A plan's pages are decoded by :func:`read_plan_page`: typed (msgspec), each submission as a
:class:`PlanSubmission` holding only the fields a plan reads. The API sends ten fields per
submission and the plan compares a few of 40 students' out of 250; decoding just those
fields, with no dict per submission, halves what decoding a district's 7,500 pages costs. A
page that is not of the usual shape (an item that is not an object, a ``data`` that is not a
list) is left to the standard decoding, which reads it and fails on it as it always did.
"""

from __future__ import annotations

from collections.abc import Mapping
from sys import intern
from typing import Any

import msgspec

from lmsctl import jsonread
from lmsctl.model import GRADE_FIELDS

#: what a plan keeps of a graded student's submission: the managed grade fields and whose it is
#: (a field the API left out stays left out: absent and null are not the same answer)
PLAN_SUBMISSION_KEYS: tuple[str, ...] = ("user_id", *GRADE_FIELDS)

#: a submission as a plan's listing decodes it: its id (the whole rule's key when it has no
#: user id) and the fields a plan reads; UNSET for a field the answer did not have
PlanSubmission = msgspec.defstruct(
    "PlanSubmission",
    [(name, Any, msgspec.UNSET) for name in ("id", *PLAN_SUBMISSION_KEYS)],
)


_read_page = jsonread.page_reader(PlanSubmission)


def read_plan_page(content: bytes) -> dict[str, Any] | None:
    """A submissions page as a plan reads it, ``{"data": [PlanSubmission...], "links": ...}``,
    or None when it is not of the usual shape (it is then decoded as any answer is)."""
    page = _read_page(content)
    return None if page is None else {"data": page[0], "links": page[1]}


def compact_submission(submission: Mapping[str, Any]) -> dict[str, Any]:
    """What a plan keeps of a submission: the :data:`PLAN_SUBMISSION_KEYS` it has, each text
    interned (ids and states are the same few strings over 100k submissions: one each, shared
    with the manifests, the state and the rosters)."""
    out: dict[str, Any] = {}
    for k in PLAN_SUBMISSION_KEYS:
        if k in submission:
            v = submission[k]
            out[k] = intern(v) if type(v) is str else v
    return out


def _compact_struct(sub: Any) -> dict[str, Any]:
    """:func:`compact_submission` of a :data:`PlanSubmission`."""
    unset = msgspec.UNSET
    return {
        name: intern(value) if type(value) is str else value
        for name in PLAN_SUBMISSION_KEYS
        if (value := getattr(sub, name)) is not unset
    }


def _as_dict(sub: Any) -> dict[str, Any]:
    """A :data:`PlanSubmission` as the dict of the fields it had."""
    unset = msgspec.UNSET
    return {
        name: value
        for name in PlanSubmission.__struct_fields__
        if (value := getattr(sub, name)) is not unset
    }


class SubmissionListing:
    """The submissions kept of one listing (see the module's docstring)."""

    def __init__(self, only: frozenset[str] | None = None) -> None:
        self._only = only
        #: key -> submission (all kept), or, with ``only``, user id as text -> submission
        self._kept: dict[str, Any] = {}
        #: every key seen (the whole rule with ``only``: None while the quick rule holds)
        self._keys: set[str] | None = None
        #: the pages read while the quick rule holds (references only: a replay's input)
        self._pages: list[list[Any]] = []

    def add(self, items: list[Any]) -> None:
        """One page's items (with ``only``, as :func:`read_plan_page` decodes them, or as any
        answer is decoded)."""
        only = self._only
        if only is None:
            kept = self._kept
            for sub in items:
                if isinstance(sub, dict):
                    kept.setdefault(str(sub.get("user_id") or sub.get("id") or len(kept)), sub)
            return
        if self._keys is not None:
            self._whole_rule(items, only, self._keys)
            return
        self._pages.append(items)
        kept = self._kept
        for sub in items:
            kind = type(sub)
            uid = (
                sub.get("user_id")
                if kind is dict
                else sub.user_id
                if kind is PlanSubmission
                else None
            )
            if type(uid) is not str or not uid:
                # the quick rule cannot say what this one's key is: all again, by the whole
                self._kept, self._keys = {}, set()
                for page in self._pages:
                    self._whole_rule(page, only, self._keys)
                self._pages = []
                return
            # (its key is its user id: the first of those in ``only`` is kept; any other key
            # cannot keep one of them out)
            if uid in only and uid not in kept:
                kept[uid] = sub

    def _whole_rule(self, items: list[Any], only: frozenset[str], keys: set[str]) -> None:
        kept = self._kept
        for sub in items:
            if type(sub) is PlanSubmission:
                sub = _as_dict(sub)
            if not isinstance(sub, dict):
                continue
            key = str(sub.get("user_id") or sub.get("id") or len(keys))
            if key in keys:
                continue
            keys.add(key)
            uid = sub.get("user_id")
            text = uid if type(uid) is str else str(uid)
            if text in only:
                kept[text] = sub  # (a later one of the same text: as the filter always did)

    def result(self) -> list[dict[str, Any]]:
        """The submissions kept, in the order their students were first listed; with ``only``,
        each as :func:`compact_submission` makes it (what a plan keeps of it)."""
        kept = self._kept.values()
        if self._only is None:
            return list(kept)
        return [
            _compact_struct(s) if type(s) is PlanSubmission else compact_submission(s) for s in kept
        ]
