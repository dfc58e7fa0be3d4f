"""Executor: carry out a Plan against the LMS, saving state after every successful call.

Phases, in order: move (state only) -> create -> update -> grade -> delete -> state fixes.
Within a phase, changes run concurrently under the client's shared rate limiter, as many at once
as Little's law says keep the limiter busy at the latency observed (``AdaptiveGate``), at most
``parallelism``. Safety rules:
- before each POST the intent is written to state (status ``pending``); if the answer is lost the
  address becomes ``unknown`` and is never re-created automatically;
- state is written after every successful call, so a crash loses nothing the API acknowledged;
- a failed create skips its grades; independent changes go on;
- every apply (from a root or a saved plan) re-checks the live values it is about to change just
  before writing them, against the fingerprints the plan saw: an assignment right before its
  update or delete, each assignment's submissions right before that assignment's grades (one
  listing per assignment, or one GET when a single grade changes). A value that changed in the
  LMS since the plan was shown is not written: its outcome is ``stale``;
- cancellation, for the caller to trigger (the CLI does on Ctrl-C / SIGTERM; the executor
  knows nothing of signals): after ``stop()`` no new call starts and in-flight ones finish; a
  run started with ``run_cancellable()`` also takes ``interrupt()``, which stops and gives the
  calls in flight ``stop_wait`` seconds before cancelling them (at once when repeated), and then
  returns the result so far (``abandon()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lmsctl.apply.consent import check_consent
from lmsctl.apply.fixes import apply_state_fixes, fix_addresses
from lmsctl.apply.results import ApplyEvent, ApplyResult, ChangeResult, EventFn, Outcome
from lmsctl.apply.saving import GroupSave
from lmsctl.client.concurrency import (
    DEFAULT_MAX_IN_FLIGHT,
    AdaptiveGate,
    limiter_wait,
    request_rate,
)
from lmsctl.errors import (
    ApiError,
    ApiNotFoundError,
    LmsctlError,
    OutcomeUnknownError,
    StateError,
    StateSaveError,
)
from lmsctl.lms import profile
from lmsctl.plan.fingerprints import delete_impact, field_fingerprint, impact_fingerprint
from lmsctl.plan.model import (
    Action,
    Change,
    Consent,
    Plan,
    ResourceKind,
    canonical_json,
)
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
    async def get_submission(
        self, section_id: str, assignment_id: str, user_id: str
    ) -> dict[str, Any]: ...
    async def update_submission(
        self, section_id: str, assignment_id: str, user_id: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = DEFAULT_MAX_IN_FLIGHT  # the cap on changes in flight at once
    consents: frozenset[Consent] = frozenset()  # the dangers the user allowed (apply's flags)
    stop_wait: float = 30.0  # seconds in-flight calls may take to finish after a stop


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
        self._task: asyncio.Task[ApplyResult] | None = None  # the run_cancellable() run
        #: the first save that failed (the run stops and ends with it)
        self.save_error: StateError | None = None
        #: addresses of the writes the LMS carried out whose result could not be saved
        self.unrecorded: list[str] = []
        #: saves asked for at the same moment are written together (one journal line, one fsync)
        self._saves = GroupSave(lambda addresses: self._save(*addresses))
        self._failed_assignments: set[str] = set()
        # (phase, assignment id) -> the submissions listed just before that phase's writes
        self._listings: dict[
            tuple[Action, str], asyncio.Task[dict[str, dict[str, Any]] | None]
        ] = {}
        # re-checked grade changes per assignment: one alone is re-read with a single GET
        self._grade_counts = Counter(
            c.assignment_id
            for c in plan.actionable
            if c.action is Action.GRADE and c.fingerprint is not None and c.assignment_id
        )
        self._total = len(plan.actionable)
        self._done = 0
        #: the phase running now (None before the first and after the last): for progress views
        self.phase: Action | None = None
        #: sizes the changes in flight from the latency seen (kept from phase to phase)
        self.gate: AdaptiveGate | None = None

    # -- control ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Start no new calls; in-flight ones finish."""
        self._stopping = True

    def interrupt(self, *, at_once: bool = False) -> None:
        """A request to stop a ``run_cancellable()``: the first stops and gives in-flight calls
        ``stop_wait`` seconds, then abandons them; another (``at_once``), or one after the run
        stopped by itself (a failed save), abandons them now."""
        task = self._task
        if task is None or task.done():
            self.stop()
        elif at_once or self._stopping:
            task.cancel()
        else:
            self.stop()
            asyncio.get_running_loop().call_later(self.options.stop_wait, task.cancel)

    async def run_cancellable(self) -> ApplyResult:
        """``run()``, which ``interrupt()`` can stop; an abandoned run returns the result so far."""
        self._task = task = asyncio.ensure_future(self.run())
        try:
            return await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this coroutine itself was cancelled: not ours to absorb
            return self.abandon()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def abandon(self) -> ApplyResult:
        """After the run was cancelled (in-flight calls abandoned): the result so far.

        Every call that ended is already saved, and an abandoned write left its intent (a
        create is marked unknown); state is stored once more as a whole. A save that had failed
        ends the run with its error (its recovery file says what was not recorded).
        """
        self.result.interrupted = True
        self._stopping = True
        if self.save_error is not None:
            raise self._save_failure()
        with contextlib.suppress(LmsctlError):
            self.backend.write(self.snapshot)
        return self.result

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
        """Change the records in memory, then save them (with the saves of the same moment)."""
        mutate()
        await self._saves.save(addresses)

    async def _record_result(
        self, change: Change, mutate: Callable[[], None], *addresses: str
    ) -> None:
        """Record what a write the API acknowledged did. A failed save does not make the write
        fail (it was carried out): the change is reported done but unrecorded, and the run
        ends naming it (its record is in the backend's recovery file, or in memory)."""
        try:
            await self._commit(mutate, *addresses)
        except StateError as exc:
            self.unrecorded.append(change.address)
            raise _Unrecorded(
                "carried out in the LMS, but not recorded in state: " + _message(exc)
            ) from exc

    # -- reporting -------------------------------------------------------------------------------

    def _finish(self, change: Change, outcome: Outcome, message: str = "", t0: float = 0.0) -> None:
        seconds = time.monotonic() - t0 if t0 else 0.0
        res = ChangeResult(change, outcome, message, seconds)
        self.result.results.append(res)
        self._done += 1
        if outcome is not Outcome.DONE and change.kind is ResourceKind.ASSIGNMENT:
            self._failed_assignments.add(change.address)
        if self.on_event is not None:
            self.on_event(ApplyEvent(res, self._done, self._total))

    # -- entry point -----------------------------------------------------------------------------

    async def run(self) -> ApplyResult:
        check_consent(self.plan, self.options)
        start = time.monotonic()
        try:
            changes = self.plan.actionable
            for action in (Action.MOVE, Action.CREATE, Action.UPDATE, Action.GRADE, Action.DELETE):
                batch = [c for c in changes if c.action is action]
                if batch:
                    self.phase = action
                    await self._phase(batch)
            self.phase = None
            if not self._stopping and self.plan.state_fixes:
                fixes = self.plan.state_fixes
                await self._commit(
                    lambda: apply_state_fixes(self.snapshot, fixes, self._failed_assignments),
                    *fix_addresses(fixes),
                )
        finally:
            self.result.seconds = time.monotonic() - start
            self.result.interrupted = self._stopping
        if self.save_error is not None:
            raise self._save_failure()
        return self.result

    def _save_failure(self) -> StateError:
        """The first failed save, naming the writes it left unrecorded.

        The rule: once a save fails, no new write starts (``_save`` sets the stop before any
        other call can begin); the writes already in flight finish, and those the LMS carried
        out are listed here, their records kept for ``lmsctl state push``.
        """
        exc = self.save_error
        assert exc is not None
        if not self.unrecorded:
            return exc
        names = ", ".join(sorted(self.unrecorded))
        return StateSaveError(
            f"{exc}. {len(self.unrecorded)} write(s) reached the LMS but are not recorded in "
            f"state: {names}",
            hint=exc.hint,
            recovery_file=getattr(exc, "recovery_file", None),
        )

    async def _phase(self, batch: list[Change]) -> None:
        if self.gate is None:
            self.gate = AdaptiveGate(
                cap=max(1, self.options.parallelism), rate=request_rate(self.client)
            )
        gate = self.gate
        handlers: Mapping[Action, Callable[[Change], Awaitable[None]]] = {
            Action.MOVE: self._move,
            Action.CREATE: self._create,
            Action.UPDATE: self._update,
            Action.GRADE: self._grade,
            Action.DELETE: self._delete,
        }

        async def one(change: Change) -> None:
            async with gate.slot():
                if self._stopping:
                    self._finish(change, Outcome.SKIPPED, "not started: apply was stopped")
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
                    stale = await self._recheck(change)
                    if stale is not None:
                        self._finish(change, Outcome.STALE, stale, t0)
                        return
                    await handlers[change.action](change)
                except _Unrecorded as exc:
                    self._finish(change, Outcome.DONE, str(exc), t0)
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
        finally:
            gate.close()

    def _explain(self, change: Change, exc: BaseException) -> str:
        message = _message(exc)
        if isinstance(exc, ApiError):
            hint = profile(self.plan.lms_type).final_error_hint(
                exc.status_code, exc.message, grade=change.action is Action.GRADE
            )
            if hint:
                message += f" ({hint})"
        return message

    # -- recheck before writing --------------------------------------------------------------

    async def _recheck(self, change: Change) -> str | None:
        """Compare the live value now with the fingerprint the plan saw, just before writing.

        Returns why the change must not be written (the LMS changed since the plan was shown), or
        None. Changes with nothing live when planned (creates, grades of a new assignment) and
        moves (state only) have no fingerprint and are not re-checked.
        """
        if change.fingerprint is None or change.assignment_id is None:
            return None
        names = [f.field for f in change.fields]
        if change.action is Action.UPDATE:
            try:
                live = await self.client.get_assignment(change.section_id, change.assignment_id)
            except ApiNotFoundError:
                return "not written: the assignment was deleted in the LMS since the plan was shown"
            if field_fingerprint(live, names) != change.fingerprint:
                return "not written: " + _what_changed(change, live)
        elif change.action is Action.GRADE:
            sub = await self._live_submission(change)
            if field_fingerprint(sub or {}, names) != change.fingerprint:
                return "not written: " + _what_changed(change, sub or {})
        elif change.action is Action.DELETE:
            with limiter_wait():  # a listing shared by the phase: not this change's service
                subs = await self._listing(change)
            if subs is not None and impact_fingerprint(delete_impact(subs)) != change.fingerprint:
                now = delete_impact(subs)
                return (
                    "not deleted: its student work changed in the LMS since the plan was shown "
                    f"(now {now.submissions} submissions, {now.turned_in} turned in, "
                    f"{now.graded} graded)"
                )
        return None

    async def _live_submission(self, change: Change) -> dict[str, Any] | None:
        """The student's submission now: one GET when it is the assignment's only grade change,
        else from the assignment's listing (made once, when its first grade is about to be
        written, so the window is that assignment's writes)."""
        assert change.assignment_id is not None and change.student is not None
        if self._grade_counts[change.assignment_id] == 1:
            try:
                return await self.client.get_submission(
                    change.section_id, change.assignment_id, change.student
                )
            except ApiNotFoundError:
                return None
        with limiter_wait():  # a listing shared by the assignment's grades, maybe queued
            subs = await self._listing(change)
        return (subs or {}).get(change.student)

    def _listing(self, change: Change) -> asyncio.Task[dict[str, dict[str, Any]] | None]:
        """The assignment's submissions, listed once per phase, when first needed."""
        assert change.assignment_id is not None
        key = (change.action, change.assignment_id)
        if key not in self._listings:
            self._listings[key] = asyncio.ensure_future(
                self._list_submissions(change.section_id, change.assignment_id)
            )
        return self._listings[key]

    async def _list_submissions(
        self, section_id: str, assignment_id: str
    ) -> dict[str, dict[str, Any]] | None:
        try:
            items = await self.client.list_submissions(section_id, assignment_id)
        except ApiNotFoundError:
            return None
        return {str(s.get("user_id")): s for s in items}

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

        await self._record_result(change, done, address)

    # Every write records its intent first (the values about to be sent) and clears it when it
    # records the result, so a run killed in between leaves evidence of its own write: the next
    # plan takes a live value equal to an intent as applied by lmsctl, not as a teacher's edit
    # (see lmsctl.plan.builder._with_intent). A write that fails keeps its intent: a PATCH
    # answered 5xx or cut off may still have been carried out, and an intent whose value is not
    # live is ignored by the plan and cleared by the next apply.

    async def _update(self, change: Change) -> None:
        record = self._record(change.address)
        assert record.assignment_id is not None
        body = dict(change.body)
        await self._commit(lambda: record.intend(body), change.address)
        await self.client.update_assignment(change.section_id, record.assignment_id, body)

        def done() -> None:
            record.applied.update(body)
            record.forget_intent(body)
            record.updated_at = format_api_datetime(utcnow())

        await self._record_result(change, done, change.address)

    async def _grade(self, change: Change) -> None:
        assignment = f"{change.section_id}/{change.key}"
        record = self._record(assignment)
        if record.status is not ResourceStatus.CREATED or not record.assignment_id:
            raise StateError(f"{assignment} was not created")
        assert change.student is not None
        student = change.student
        body = dict(change.body)
        await self._commit(lambda: record.intend(body, student), assignment)
        await self.client.update_submission(change.section_id, record.assignment_id, student, body)

        def done() -> None:
            record.grades.setdefault(student, {}).update(body)
            record.forget_intent(body, student)

        await self._record_result(change, done, assignment)

    async def _delete(self, change: Change) -> None:
        record = self._record(change.address)
        assert record.assignment_id is not None

        def intent() -> None:
            record.deleting = True

        await self._commit(intent, change.address)
        with contextlib.suppress(ApiNotFoundError):  # already gone: the goal is reached
            await self.client.delete_assignment(change.section_id, record.assignment_id)

        def done() -> None:
            self.snapshot.resources.pop(change.address, None)

        await self._record_result(change, done, change.address)


class _Unrecorded(LmsctlError):
    """A write the LMS carried out whose result state could not store (reported done)."""


def _what_changed(change: Change, live: Mapping[str, Any]) -> str:
    """``grade_points: plan saw null, LMS now 2`` for each field that changed since the plan."""
    changed = [
        f"{f.field}: plan saw {_shown(f.before)}, LMS now {_shown(live.get(f.field))}"
        for f in change.fields
        if field_fingerprint({f.field: f.before}, [f.field]) != field_fingerprint(live, [f.field])
    ]
    what = "; ".join(changed) if changed else "its live value"
    return f"changed in the LMS since the plan was shown ({what})"


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the API answers 10.0 for 10: show what the plan showed
    return canonical_json(value)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.status_code} {exc.message}"
    return str(exc)
