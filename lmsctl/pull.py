"""``lmsctl pull``: write teachers' edits made in the LMS back into the manifests.

Two kinds of LMS edits come back into the YAML:

- drift: a managed field (of an assignment or of a grade) somebody changed in the LMS since
  lmsctl applied it (the plan's drift list): the manifest value becomes the LMS's;
- grades set in the LMS that the manifests do not hold (a teacher graded in Canvas): each is
  added under the assignment's ``grades:``, keyed by Clever user id.

Conflicts (changed both in the manifests and in the LMS, or a manifest grade that differs from
one lmsctl never applied) are left alone and reported: pull never overwrites a manifest change.

Edits are made on the file's text at the exact spans PyYAML's composer reports for the values
(replacing a value, or adding lines after a mapping's last line), so comments, key order,
quoting and every other byte of the file stay as they were; each edited file is parsed again
and checked to hold exactly the intended values before it is written (atomically). A field a
section's ``defaults`` sets is written into the assignment itself (the other assignments keep
the default). Afterwards the manifests match the LMS, so the next plan says "No changes"; state
is left as it is (the next apply records the values as applied), so an edit pulled and then
discarded still shows as drift instead of being reverted as an ordinary update.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmsctl.addresses import Address, matches_targets
from lmsctl.errors import ConfigError, Diagnostic
from lmsctl.manifest.config import display_path
from lmsctl.model import GRADE_FIELDS, AssignmentSpec
from lmsctl.plan.model import Drift, Plan
from lmsctl.plan.words import conflict_words
from lmsctl.privacy import (
    PrivacyChoice,
    StudentDirectory,
    resolve_privacy,
)
from lmsctl.refresh import LiveState
from lmsctl.render.pull import (
    EditKind,
    FileChange,
    PullEdit,
    PullResult,
    PullSkip,
)
from lmsctl.roster import Roster
from lmsctl.schema_files import write_atomically
from lmsctl.state.model import ResourceStatus, StateSnapshot
from lmsctl.usecases.entry import manifest_grades, yaml_value
from lmsctl.workspace import Workspace, WorkspaceOptions
from lmsctl.yamledit import compose, end_of_block

Path_ = tuple[Any, ...]


# -- where values are in a file ---------------------------------------------------------------


@dataclass
class _Doc:
    path: Path
    text: str
    root: yaml.MappingNode
    #: (line, col), 1-based, of every value node -> its path
    at: dict[tuple[int, int], Path_] = field(default_factory=dict)
    edits: list[tuple[int, int, str, int]] = field(default_factory=list)  # start, end, text, order
    expect: list[tuple[Path_, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> _Doc:
        text = path.read_text(encoding="utf-8")
        root = compose(text)
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError(f"{display_path(path)} is not a mapping")
        doc = cls(path, text, root)
        doc._index(root, ())
        return doc

    def _index(self, node: yaml.Node, path: Path_) -> None:
        self.at.setdefault((node.start_mark.line + 1, node.start_mark.column + 1), path)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self._index(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, (*path, i))

    def node(self, path: Path_) -> yaml.Node | None:
        node: yaml.Node = self.root
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = [v for k, v in node.value if k.value == part]
                if not found:
                    return None
                node = found[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                node = node.value[part]
            else:
                return None
        return node

    def replace(self, node: yaml.Node, rendered: str, order: int) -> None:
        start, end = node.start_mark.index, node.end_mark.index
        span = self.text[start:end]
        trailing = span[len(span.rstrip()) :]  # a block scalar's line breaks stay
        self.edits.append((start, end, rendered + trailing, order))

    def append_to(self, mapping: yaml.MappingNode, lines: str, order: int) -> None:
        """Add ``lines`` (indented already) after the block mapping's last line."""
        at = end_of_block(self.text, mapping)
        self.edits.append((at, at, lines, order))

    def result(self) -> str:
        text = self.text
        for start, end, new, _ in sorted(self.edits, key=lambda e: (e[0], e[3]), reverse=True):
            before = text[:start]
            if start == end and before and not before.endswith("\n"):
                before += "\n"
            text = before + new + text[end:]
        return text


def _inline(name: str, value: Any, timezone: str) -> str:
    """A value as one line of YAML, fit to stand where another value stood."""
    shown = yaml_value(name, value, timezone)
    if isinstance(shown, str) and "\n" in shown:
        return json.dumps(shown, ensure_ascii=False)  # a double-quoted YAML scalar
    text = yaml.safe_dump(
        shown, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False
    )
    return text.removesuffix("...\n").rstrip("\n")


def _same_quotes(node: yaml.ScalarNode, name: str, value: Any, timezone: str, default: str) -> str:
    """A new string in the quotes the old one was written in."""
    shown = yaml_value(name, value, timezone)
    if not isinstance(shown, str) or "\n" in shown:
        return default
    if node.style == '"':
        return json.dumps(shown, ensure_ascii=False)
    if node.style == "'":
        return "'" + shown.replace("'", "''") + "'"
    return default


def _parse_source(source: str) -> tuple[Path, int, int] | None:
    file, _, rest = source.rpartition(":")
    file, _, line = file.rpartition(":")
    try:
        return Path(os.path.abspath(file)), int(line), int(rest)
    except ValueError:
        return None


# -- the use case -----------------------------------------------------------------------------


async def _read(
    ws: Workspace, targets: tuple[Address, ...]
) -> tuple[Plan, LiveState, StateSnapshot, dict[str, dict[str, dict[str, Any]]]]:
    """The plan (drift, conflicts) and every tracked assignment's submissions."""
    try:
        plan, live, snapshot = await ws.make_plan(targets=targets, all_submissions=True)
        subs: dict[str, dict[str, dict[str, Any]]] = {
            a: {u: dict(s) for u, s in m.items()} for a, m in live.submissions.items()
        }
        missing = []
        for spec in ws.desired.assignments():
            record = snapshot.resources.get(spec.address)
            if (
                record is None
                or record.status is not ResourceStatus.CREATED
                or not record.assignment_id
                or live.assignments.get(spec.address) is None
                or spec.address in subs
                or not matches_targets(spec.address, list(targets))
            ):
                continue
            missing.append((spec.address, record.section_id, record.assignment_id))
        client = ws.client()
        lists = await asyncio.gather(*(client.list_submissions(s, a) for _, s, a in missing))
        for (address, _, _), items in zip(missing, lists, strict=True):
            subs[address] = {str(i.get("user_id")): dict(i) for i in items if i.get("user_id")}
        return plan, live, snapshot, subs
    finally:
        await ws.aclose()


def _resolved_students(spec: AssignmentSpec, roster: Roster | None) -> set[str]:
    out: set[str] = set()
    for grade in spec.grades:
        if grade.student.is_id:
            out.add(grade.student.value)
        elif roster is not None:
            uid, _ = roster.resolve(grade.student)
            if uid is not None:
                out.add(uid)
    return out


class _Editor:
    """The edits of one pull, gathered per file before anything is written."""

    def __init__(self, ws: Workspace, plan: Plan) -> None:
        self.timezone = ws.desired.config.timezone
        self.docs: dict[Path, _Doc] = {}
        self.edits: list[PullEdit] = []
        self.skipped = [
            PullSkip(c.address, c.field, f"conflict: {conflict_words(c.why)}; resolve it by hand")
            for c in plan.conflicts
        ]
        self.order = 0
        self.specs: dict[str, AssignmentSpec] = {a.address: a for a in ws.desired.assignments()}
        self.files = {s.section_id: Path(os.path.abspath(s.file)) for s in ws.desired.sections}

    def doc_of(self, path: Path) -> _Doc:
        if path not in self.docs:
            self.docs[path] = _Doc.read(path)
        return self.docs[path]

    def skip(self, address: str, field: str, reason: str) -> None:
        self.skipped.append(PullSkip(address, field, reason))

    def drift(self, drift: Drift) -> None:
        """The manifest value becomes the LMS's, where the plan found the value written."""
        self.order += 1
        located = _parse_source(drift.source)
        spec = self.specs.get("/".join(drift.address.split("/")[:2]))
        if located is None or spec is None:
            self.skip(drift.address, drift.field, "not found in the manifests")
            return
        path, line, col = located
        if path.suffix.lower() == ".csv":
            reason = f"in the gradebook {display_path(path)}: change it there"
            self.skip(drift.address, drift.field, reason)
            return
        doc = self.doc_of(path)
        where = doc.at.get((line, col))
        node = doc.node(where) if where is not None else None
        if where is None or node is None:
            self.skip(drift.address, drift.field, "not found in the manifests")
            return
        rendered = _inline(drift.field, drift.live, self.timezone)
        if isinstance(node, yaml.ScalarNode):
            rendered = _same_quotes(node, drift.field, drift.live, self.timezone, rendered)
        if where[:1] == ("defaults",):
            # the section's default: write the LMS value into this assignment only
            target = doc.node(("assignments", spec.key))
            if not isinstance(target, yaml.MappingNode) or target.flow_style:
                self.skip(drift.address, drift.field, "the assignment is not a block mapping")
                return
            indent = " " * target.value[0][0].start_mark.column
            doc.append_to(target, f"{indent}{drift.field}: {rendered}\n", self.order)
            doc.expect.append((("assignments", spec.key, drift.field), _load(rendered)))
        else:
            doc.replace(node, rendered, self.order)
            doc.expect.append((where, _load(rendered)))
        _note(self.edits, drift, EditKind.DRIFT, display_path(path))

    def new_grades(self, spec: AssignmentSpec, new: Mapping[str, Mapping[str, Any]]) -> None:
        """Add grades set in the LMS under the assignment's ``grades:`` (keyed by user id)."""
        address, tz = spec.address, self.timezone
        path = self.files[spec.section_id]
        doc = self.doc_of(path)
        target = doc.node(("assignments", spec.key))
        if not isinstance(target, yaml.MappingNode) or target.flow_style:
            for uid in new:
                self.skip(f"{address}/grades/{uid}", "", "the assignment is not a block mapping")
            return
        grades = doc.node(("assignments", spec.key, "grades"))
        key_indent = target.value[0][0].start_mark.column

        def lines(indent: int) -> str:
            return "".join(
                f"{' ' * indent}{uid}: {_inline_grade(fields, tz)}\n" for uid, fields in new.items()
            )

        self.order += 1
        if grades is None:
            doc.append_to(target, f"{' ' * key_indent}grades:\n{lines(key_indent + 2)}", self.order)
        elif isinstance(grades, yaml.MappingNode) and not grades.flow_style and grades.value:
            doc.append_to(grades, lines(grades.value[0][0].start_mark.column), self.order)
        elif isinstance(grades, yaml.MappingNode) and not grades.value:
            inline = ", ".join(f"{uid}: {_inline_grade(f, tz)}" for uid, f in new.items())
            doc.replace(grades, "{" + inline + "}", self.order)
        else:
            for uid in new:
                self.skip(f"{address}/grades/{uid}", "", "grades: is not a block mapping")
            return
        for uid, fields in new.items():
            path_ = ("assignments", spec.key, "grades", uid)
            doc.expect.append((path_, _load(_inline_grade(fields, tz))))
            self.edits.append(
                PullEdit(
                    EditKind.NEW_GRADE,
                    f"{address}/grades/{uid}",
                    None,
                    None,
                    dict(fields),
                    display_path(path),
                )
            )

    def changes(self) -> list[FileChange]:
        """Each edited file's new text, checked to hold exactly the intended values."""
        out = []
        for path, doc in self.docs.items():
            if not doc.edits:
                continue
            after = doc.result()
            _check(doc, after)
            out.append(FileChange(path, doc.text, after))
        return out


def _new_grades(
    ws: Workspace,
    plan: Plan,
    live: LiveState,
    snapshot: StateSnapshot,
    subs: Mapping[str, Mapping[str, Mapping[str, Any]]],
    targets: tuple[Address, ...],
) -> list[tuple[AssignmentSpec, dict[str, dict[str, Any]]]]:
    """Per tracked assignment, the grades set in the LMS that the manifests do not hold."""
    drifted = {d.address for d in plan.drift}
    out = []
    for spec in sorted(ws.desired.assignments(), key=lambda s: s.address):
        address = spec.address
        if snapshot.resources.get(address) is None or address not in subs:
            continue
        have = _resolved_students(spec, _roster(live, spec.section_id))
        found = manifest_grades(list(subs[address].values()))
        new = {
            uid: fields
            for uid, fields in found.items()
            if uid not in have
            and f"{address}/grades/{uid}" not in drifted
            and matches_targets(f"{address}/grades/{uid}", list(targets))
        }
        if new:
            out.append((spec, new))
    return out


def pull(ws: Workspace, targets: tuple[Address, ...] = (), *, dry_run: bool = False) -> PullResult:
    """Write LMS edits into the manifests (state locked by the caller: use ``with ws``)."""
    plan, live, snapshot, subs = asyncio.run(_read(ws, targets))
    editor = _Editor(ws, plan)
    for drift in plan.drift:
        editor.drift(drift)
    for spec, new in _new_grades(ws, plan, live, snapshot, subs, targets):
        editor.new_grades(spec, new)
    changes = editor.changes()
    edits, skipped = tuple(editor.edits), tuple(editor.skipped)
    if dry_run or not changes:
        return PullResult(edits, skipped, tuple(changes), written=False)
    for change in changes:
        try:
            write_atomically(change.path, change.after)
        except OSError as exc:
            raise ConfigError(
                f"cannot write {display_path(change.path)}: {exc.strerror or exc}",
                hint="make the manifests writable, then pull again",
            ) from exc
    # State is not touched: the manifests now match the LMS, so plan says "No changes", and
    # the next apply records these values as applied (a state fix, no API call). Were state
    # written here, discarding the pulled edit would turn the teacher's change into a plain
    # update that the next apply reverts without a drift warning.
    return PullResult(edits, skipped, tuple(changes), written=True)


def _roster(live: LiveState, section_id: str) -> Roster | None:
    users = live.rosters.get(section_id)
    return Roster.from_users(section_id, users) if users is not None else None


def _inline_grade(fields: Mapping[str, Any], timezone: str) -> str:
    shown = {f: yaml_value(f, v, timezone) for f, v in fields.items() if f in GRADE_FIELDS}
    text = yaml.safe_dump(
        shown, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False
    )
    return text.rstrip("\n")


_MISSING = object()


def _load(text: str) -> Any:
    return yaml.safe_load(text)


def _note(edits: list[PullEdit], drift: Drift, kind: EditKind, file: str) -> None:
    edits.append(PullEdit(kind, drift.address, drift.field, drift.desired, drift.live, file))


def _check(doc: _Doc, after: str) -> None:
    """The edited text must parse, keep its other values, and hold the new ones."""
    try:
        before_data = yaml.safe_load(doc.text)
        after_data = yaml.safe_load(after)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"pull would leave {display_path(doc.path)} unreadable; nothing was written",
            hint="edit the file by hand",
        ) from exc
    changed = {p for p, _ in doc.expect}

    def walk(a: Any, b: Any, path: Path_) -> bool:
        if path in changed:
            return True
        if isinstance(a, dict) and isinstance(b, dict):
            keys = set(a) | set(b)
            extra = {k for k in set(b) - set(a) if (*path, k) in changed}
            return all(walk(a.get(k), b.get(k), (*path, k)) for k in keys - extra)
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            return all(walk(x, y, (*path, i)) for i, (x, y) in enumerate(zip(a, b, strict=True)))
        return bool(a == b)

    def get(data: Any, path: Path_) -> Any:
        for part in path:
            in_map = isinstance(data, dict) and part in data
            in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
            if in_map or in_list:
                data = data[part]
            else:
                return _MISSING
        return data

    if not walk(before_data, after_data, ()) or any(
        get(after_data, p) != want for p, want in doc.expect
    ):
        raise ConfigError(
            f"pull could not edit {display_path(doc.path)} safely; nothing was written",
            hint="edit the file by hand",
        )


__all__ = [
    "EditKind",
    "FileChange",
    "PullEdit",
    "PullResult",
    "PullSkip",
    "pull",
]


#: told the run's privacy level, the students it may name and the manifests' warnings before
#: anything is read from the LMS (so errors from there on obey the level)
PullStart = Callable[[PrivacyChoice, StudentDirectory, Sequence[Diagnostic]], None]


def pull_root(
    options: WorkspaceOptions,
    targets: tuple[Address, ...] = (),
    *,
    dry_run: bool = False,
    privacy: str | None = None,
    fmt: str = "text",
    env: Mapping[str, str],
    start: PullStart,
) -> PullResult:
    """The ``lmsctl pull`` use case: open the root, say how private the run is, pull."""
    ws = Workspace.open(options)
    choice = resolve_privacy(privacy, ws.desired.config.privacy, fmt=fmt, env=env)
    directory = StudentDirectory()
    directory.add_desired(ws.desired)
    start(choice, directory, ws.warnings)
    with ws:
        return pull(ws, targets, dry_run=dry_run)
