"""Refresh: read from the LMS only what the plan needs.

(DesiredState, StateSnapshot, LmsClient) -> LiveState, with the minimum number of calls:
- the district, once (``lms_state``, ``lms_type``);
- one roster listing per section that the plan grades or assigns to students (pages of
  :data:`~lmsctl.roster.ROSTER_PAGE_LIMIT`, the Data API's largest, so one call per section of
  up to 10,000 students): roster references resolve against it, and a grade or assignee written
  as a plain Clever id for a student who is not enrolled is refused at plan (the LMS would
  answer 404 ``User not found`` half-way through apply, after creating the assignment);
- one GET per assignment that state tracks as created (none for assignments not yet created);
- the submissions listing (all pages) only for tracked assignments whose grades are managed now or
  were before, and for those about to be deleted (to count the student work a delete destroys).
Calls run concurrently; the client's shared rate limiter keeps them under the API's limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from sys import intern
from typing import Any, Protocol, TypeVar

from lmsctl.addresses import Address, matches_targets
from lmsctl.client.concurrency import READ_MAX_IN_FLIGHT, AdaptiveGate, request_rate
from lmsctl.errors import ApiNotFoundError, Diagnostic, PlanError
from lmsctl.heap import collector_paused
from lmsctl.lms import LmsProfile, profile
from lmsctl.model import AssignmentSpec, DesiredState, SectionSpec
from lmsctl.roster import ROSTER_PAGE_LIMIT
from lmsctl.state.model import ResourceStatus, StateSnapshot

T = TypeVar("T")


#: progress callback: (what, done, total)
ProgressFn = Callable[[str, int, int], None]


class LiveReader(Protocol):
    """The part of LmsClient that refresh uses (a fake in tests)."""

    async def get_my_district(self) -> dict[str, Any]: ...
    async def get_district(self, district_id: str) -> dict[str, Any]: ...
    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]: ...
    async def list_submissions(
        self,
        section_id: str,
        assignment_id: str,
        limit: int = 100,
        *,
        only: frozenset[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every submission of the assignment, one per student; with ``only``, just those
        students', each as ``lmsctl.client.listing.compact_submission`` makes it (refresh
        keeps what this returns)."""
        ...

    async def list_section_users(
        self, section_id: str, role: str = "student", limit: int = 100, *, compact: bool = False
    ) -> list[dict[str, Any]]:
        """A section's users with ``role``; with ``compact``, each as ``compact_user`` makes it
        (refresh keeps what this returns)."""
        ...


@dataclass(frozen=True)
class District:
    """The district the token acts for, as the plan reads it (GET /districts)."""

    id: str = ""
    name: str = ""
    #: Clever's ``lms_type`` as it answered it (``profile(lms_type)`` knows what it implies)
    lms_type: str = ""
    #: ``success`` once Clever has connected and matched the LMS (writes are refused before)
    lms_state: str = ""
    #: the whole object as the API answered it (plan files keep it as it came)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> District:
        return cls(
            id=str(obj.get("id") or ""),
            name=str(obj.get("name") or ""),
            lms_type=str(obj.get("lms_type") or ""),
            lms_state=str(obj.get("lms_state") or ""),
            raw=dict(obj),
        )

    @property
    def lms(self) -> LmsProfile:
        return profile(self.lms_type)

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the API's object, as a mapping would (for readers not moved to the
        typed fields yet)."""
        return self.raw.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class LiveState:
    """What the LMS holds now, for the addresses the plan looks at.

    ``assignments`` maps an address to the assignment object, or None when the LMS answered 404
    (deleted in the LMS). ``submissions`` maps an address to {user id: submission}. ``rosters``
    maps a section id to its students (Data API user objects, unwrapped). ``teachers`` maps a
    section id to its teachers' ids, read only for sections whose grades name a ``grader_id``.
    """

    district: District = field(default_factory=District)
    assignments: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    submissions: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    rosters: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    teachers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.district, District):  # the API's object, as tests write it
            object.__setattr__(self, "district", District.from_api(self.district))

    def to_dict(self) -> dict[str, Any]:
        return {
            "district": self.district.to_dict(),
            "assignments": {
                k: (dict(v) if v is not None else None) for k, v in self.assignments.items()
            },
            "submissions": {
                k: {u: dict(s) for u, s in v.items()} for k, v in self.submissions.items()
            },
            "rosters": {k: [dict(u) for u in v] for k, v in self.rosters.items()},
            "teachers": {k: list(v) for k, v in self.teachers.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LiveState:
        return cls(
            district=District.from_api(d.get("district") or {}),
            assignments={k: v for k, v in (d.get("assignments") or {}).items()},
            submissions={k: dict(v) for k, v in (d.get("submissions") or {}).items()},
            rosters={k: tuple(v) for k, v in (d.get("rosters") or {}).items()},
            teachers={k: tuple(v) for k, v in (d.get("teachers") or {}).items()},
        )


@dataclass(frozen=True)
class RefreshScope:
    """Which reads a refresh makes (computed from desired + state, before any call)."""

    assignments: tuple[tuple[str, str, str], ...]  # (address, section id, assignment id)
    submissions: tuple[tuple[str, str, str], ...]
    rosters: tuple[str, ...]
    #: sections whose grades name a grader_id (Clever refuses one who is not their teacher)
    teachers: tuple[str, ...] = ()


def refresh_scope(
    desired: DesiredState,
    snapshot: StateSnapshot,
    targets: Iterable[Address] = (),
) -> RefreshScope:
    """Decide the minimum set of reads for a plan."""
    target_list = list(targets)
    wanted: dict[str, AssignmentSpec] = {a.address: a for a in desired.assignments()}
    moved_sources = {
        f"{a.section_id}/{a.moved_from}": a for a in desired.assignments() if a.moved_from
    }
    assignments: list[tuple[str, str, str]] = []
    submissions: list[tuple[str, str, str]] = []
    for address, record in sorted(snapshot.resources.items()):
        if record.status is not ResourceStatus.CREATED or not record.assignment_id:
            continue
        spec = wanted.get(address) or moved_sources.get(address)
        effective = spec.address if spec is not None else address
        if not matches_targets(effective, target_list):
            continue
        assignments.append((address, record.section_id, record.assignment_id))
        deleting = spec is None
        if deleting or (spec is not None and spec.manages_grades) or record.grades:
            submissions.append((address, record.section_id, record.assignment_id))
    rosters = tuple(sorted(s.section_id for s in desired.sections if _needs_roster(s, target_list)))
    teachers = tuple(
        sorted(
            s.section_id
            for s in desired.sections
            if any(
                g.fields.get("grader_id") is not None
                for a in s.assignments
                if matches_targets(a.address, target_list)
                for g in a.grades
            )
        )
    )
    return RefreshScope(tuple(assignments), tuple(submissions), rosters, teachers)


def _needs_roster(section: SectionSpec, targets: list[Address]) -> bool:
    """True when a targeted assignment of the section names students (grades or assignees).

    Every student named must be enrolled, whether written as a reference or as a Clever id, so
    the roster is read for both; a section whose assignments name no student costs no call.
    """
    return any(
        (a.grades or a.assignee_refs) and matches_targets(a.address, targets)
        for a in section.assignments
    )


class _Gate:
    """Reads in flight as the adaptive gate allows (Little's law, up to the cap), each counted
    for the progress display."""

    def __init__(self, gate: AdaptiveGate, total: int, progress: ProgressFn | None) -> None:
        self._gate = gate
        self._total = total
        self._done = 0
        self._progress = progress

    async def run_all(self, jobs: list[Callable[[], Awaitable[Any]]], width: int) -> list[Any]:
        """Each job's result, run through the gate in the order given, by at most ``width``
        workers (a task for each worker, not for each read: a 100k-grade plan makes 10,000).
        The first failure is raised, and the reads not yet started are not made."""
        results: list[Any] = [None] * len(jobs)
        todo = iter(enumerate(jobs))

        async def worker() -> None:
            for i, job in todo:
                results[i] = await self.run(job)

        workers = [asyncio.ensure_future(worker()) for _ in range(max(1, min(width, len(jobs))))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()  # (after a failure, or a cancellation: nothing is left running)
        return results

    async def run(self, job: Callable[[], Awaitable[T]]) -> T:
        # The read is created only once through the gate: a coroutine made up front and then
        # cancelled (Ctrl-C) while it waited would be "never awaited", a warning on stderr.
        async with self._gate.slot():
            result = await job()
        self._done += 1
        if self._progress is not None:
            self._progress("refresh", self._done, self._total)
        return result


@dataclass(frozen=True)
class _Reads:
    """Each kind of read refresh makes; a 404 reads as None (gone, or not shared)."""

    reader: LiveReader
    district_id: str | None

    async def district(self) -> District:
        if self.district_id:
            try:
                return District.from_api(await self.reader.get_district(self.district_id))
            except ApiNotFoundError as exc:
                raise PlanError(
                    f"district {self.district_id} (lmsctl.yaml's district) was not found: "
                    "the token does not act for it",
                    hint="check district in lmsctl.yaml, or remove it to use the token's own",
                ) from exc
        return District.from_api(await self.reader.get_my_district())

    async def assignment(self, section_id: str, assignment_id: str) -> dict[str, Any] | None:
        try:
            return await self.reader.get_assignment(section_id, assignment_id)
        except ApiNotFoundError:
            return None

    async def submissions(
        self, section_id: str, assignment_id: str, only: frozenset[str] | None = None
    ) -> dict[str, dict[str, Any]] | None:
        """{user id: submission}; with ``only``, just those students' (the listing picks them
        as its pages come: a district's plan would otherwise hold every enrolled student's
        submission of every assignment, most of them ungraded)."""
        try:
            items = await self.reader.list_submissions(section_id, assignment_id, only=only)
        except ApiNotFoundError:
            return None
        if only is not None:
            # (the listing kept only those students', and of each the fields a plan compares,
            # a tenth of what the API sends: compact_submission)
            return {intern(str(s.get("user_id"))): s for s in items}
        return {str(s.get("user_id")): s for s in items}

    async def roster(self, section_id: str) -> tuple[dict[str, Any], ...] | None:
        try:
            users = await self.reader.list_section_users(
                section_id, role="student", limit=ROSTER_PAGE_LIMIT, compact=True
            )
            return tuple(users)  # (each as compact_user makes it: a tenth of the object)
        except ApiNotFoundError:
            return None  # not in the district, or not shared with the token

    async def teachers(self, section_id: str) -> tuple[str, ...] | None:
        try:
            users = await self.reader.list_section_users(
                section_id, role="teacher", limit=ROSTER_PAGE_LIMIT
            )
        except ApiNotFoundError:
            return None
        return tuple(str(u.get("id")) for u in users if u.get("id"))


async def refresh(
    reader: LiveReader,
    desired: DesiredState,
    snapshot: StateSnapshot,
    *,
    targets: Iterable[Address] = (),
    district_id: str | None = None,
    max_in_flight: int = READ_MAX_IN_FLIGHT,
    progress: ProgressFn | None = None,
    all_submissions: bool = True,
) -> LiveState:
    """Read the live values the plan needs, concurrently: as many reads in flight as the
    reader's rate limit and the observed latency need (at most ``max_in_flight``).

    With ``all_submissions`` False, the submissions of an assignment the manifests still hold
    are kept only for the students its grades name (what a plan compares); those of an
    assignment to delete are all kept (a delete counts the student work it destroys).
    """
    scope = refresh_scope(desired, snapshot, targets)
    only = {} if all_submissions else _graded_students(desired)
    total = (
        1
        + len(scope.assignments)
        + len(scope.submissions)
        + len(scope.rosters)
        + len(scope.teachers)
    )
    adaptive = AdaptiveGate(cap=max_in_flight, rate=request_rate(reader))
    gate = _Gate(adaptive, total, progress)
    reads = _Reads(reader, district_id)
    # (in this order: the district's read has always been the last to start)
    jobs: list[Callable[[], Awaitable[Any]]] = [
        *(partial(reads.assignment, s, a) for _, s, a in scope.assignments),
        *(partial(reads.submissions, s, a, only.get(addr)) for addr, s, a in scope.submissions),
        *(partial(reads.roster, s) for s in scope.rosters),
        *(partial(reads.teachers, s) for s in scope.teachers),
        reads.district,
    ]
    try:
        # (the answers are parsed into containers that form no cycles; with the collector on,
        # its passes walk the manifests' and the state's objects again and again: at 100k
        # grades a tenth of refresh's CPU. Paused as loading and the plan builder pause it.)
        with collector_paused():
            results = await gate.run_all(jobs, width=max_in_flight)
    finally:
        adaptive.close()
    na, ns, nr = len(scope.assignments), len(scope.submissions), len(scope.rosters)
    assignment_objs, submission_maps = results[:na], results[na : na + ns]
    roster_lists, teacher_lists = results[na + ns : na + ns + nr], results[na + ns + nr : -1]
    district_obj: District = results[-1]
    _check_sections_found(desired, dict(zip(scope.rosters, roster_lists, strict=True)))
    return LiveState(
        district=district_obj,
        assignments={
            addr: obj for (addr, _, _), obj in zip(scope.assignments, assignment_objs, strict=True)
        },
        submissions={
            addr: m
            for (addr, _, _), m in zip(scope.submissions, submission_maps, strict=True)
            if m is not None
        },
        rosters={
            sid: users
            for sid, users in zip(scope.rosters, roster_lists, strict=True)
            if users is not None
        },
        teachers={
            sid: ids
            for sid, ids in zip(scope.teachers, teacher_lists, strict=True)
            if ids is not None
        },
    )


def _graded_students(desired: DesiredState) -> dict[str, frozenset[str]]:
    """Address (and moved_from's old address) -> the Clever ids its grades name, for each
    assignment whose grades all name students by Clever id (references need the roster)."""
    out: dict[str, frozenset[str]] = {}
    for spec in desired.assignments():
        if not all(g.student.is_id for g in spec.grades):
            continue
        ids = frozenset(g.student.value for g in spec.grades)
        out[spec.address] = ids
        if spec.moved_from:
            out[f"{spec.section_id}/{spec.moved_from}"] = ids
    return out


def _check_sections_found(
    desired: DesiredState, rosters: Mapping[str, tuple[dict[str, Any], ...] | None]
) -> None:
    diags = [
        Diagnostic.at(
            section.pos,
            f"section {section.section_id} was not found: it is not in this district, "
            "or not shared with this token (Clever answered 404 for its roster)",
            "check the section id; the district's sections are in the Clever dashboard",
            where="section:",
            rule="plan",
        )
        for section in desired.sections
        if section.section_id in rosters and rosters[section.section_id] is None
    ]
    if diags:
        raise PlanError(f"the plan cannot be made: {len(diags)} error(s)", diagnostics=diags)
