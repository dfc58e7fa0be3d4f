"""The plan's versioned JSON form: one source for ``--json``, plan files and the other renderers.

``plan_to_document`` and ``plan_from_document`` round-trip exactly. The format is described by
schemas/plan.schema.json; bump ``PLAN_FORMAT_VERSION`` on any incompatible change. It belongs to
the plan (a saved plan file is this document, lmsctl.plan.planfile); the renderers
(lmsctl.render) read it.

``plan_document`` is the same document with its ``changes`` made one at a time as they are read
(:class:`LazyItems`), and :func:`document_pieces` writes such a document as JSON text piece by
piece: ``plan --format json`` and plan files of 100k changes never hold them as 100k dicts nor
as one string. ``plan_to_document`` is that document with the changes made into a list.
"""

from __future__ import annotations

import copy
import enum
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Generic, TypeVar

from lmsctl import __version__
from lmsctl.addresses import Address
from lmsctl.errors import StateError
from lmsctl.jsonwrite import indented_encoder
from lmsctl.plan.model import (
    OLDEST_READABLE_PLAN_FORMAT,
    PLAN_FORMAT_VERSION,
    Action,
    ApprovalNeed,
    ApprovalRule,
    Change,
    Conflict,
    ConflictReason,
    Consent,
    ConsentNeed,
    DeleteImpact,
    Drift,
    FieldChange,
    FieldReason,
    FrozenChange,
    Plan,
    Reason,
    ResourceKind,
    StateFix,
)
from lmsctl.plan.words import (
    REASON_WORDS,
    approval_words,
    conflict_words,
    consent_words,
    reason_words,
    unknown_outcome_words,
)


class _ChangeDicts:
    """Each change of one document as its dict, remembering the words of the reasons its
    changes repeat (a plan's 100k grade changes have a few kinds of reasons). Every dict it
    returns is new, so a reader may change it."""

    LIMIT = 4096

    __slots__ = ("_reasons",)

    def __init__(self) -> None:
        self._reasons: dict[tuple[Reason, ...], tuple[tuple[str, ...], str]] = {}

    def make(self, change: Change) -> dict[str, Any]:
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        fields: list[dict[str, Any]] = []
        for f in change.fields:
            before[f.field] = f.before
            after[f.field] = f.after
            fields.append(_field_to_dict(f))
        codes, words = self._words(change)
        return {
            "address": change.address,
            "actions": [change.action.value],
            "kind": change.kind.value,
            "section_id": change.section_id,
            "section_name": change.section_name,
            "key": change.key,
            "student": change.student,
            "name": change.name,
            "assignment_id": change.assignment_id,
            "before": before,
            "after": after,
            "fields": fields,
            "unchanged": change.unchanged,
            "body": dict(change.body),
            "reasons": list(codes),
            "reason": words,
            "source": change.source,
            "fingerprint": change.fingerprint,
            "depends_on": change.depends_on,
            "impact": asdict(change.impact) if change.impact is not None else None,
            "moved_from": change.moved_from,
        }

    def _words(self, change: Change) -> tuple[tuple[str, ...], str]:
        """The change's reason codes and their words (``_change_words``)."""
        if change.action is Action.UNKNOWN or type(change.reasons) is not tuple:
            return tuple(r.value for r in change.reasons), _change_words(change)
        found = self._reasons.get(change.reasons)
        if found is None:
            found = (tuple(r.value for r in change.reasons), _change_words(change))
            if len(self._reasons) < self.LIMIT:
                self._reasons[change.reasons] = found
        return found


#: values ``copy.deepcopy`` returns as they are
_ATOMS = frozenset({str, int, float, bool, type(None)})


def _field_to_dict(f: FieldChange) -> dict[str, Any]:
    """``dataclasses.asdict(f)`` for a FieldChange, without its generic walk (one per field of
    every grade of a plan): the same keys, values copied the same way."""
    return {
        "field": f.field,
        "before": f.before if type(f.before) in _ATOMS else copy.deepcopy(f.before),
        "after": f.after if type(f.after) in _ATOMS else copy.deepcopy(f.after),
        "applied": f.applied if type(f.applied) in _ATOMS else copy.deepcopy(f.applied),
        "why": f.why,
    }


def _shared(value: Any) -> Any:
    """Text that many changes repeat (section ids and names, keys, students, field names), as
    one string for all of them (sys.intern) instead of one copy per change read."""
    return sys.intern(value) if type(value) is str else value


_E = TypeVar("_E", bound=enum.Enum)


def _members(cls: type[_E]) -> Callable[[Any], _E]:
    """``cls(value)`` for a plan file's codes: a lookup for each known one (a plan file holds
    four or more per grade), ``cls(value)`` itself, with its error, for anything else."""
    table: dict[Any, _E] = {member.value: member for member in cls}

    def member(value: Any) -> _E:
        found = table.get(value) if type(value) is str else None
        return found if found is not None else cls(value)

    return member


_action, _kind, _reason, _field_reason = (
    _members(Action),
    _members(ResourceKind),
    _members(Reason),
    _members(FieldReason),
)
_FIELD_KEYS = frozenset({"field", "before", "after", "applied", "why"})


def _field_from_dict(f: Mapping[str, Any]) -> FieldChange:
    why = _field_reason(f["why"])
    if f.keys() == _FIELD_KEYS:  # (what lmsctl writes: no dict of arguments to make)
        return FieldChange(_shared(f["field"]), f["before"], f["after"], f["applied"], why)
    args = {**f, "why": why}
    if "field" in args:
        args["field"] = _shared(args["field"])
    return FieldChange(**args)


def change_from_dict(d: Mapping[str, Any]) -> Change:
    """One change of the document as a Change (KeyError, TypeError, ValueError if it is not one):
    a plan file's reader turns each change into a Change as it reads it."""
    impact = d.get("impact")
    return Change(
        address=Address.of(str(d["address"])),
        action=_action(d["actions"][0]),
        kind=_kind(d["kind"]),
        section_id=_shared(d["section_id"]),
        section_name=_shared(d.get("section_name", "")),
        key=_shared(d["key"]),
        student=_shared(d.get("student")),
        name=_shared(d.get("name", "")),
        assignment_id=d.get("assignment_id"),
        fields=tuple(_field_from_dict(f) for f in d.get("fields", [])),
        unchanged=int(d.get("unchanged", 0)),
        body={_shared(k): v for k, v in dict(d.get("body") or {}).items()},
        reasons=tuple(map(_reason, d["reasons"])),
        source=d.get("source", ""),
        fingerprint=d.get("fingerprint"),
        depends_on=_shared(d.get("depends_on")),
        impact=DeleteImpact(**impact) if impact else None,
        moved_from=d.get("moved_from"),
    )


def _change_words(change: Change) -> str:
    """The change's reasons in words, for people reading the JSON (never read back)."""
    if change.action is Action.UNKNOWN:
        return unknown_outcome_words(change.address, change.reasons)
    return reason_words(change.reasons)


def _consent_to_dict(need: ConsentNeed) -> dict[str, Any]:
    d: dict[str, Any] = {
        "consent": need.consent.value,
        "flag": need.consent.flag,
        "address": need.address,
        "impact": asdict(need.impact) if need.impact is not None else None,
        "deleting": need.deleting,
        "tracked": need.tracked,
    }
    d["message"] = consent_words(d)
    return d


def _consent_from_dict(d: Mapping[str, Any]) -> ConsentNeed:
    impact = d.get("impact")
    return ConsentNeed(
        consent=Consent(d["consent"]),
        address=str(d["address"]),
        impact=DeleteImpact(**impact) if impact else None,
        deleting=int(d.get("deleting", 0)),
        tracked=int(d.get("tracked", 0)),
    )


def _approval_to_dict(need: ApprovalNeed) -> dict[str, Any]:
    d: dict[str, Any] = {"rule": need.rule.value, "address": need.address, "drop": need.drop}
    d["message"] = approval_words(d)
    return d


def _frozen_to_dict(item: FrozenChange) -> dict[str, Any]:
    return {"window": item.window, "address": item.address, "allowed": item.allowed}


def _options_to_dict(plan: Plan) -> dict[str, Any]:
    """The document's ``options``: the planner's options, then the root and the freeze
    re-check's data when the plan has them."""
    options = dict(plan.options)
    if plan.root is not None:
        options["root"] = str(plan.root)
    if plan.allow_frozen:
        options["allow_frozen"] = list(plan.allow_frozen)
    if plan.section_schools:
        options["section_schools"] = dict(plan.section_schools)
    return options


def _options_from_dict(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The Plan fields of the document's ``options`` (see :func:`_options_to_dict`)."""
    options = dict(raw)
    root = options.pop("root", None)
    return {
        "options": options,
        "root": Path(str(root)) if root else None,
        "allow_frozen": tuple(str(n) for n in options.pop("allow_frozen", None) or ()),
        "section_schools": {
            str(k): str(v) for k, v in (options.pop("section_schools", None) or {}).items()
        },
    }


def _minor(version: str) -> int:
    try:
        return int(version.split(".")[1])
    except (IndexError, ValueError):
        return -1


_T = TypeVar("_T")


class LazyItems(Generic[_T]):
    """A list of a document whose items are made when it is read, afresh each time (so it can
    be read more than once, and each item read may be changed by its reader).

    Iterable and sized, not indexable: readers of a document that may hold one iterate it.
    """

    __slots__ = ("_make", "_source")

    def __init__(self, source: Sequence[_T], make: Callable[[_T], dict[str, Any]]) -> None:
        self._source = source
        self._make = make

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._make, self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __repr__(self) -> str:
        return f"LazyItems({len(self._source)} items)"


class ChangeItems(LazyItems[Change]):
    """The ``changes`` of a :func:`plan_document`: each change's dict made when it is read. A
    renderer may read the plan's own changes instead (``changes``, with ``make`` for the dict of
    any of them): the text plan writes 100k grade lines without 100k dicts."""

    __slots__ = ()

    @property
    def changes(self) -> Sequence[Change]:
        return self._source

    def make(self, change: Change) -> dict[str, Any]:
        """The dict of one change, as iterating makes it."""
        return self._make(change)


def plan_to_document(plan: Plan) -> dict[str, Any]:
    """The plan as a plain, JSON-serialisable dict (format ``PLAN_FORMAT_VERSION``)."""
    doc = plan_document(plan)
    doc["changes"] = list(doc["changes"])
    return doc


def plan_document(plan: Plan) -> dict[str, Any]:
    """:func:`plan_to_document` with its ``changes`` as :class:`LazyItems` (each change's dict
    is made when it is read): for :func:`document_pieces` and the JSON renderer."""
    counts = plan.counts()
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "lmsctl_version": __version__,
        "created": plan.created,
        "api_url": plan.api_url,
        "district_id": plan.district_id,
        "lms_type": plan.lms_type,
        "state": {"lineage": plan.lineage, "serial": plan.serial},
        "manifests_digest": plan.manifests_digest,
        "options": _options_to_dict(plan),
        "summary": {
            "create": counts[Action.CREATE],
            "update": counts[Action.UPDATE],
            "grade": counts[Action.GRADE],
            "delete": counts[Action.DELETE],
            "move": counts[Action.MOVE],
            "unknown": counts[Action.UNKNOWN],
            "drift": len(plan.drift),
            "conflicts": len(plan.blocking_conflicts),
            "has_changes": plan.has_changes,
            "text": plan.summary(counts),
        },
        "changes": ChangeItems(plan.changes, _ChangeDicts().make),
        "drift": [asdict(d) for d in plan.drift],
        "conflicts": [
            {**asdict(c), "why": c.why.value, "reason": conflict_words(c.why)}
            for c in plan.conflicts
        ],
        "warnings": list(plan.warnings),
        "consents": [_consent_to_dict(n) for n in plan.consents],
        "approvals": [_approval_to_dict(a) for a in plan.approvals],
        "frozen": [_frozen_to_dict(f) for f in plan.frozen],
        "privacy": {"level": "full", "pseudonyms": None},
        "state_fixes": [
            {
                "address": f.address,
                "student": f.student,
                "set_fields": dict(f.set_fields),
                "drop_fields": list(f.drop_fields),
                "forget": f.forget,
                "protect": f.protect,
                "why": f.why.value if f.why is not None else None,
                "reason": REASON_WORDS[f.why] if f.why is not None else "",
                **({"clear_intents": list(f.clear_intents)} if f.clear_intents else {}),
                **({"clear_delete": True} if f.clear_delete else {}),
            }
            for f in plan.state_fixes
        ],
    }


def _listlike(value: Any) -> bool:
    """A JSON array: a list or tuple, or any other iterable that is not text or a mapping (a
    lazy list such as :class:`LazyItems`)."""
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _holds_lazy(value: Any) -> bool:
    return isinstance(value, Mapping) and any(
        _listlike(v) and not isinstance(v, list | tuple) for v in value.values()
    )


def joined_parts(pieces: Iterable[str], size: int, end: str = "") -> Iterator[str]:
    """The pieces and ``end``, joined into parts of about ``size`` characters (what the JSON
    output and the plan file write at a time)."""
    batch: list[str] = []
    held = 0
    for piece in pieces:
        batch.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(batch)
            batch, held = [], 0
    yield "".join(batch) + end


def document_pieces(
    doc: Mapping[str, Any], *, sort_keys: bool = False, ensure_ascii: bool = False
) -> Iterator[str]:
    """The text of ``json.dumps(doc, indent=2, sort_keys=sort_keys, ensure_ascii=ensure_ascii)``
    in pieces, with no newline at the end; a lazy list in it is read once, an item at a time.

    A piece is one value of ``doc`` or one item of a list in ``doc``, each written as
    ``json.dumps`` writes it (lmsctl.jsonwrite: the same escapes, numbers, separators and
    errors); a mapping in ``doc`` that holds a lazy list (a plan file's ``plan``) is written
    the same way one level down.
    """

    # what json.dumps(value, indent=2, ...) does, with one encoder for every piece
    encode = indented_encoder(2, sort_keys=sort_keys, ensure_ascii=ensure_ascii)

    def dumps(value: Any, depth: int) -> str:
        text = encode(value)
        # JSON never holds a raw newline inside a string: every newline is indentation
        return text.replace("\n", "\n" + "  " * depth) if depth else text

    def array(items: Iterable[Any], depth: int, head: str) -> Iterator[str]:
        inner = "\n" + "  " * (depth + 1)
        opened = False
        for item in items:
            yield ("," if opened else head + "[") + inner + dumps(item, depth + 1)
            opened = True
        yield "\n" + "  " * depth + "]" if opened else head + "[]"

    def obj(value: Mapping[str, Any], depth: int, head: str) -> Iterator[str]:
        pairs = sorted(value.items(), key=lambda kv: kv[0]) if sort_keys else value.items()
        inner = "\n" + "  " * (depth + 1)
        opened = False
        for key, item in pairs:
            at = ("," if opened else head + "{") + inner + encode(key)  # a str: its JSON string
            opened = True
            if _holds_lazy(item):
                yield from obj(item, depth + 1, at + ": ")
            elif _listlike(item):
                yield from array(item, depth + 1, at + ": ")
            else:
                yield at + ": " + dumps(item, depth + 1)
        yield "\n" + "  " * depth + "}" if opened else head + "{}"

    return obj(doc, 0, "")


def plan_from_document(doc: Mapping[str, Any]) -> Plan:
    """Rebuild a Plan from its document; StateError if the document is not one we can read.

    Its ``changes`` may already be Change objects (see :func:`change_from_dict`)."""
    version = str(doc.get("format_version", ""))
    if version.split(".")[0] != PLAN_FORMAT_VERSION.split(".")[0]:
        raise StateError(
            f"plan format {version or '(none)'} is not supported by this lmsctl "
            f"(reads {PLAN_FORMAT_VERSION})",
            hint="run lmsctl plan again with this version",
        )
    if _minor(version) < _minor(OLDEST_READABLE_PLAN_FORMAT):
        raise StateError(
            f"plan format {version} was written by an older lmsctl, which did not record the "
            "consents a plan needs (deleting student work, deleting most of a section) as data; "
            "this lmsctl will not carry it out",
            hint="run lmsctl plan again (with --out FILE) and apply the new plan",
        )
    level = (doc.get("privacy") or {}).get("level", "full")
    if level != "full":
        raise StateError(
            f"this plan document is {level}: it does not name the students apply writes to",
            hint="apply the plan file saved with lmsctl plan --out FILE (it is always full)",
        )
    try:
        state = doc.get("state") or {}
        return Plan(
            changes=tuple(
                c if isinstance(c, Change) else change_from_dict(c)  # read already: a Change
                for c in doc.get("changes", [])
            ),
            drift=tuple(Drift(**d) for d in doc.get("drift", [])),
            conflicts=tuple(
                Conflict(
                    **{k: v for k, v in c.items() if k not in ("reason", "why")},
                    why=ConflictReason(c["why"]),
                )
                for c in doc.get("conflicts", [])
            ),
            warnings=tuple(doc.get("warnings", [])),
            state_fixes=tuple(
                StateFix(
                    address=f["address"],
                    student=f.get("student"),
                    set_fields=dict(f.get("set_fields") or {}),
                    drop_fields=tuple(f.get("drop_fields") or ()),
                    forget=bool(f.get("forget", False)),
                    protect=f.get("protect"),
                    why=Reason(f["why"]) if f.get("why") else None,
                    clear_intents=tuple(f.get("clear_intents") or ()),
                    clear_delete=bool(f.get("clear_delete", False)),
                )
                for f in doc.get("state_fixes", [])
            ),
            consents=tuple(_consent_from_dict(n) for n in doc["consents"]),
            approvals=tuple(
                ApprovalNeed(
                    rule=ApprovalRule(a["rule"]),
                    address=str(a["address"]),
                    drop=float(a["drop"]) if a.get("drop") is not None else None,
                )
                for a in doc.get("approvals") or []
            ),
            frozen=tuple(
                FrozenChange(
                    window=str(f["window"]), address=str(f["address"]), allowed=bool(f["allowed"])
                )
                for f in doc.get("frozen") or []
            ),
            lineage=state.get("lineage", ""),
            serial=int(state.get("serial", 0)),
            api_url=doc.get("api_url", ""),
            district_id=doc.get("district_id", ""),
            lms_type=doc.get("lms_type", ""),
            manifests_digest=doc.get("manifests_digest", ""),
            created=doc.get("created", ""),
            **_options_from_dict(doc.get("options") or {}),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise StateError(f"the plan file is damaged: {exc}", hint="run lmsctl plan again") from exc
