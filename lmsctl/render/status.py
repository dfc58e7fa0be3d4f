"""The views of ``lmsctl status``: what it reports (``StatusReport``, built by
lmsctl.usecases.status), as a JSON document and as text (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lmsctl.safetext import escape_controls
from lmsctl.state.backend import LockInfo

__all__ = [
    "STATUS_FORMAT_VERSION",
    "DistrictInfo",
    "StateSummary",
    "StatusReport",
    "render_status_text",
    "status_document",
]


#: Version of the ``lmsctl status --format json`` document ("MAJOR.MINOR": docs/json-output.md).
STATUS_FORMAT_VERSION = "1.0"


@dataclass(frozen=True)
class DistrictInfo:
    """The district as the API reports it (names come from the LMS: render them escaped)."""

    id: str | None
    name: str | None
    lms_type: str | None
    lms_state: str | None

    @property
    def ready(self) -> bool:
        """Writes can work: the district's ``lms_state`` is ``success``."""
        return self.lms_state == "success"


@dataclass(frozen=True)
class StateSummary:
    """What the state holds, counted."""

    location: str
    lineage: str
    serial: int
    assignments: int
    by_status: dict[str, int] = field(default_factory=dict)
    grades: int = 0
    #: assignment addresses whose create outcome is not known
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusReport:
    api_url: str
    district: DistrictInfo
    state: StateSummary
    lock: LockInfo | None
    lock_error: str = ""  # a damaged lock file, shown with the rest of the status


def status_document(report: StatusReport) -> dict[str, Any]:
    """``lmsctl status --json``."""
    d, st = report.district, report.state
    doc: dict[str, Any] = {
        "format_version": STATUS_FORMAT_VERSION,
        "api_url": report.api_url,
        "district": {
            "id": d.id,
            "name": d.name,
            "lms_type": d.lms_type,
            "lms_state": d.lms_state,
        },
        "state": {
            "location": st.location,
            "lineage": st.lineage,
            "serial": st.serial,
            "assignments": st.assignments,
            "by_status": dict(st.by_status),
            "grades": st.grades,
            "unknown": list(st.unknown),
        },
        "lock": report.lock.to_dict() if report.lock is not None else None,
    }
    if report.lock_error:
        doc["lock_error"] = report.lock_error
    return doc


def render_status_text(report: StatusReport, plan_command: str = "lmsctl plan") -> str:
    """The status at a glance, one line per part; ends in a newline. ``plan_command`` is the
    plan it points to, as the CLI would run it."""
    d, st = report.district, report.state
    lines = [
        f"API:       {report.api_url}",
        escape_controls(f"District:  {d.name} ({d.id})"),  # names from the LMS
        f"LMS:       {d.lms_type or 'none'}, lms_state {d.lms_state!r}"
        + ("" if d.ready else "  (writes will fail until it is 'success')"),
        f"State:     {st.location}: {st.assignments} assignments, {st.grades} grades "
        f"(serial {st.serial})",
    ]
    lines += [
        f"  ? {address}: create outcome unknown (see {plan_command})" for address in st.unknown
    ]
    if report.lock_error:
        lines.append(f"Lock:      {report.lock_error}")
    elif report.lock is None:
        lines.append("Lock:      free")
    else:
        lines.append(f"Lock:      {report.lock.describe()}")
    return "\n".join(lines) + "\n"
