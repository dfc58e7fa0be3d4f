"""``lmsctl status``: the district, its LMS, what state tracks and who holds the lock."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from lmsctl.errors import StateError
from lmsctl.render.status import DistrictInfo, StateSummary, StatusReport
from lmsctl.state.model import ResourceStatus
from lmsctl.workspace import Workspace, WorkspaceOptions

__all__ = ["read_status"]


async def _district(ws: Workspace) -> dict[str, Any]:
    try:
        client = ws.client()
        if ws.desired.config.district:
            return await client.get_district(ws.desired.config.district)
        return await client.get_my_district()
    finally:
        await ws.aclose()


def read_status(options: WorkspaceOptions) -> StatusReport:
    """Read the district from the API and the state and lock from the backend; no writes."""
    ws = Workspace.open(options, load_manifests=False)
    district = asyncio.run(_district(ws))
    snapshot = ws.backend.read()
    lock_error = ""
    try:
        lock = ws.backend.current_lock()
    except StateError as exc:
        lock, lock_error = None, str(exc)
    records = snapshot.resources
    summary = StateSummary(
        location=ws.backend.description,
        lineage=snapshot.lineage,
        serial=snapshot.serial,
        assignments=len(records),
        by_status=dict(Counter(r.status.value for r in records.values())),
        grades=sum(len(r.grades) for r in records.values()),
        unknown=tuple(
            sorted(a for a, r in records.items() if r.status is not ResourceStatus.CREATED)
        ),
    )
    return StatusReport(
        api_url=ws.api_url,
        district=DistrictInfo(
            id=_text(district.get("id")),
            name=_text(district.get("name")),
            lms_type=_text(district.get("lms_type")),
            lms_state=_text(district.get("lms_state")),
        ),
        state=summary,
        lock=lock,
        lock_error=lock_error,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
