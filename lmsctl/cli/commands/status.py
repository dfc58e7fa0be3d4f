"""lmsctl status: the district, its LMS, state and lock at a glance."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.options import root_argument, workspace_options
from lmsctl.errors import StateError
from lmsctl.safetext import escape_controls
from lmsctl.workspace import Workspace


async def _district(ws: Workspace) -> dict[str, Any]:
    try:
        client = ws.client()
        if ws.desired.config.district:
            return await client.get_district(ws.desired.config.district)
        return await client.get_my_district()
    finally:
        await ws.aclose()


@click.command("status", epilog="Example: lmsctl --sandbox status examples/coursework")
@root_argument
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_cli
def status(cli: CliContext, root: Path, as_json: bool) -> int:
    """Show the district, its LMS and lms_state, what state tracks, and who holds the lock."""
    ws = Workspace.open(workspace_options(cli, root, command="lmsctl status"), load_manifests=False)
    district = asyncio.run(_district(ws))
    snapshot = ws.backend.read()
    lock_problem = ""
    try:
        lock = ws.backend.current_lock()
    except StateError as exc:  # a damaged lock file: show it, with the rest of the status
        lock, lock_problem = None, str(exc)
    statuses = Counter(r.status.value for r in snapshot.resources.values())
    grades = sum(len(r.grades) for r in snapshot.resources.values())
    info: dict[str, Any] = {
        "api_url": ws.api_url,
        "district": {
            "id": district.get("id"),
            "name": district.get("name"),
            "lms_type": district.get("lms_type"),
            "lms_state": district.get("lms_state"),
        },
        "state": {
            "location": ws.backend.description,
            "lineage": snapshot.lineage,
            "serial": snapshot.serial,
            "assignments": len(snapshot.resources),
            "by_status": dict(statuses),
            "grades": grades,
            "unknown": sorted(
                a for a, r in snapshot.resources.items() if r.status.value != "created"
            ),
        },
        "lock": lock.to_dict() if lock is not None else None,
    }
    if lock_problem:
        info["lock_error"] = lock_problem
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return 0
    d = info["district"]
    ready = d["lms_state"] == "success"
    click.echo(f"API:       {info['api_url']}")
    click.echo(escape_controls(f"District:  {d['name']} ({d['id']})"))  # names from the LMS
    click.echo(
        f"LMS:       {d['lms_type'] or 'none'}, lms_state {d['lms_state']!r}"
        + ("" if ready else "  (writes will fail until it is 'success')")
    )
    st = info["state"]
    click.echo(
        f"State:     {st['location']}: {st['assignments']} assignments, {st['grades']} grades "
        f"(serial {st['serial']})"
    )
    for address in st["unknown"]:
        click.echo(f"  ? {address}: create outcome unknown (see lmsctl plan)")
    if lock_problem:
        click.echo(f"Lock:      {lock_problem}")
    elif lock is None:
        click.echo("Lock:      free")
    else:
        click.echo(f"Lock:      {lock.describe()}")
    return 0
