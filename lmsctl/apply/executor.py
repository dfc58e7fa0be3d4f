"""Executor: carry out a Plan against the LMS, saving state after every successful call.

Phases, in order: move (state only) -> create -> update -> grade -> delete -> state fixes.
Within a phase, calls run concurrently up to ``parallelism`` under the client's shared rate
limiter. Safety rules:
- before each POST the intent is written to state (status ``pending``); if the answer is lost the
  address becomes ``unknown`` and is never re-created automatically;
- state is written after every successful call, so a crash loses nothing the API acknowledged;
- a failed create skips its grades; independent changes go on;
- with a saved plan, each write is skipped when the live value moved since the plan was reviewed;
- on stop (Ctrl-C / SIGTERM) no new call starts, in-flight ones finish (bounded wait), and
  state is saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lmsctl.errors import (
    ApiError,
    ApiNotFoundError,
    LmsctlError,
    OutcomeUnknownError,
    PlanError,
    StateError,
    StateSaveError,
)
from lmsctl.plan.builder import delete_impact, field_fingerprint, impact_fingerprint
from lmsctl.plan.model import Action, Change, Plan
from lmsctl.state.backend import StateBackend
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot
from lmsctl.timeutil import format_api_datetime, utcnow


class LmsWriter(Protocol):
    """The part of LmsClient the executor uses."""

    async def create_assignment(self, section_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def get_assignment(self, section_id: str, assignment_id: str) -> dict[str, Any]: ...
    async def update_assignment(
        self, section_id: str, assignment_id: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...
    async def delete_assignment(self, section_id: str, assignment_id: str) -> None: ...
    async def list_submissions(
        self, section_id: str, assignment_id: str, limit: int = 100
    ) -> list[dict[str, Any]]: ...
    async def update_submission(
        self, section_id: str, assignment_id: str, user_id: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...


class Outcome(enum.StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # not attempted: what it needed failed, or the run was stopped
    UNKNOWN = "unknown"  # a create whose answer was lost
    MOVED = "moved"  # the live value changed since the saved plan was reviewed


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ApplyEvent:
    """Sent to the view as each change ends (like Terraform's hooks)."""

    result: ChangeResult
    done: int
    total: int


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 10
    allow_destroy_submissions: bool = False
    recheck: bool = False  # a saved plan: re-check each change's live fingerprint first
    stop_wait: float = 30.0  # seconds in-flight calls may take to finish after a stop


@dataclass
class ApplyResult:
    results: list[ChangeResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, action: Action, outcome: Outcome = Outcome.DONE) -> int:
        return sum(1 for r in self.results if r.change.action is action and r.outcome is outcome)

    @property
    def outcomes(self) -> Counter[Outcome]:
        return Counter(r.outcome for r in self.results)

    @property
    def ok(self) -> bool:
        bad = {Outcome.FAILED, Outcome.UNKNOWN, Outcome.MOVED}
        return not self.interrupted and not any(r.outcome in bad for r in self.results)

    def summary(self) -> str:
        done = (
            f"{self.count(Action.CREATE)} created, {self.count(Action.UPDATE)} updated, "
            f"{self.count(Action.GRADE)} grades set, {self.count(Action.DELETE)} deleted"
        )
        n = self.outcomes
        problems = []
        if n[Outcome.FAILED]:
            problems.append(f"{n[Outcome.FAILED]} failed")
        if n[Outcome.UNKNOWN]:
            problems.append(f"{n[Outcome.UNKNOWN]} with unknown outcome")
        if n[Outcome.MOVED]:
            problems.append(f"{n[Outcome.MOVED]} moved since review")
        if n[Outcome.SKIPPED]:
            problems.append(f"{n[Outcome.SKIPPED]} not done")
        took = f" in {self.seconds:.1f} s."
        if self.interrupted:
            return f"Apply interrupted: {done}; " + ", ".join(problems) + took
        if problems:
            return f"Apply finished with errors: {done}; " + ", ".join(problems) + took
        return f"Apply complete: {done}{took}"


EventFn = Callable[[ApplyEvent], None]


def check_consent(plan: Plan, options: ApplyOptions) -> None:
    """Refuse what destroys student work unless --allow-destroy-submissions was given."""
    if plan.blocking_conflicts:
        raise PlanError(
            f"the plan has {len(plan.blocking_conflicts)} conflict(s); nothing was changed",
            hint="resolve them in the manifests, or re-run with --force to overwrite the LMS",
        )
    if options.allow_destroy_submissions:
        return
    risky = [
        c
        for c in plan.changes
        if c.action is Action.DELETE and c.impact is not None and c.impact.holds_student_work
    ]
    mass = [w for w in plan.warnings if "--allow-destroy-submissions" in w]
    if risky or mass:
        lines = [
            f"{c.address} ({c.name!r}): {c.impact.turned_in} turned in, {c.impact.graded} graded"
            for c in risky
            if c.impact is not None
        ]
        detail = "; ".join(lines + mass)
        raise PlanError(
            f"refusing to delete student work: {detail}; nothing was changed",
            hint="re-run with --allow-destroy-submissions if that is really meant",
        )


class Executor:
    """Runs a plan's changes phase by phase and keeps state in step with every success."""

    def __init__(
        self,
        plan: Plan,
        client: LmsWriter,
        backend: StateBackend,
        snapshot: StateSnapshot,
        options: ApplyOptions | None = None,
        *,
        district_id: str = "",
        on_event: EventFn | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.backend = backend
        self.snapshot = snapshot
        self.options = options or ApplyOptions()
        self.district_id = district_id or plan.district_id
        self.on_event = on_event
        self.result = ApplyResult()
        self._stopping = False
        #: the first save that failed (the run stops and ends with it)
        self.save_error: StateError | None = None
        self._write_lock = asyncio.Lock()
        self._failed_assignments: set[str] = set()
        self._moved: dict[str, str] = {}  # address -> why (from the saved-plan recheck)
        self._total = len(plan.actionable)
        self._done = 0

    # -- control ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Start no new calls; in-flight ones finish."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- state -----------------------------------------------------------------------------------

    def _save(self, *addresses: str) -> None:
        """Save the records at ``addresses`` (what the call changed); a failed save stops all."""
        if self.snapshot.api_url is None or not self.snapshot.api_url:
            self.snapshot.api_url = self.plan.api_url or self.snapshot.api_url
        if not self.snapshot.district_id and self.district_id:
            self.snapshot.district_id = self.district_id
        try:
            if addresses:
                self.backend.save(self.snapshot, addresses)
            else:  # a caller that does not say what it changed: store all of it (safe, slow)
                self.backend.write(self.snapshot)
        except StateError as exc:
            # state no longer follows the LMS: start no new call (in-flight ones finish and
            # their results go to the backend's recovery file), and end the run with this
            self._stopping = True
            if self.save_error is None or isinstance(exc, StateSaveError):
                self.save_error = exc
            raise

    async def _commit(self, mutate: Callable[[], None], *addresses: str) -> None:
        async with self._write_lock:
            mutate()
            self._save(*addresses)

    # -- reporting -------------------------------------------------------------------------------

    def _finish(self, change: Change, outcome: Outcome, message: str = "", t0: float = 0.0) -> None:
        seconds = time.monotonic() - t0 if t0 else 0.0
        res = ChangeResult(change, outcome, message, seconds)
        self.result.results.append(res)
        self._done += 1
        if outcome is not Outcome.DONE and change.kind.value == "assignment":
            self._failed_assignments.add(change.address)
        if self.on_event is not None:
            self.on_event(ApplyEvent(res, self._done, self._total))

    # -- entry point -----------------------------------------------------------------------------

    async def run(self) -> ApplyResult:
        check_consent(self.plan, self.options)
        start = time.monotonic()
        try:
            if self.options.recheck:
                await self._recheck()
            changes = self.plan.actionable
            for action in (Action.MOVE, Action.CREATE, Action.UPDATE, Action.GRADE, Action.DELETE):
                batch = [c for c in changes if c.action is action]
                if batch:
                    await self._phase(batch)
            if not self._stopping and self.plan.state_fixes:
                await self._commit(self._apply_fixes, *self._fix_addresses())
        finally:
            self.result.seconds = time.monotonic() - start
            self.result.interrupted = self._stopping
        if self.save_error is not None:
            raise self.save_error
        return self.result

    async def _phase(self, batch: list[Change]) -> None:
        gate = asyncio.Semaphore(max(1, self.options.parallelism))
        handlers: Mapping[Action, Callable[[Change], Awaitable[None]]] = {
            Action.MOVE: self._move,
            Action.CREATE: self._create,
            Action.UPDATE: self._update,
            Action.GRADE: self._grade,
            Action.DELETE: self._delete,
        }

        async def one(change: Change) -> None:
            async with gate:
                if self._stopping:
                    self._finish(change, Outcome.SKIPPED, "not started: apply was stopped")
                    return
                if change.address in self._moved:
                    self._finish(change, Outcome.MOVED, self._moved[change.address])
                    return
                if change.depends_on and change.depends_on in self._failed_assignments:
                    self._finish(
                        change,
                        Outcome.SKIPPED,
                        f"skipped: {change.depends_on} was not created",
                    )
                    return
                t0 = time.monotonic()
                try:
                    await handlers[change.action](change)
                except OutcomeUnknownError as exc:
                    self._finish(change, Outcome.UNKNOWN, str(exc), t0)
                except (ApiError, LmsctlError) as exc:
                    self._finish(change, Outcome.FAILED, self._explain(change, exc), t0)
                else:
                    self._finish(change, Outcome.DONE, "", t0)

        tasks = [asyncio.ensure_future(one(c)) for c in batch]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            raise

    def _explain(self, change: Change, exc: BaseException) -> str:
        message = _message(exc)
        if (
            self.plan.lms_type == "schoology"
            and change.action is Action.GRADE
            and isinstance(exc, ApiError)
            and exc.status_code == 500
        ):
            # Clever's documented Schoology quirk: no grade until the student opened the app
            message += (
                " (on Schoology this usually means the student has not yet opened the "
                "assignment's LTI link; it works once they have, then run apply again)"
            )
        return message

    # -- saved-plan recheck ----------------------------------------------------------------------

    async def _recheck(self) -> None:
        """Compare the live values now with the fingerprints the plan saw; mark what moved."""
        listings: dict[str, asyncio.Task[dict[str, dict[str, Any]] | None]] = {}

        async def list_subs(
            section_id: str, assignment_id: str
        ) -> dict[str, dict[str, Any]] | None:
            try:
                items = await self.client.list_submissions(section_id, assignment_id)
            except ApiNotFoundError:
                return None
            return {str(s.get("user_id")): s for s in items}

        def listing(change: Change) -> asyncio.Task[dict[str, dict[str, Any]] | None]:
            assert change.assignment_id is not None
            if change.assignment_id not in listings:
                listings[change.assignment_id] = asyncio.ensure_future(
                    list_subs(change.section_id, change.assignment_id)
                )
            return listings[change.assignment_id]

        async def check(change: Change) -> None:
            if change.fingerprint is None or change.assignment_id is None:
                return
            names = [f.field for f in change.fields]
            if change.action is Action.UPDATE:
                try:
                    live = await self.client.get_assignment(change.section_id, change.assignment_id)
                except ApiNotFoundError:
                    self._moved[change.address] = "moved since review: deleted in the LMS"
                    return
                if field_fingerprint(live, names) != change.fingerprint:
                    self._moved[change.address] = (
                        "moved since review: changed in the LMS after the plan was made"
                    )
            elif change.action is Action.GRADE:
                subs = await listing(change)
                sub = (subs or {}).get(change.student or "")
                if sub is None or field_fingerprint(sub, names) != change.fingerprint:
                    self._moved[change.address] = (
                        "moved since review: the grade changed in the LMS after the plan was made"
                    )
            elif change.action is Action.DELETE:
                subs = await listing(change)
                if (
                    subs is not None
                    and impact_fingerprint(delete_impact(subs)) != change.fingerprint
                ):
                    self._moved[change.address] = (
                        "moved since review: student work changed since the plan was made"
                    )

        await asyncio.gather(*(check(c) for c in self.plan.actionable))

    # -- handlers --------------------------------------------------------------------------------

    def _record(self, address: str) -> ResourceRecord:
        record = self.snapshot.resources.get(address)
        if record is None:
            raise StateError(f"{address} is not in state")
        return record

    async def _move(self, change: Change) -> None:
        old = change.moved_from
        assert old is not None

        def mutate() -> None:
            record = self.snapshot.resources.pop(old)
            record.key = change.key
            self.snapshot.resources[change.address] = record

        await self._commit(mutate, old, change.address)

    async def _create(self, change: Change) -> None:
        now = format_api_datetime(utcnow())
        address = change.address
        previous = self.snapshot.resources.get(address)

        def intent() -> None:
            self.snapshot.resources[address] = ResourceRecord(
                section_id=change.section_id,
                key=change.key,
                assignment_id=None,
                status=ResourceStatus.PENDING,
                applied={},
                grades={},
                created_at=None,
                updated_at=None,
                intent_at=now,
            )
            if previous is not None:
                self.snapshot.resources[address].protect = previous.protect

        await self._commit(intent, address)
        try:
            created = await self.client.create_assignment(change.section_id, dict(change.body))
        except asyncio.CancelledError:
            # stopped while the POST was in flight: it may or may not have been created
            self.snapshot.resources[address].status = ResourceStatus.UNKNOWN
            self._save(address)
            raise
        except OutcomeUnknownError:

            def unknown() -> None:
                self.snapshot.resources[address].status = ResourceStatus.UNKNOWN

            await self._commit(unknown, address)
            raise
        except BaseException:
            # a definite refusal (or we were cancelled before sending): nothing was created

            def undo() -> None:
                if previous is None:
                    self.snapshot.resources.pop(address, None)
                else:
                    self.snapshot.resources[address] = previous

            await self._commit(undo, address)
            raise

        def done() -> None:
            record = self.snapshot.resources[address]
            record.assignment_id = str(created.get("id") or "")
            record.status = ResourceStatus.CREATED
            record.applied = dict(change.body)
            record.created_at = str(created.get("created") or now)
            record.updated_at = record.created_at

        await self._commit(done, address)

    async def _update(self, change: Change) -> None:
        record = self._record(change.address)
        assert record.assignment_id is not None
        await self.client.update_assignment(
            change.section_id, record.assignment_id, dict(change.body)
        )

        def done() -> None:
            record.applied.update(change.body)
            record.updated_at = format_api_datetime(utcnow())

        await self._commit(done, change.address)

    async def _grade(self, change: Change) -> None:
        assignment = f"{change.section_id}/{change.key}"
        record = self._record(assignment)
        if record.status is not ResourceStatus.CREATED or not record.assignment_id:
            raise StateError(f"{assignment} was not created")
        assert change.student is not None
        await self.client.update_submission(
            change.section_id, record.assignment_id, change.student, dict(change.body)
        )
        student = change.student

        def done() -> None:
            record.grades.setdefault(student, {}).update(change.body)

        await self._commit(done, assignment)

    async def _delete(self, change: Change) -> None:
        record = self._record(change.address)
        assert record.assignment_id is not None
        with contextlib.suppress(ApiNotFoundError):  # already gone: the goal is reached
            await self.client.delete_assignment(change.section_id, record.assignment_id)

        def done() -> None:
            self.snapshot.resources.pop(change.address, None)

        await self._commit(done, change.address)

    def _fix_addresses(self) -> list[str]:
        return list(dict.fromkeys(fix.address for fix in self.plan.state_fixes))

    def _apply_fixes(self) -> None:
        for fix in self.plan.state_fixes:
            record = self.snapshot.resources.get(fix.address)
            if record is None or fix.address in self._failed_assignments:
                continue
            if fix.forget:
                self.snapshot.resources.pop(fix.address, None)
                continue
            if fix.protect is not None:
                record.protect = fix.protect
            target = (
                record.applied if fix.student is None else record.grades.setdefault(fix.student, {})
            )
            target.update(fix.set_fields)
            for name in fix.drop_fields:
                target.pop(name, None)
            if fix.student is not None and not target:
                record.grades.pop(fix.student, None)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.status_code} {exc.message}"
    return str(exc)


async def run_interruptible(executor: Executor) -> ApplyResult:
    """Run the executor; Ctrl-C or SIGTERM stops it gracefully, a second one at once.

    After the first signal no new call starts and in-flight calls get ``stop_wait`` seconds to
    finish; then (or on a second signal) they are cancelled. State is saved either way.
    """
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(executor.run())

    def on_signal() -> None:
        if executor.stopping:
            task.cancel()
            return
        executor.stop()
        loop.call_later(executor.options.stop_wait, task.cancel)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        return await task
    except asyncio.CancelledError:
        executor.result.interrupted = True
        executor.stop()
        with contextlib.suppress(LmsctlError):
            executor.backend.write(executor.snapshot)
        return executor.result
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
