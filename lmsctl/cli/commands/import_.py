"""lmsctl import: adopt an assignment that already exists in the LMS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from lmsctl.addresses import UUID_RE, parse_address
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.options import workspace_options
from lmsctl.errors import ApiNotFoundError, StateError, UsageError
from lmsctl.state.model import ResourceRecord, ResourceStatus
from lmsctl.timeutil import format_api_datetime, utcnow
from lmsctl.workspace import Workspace


@click.command(
    "import",
    epilog=(
        "Example: lmsctl import 5f1a0c0b8e1d2a0001a00001/hw-01 3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10"
    ),
)
@click.argument("address")
@click.argument("assignment_id")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Manifests root (where lmsctl.yaml and the state live).",
)
@pass_cli
def import_(cli: CliContext, address: str, assignment_id: str, root: Path) -> int:
    """Adopt an existing LMS assignment at ADDRESS, so lmsctl manages it instead of creating one.

    Checks that the assignment exists in the section, then records it in state. Nothing changes in
    the LMS; the next plan shows how it differs from the manifests. This is also how to resolve a
    create whose outcome was unknown ('?' in the plan) when the assignment does exist.
    """
    parsed = parse_address(address)
    if parsed.student is not None:
        raise UsageError(
            "import takes an assignment address, not a grade's", hint=parsed.assignment
        )
    if not UUID_RE.match(assignment_id):
        raise UsageError(
            f"{assignment_id!r} is not an assignment id",
            hint="Clever assignment ids are UUIDs like 3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10",
        )
    ws = Workspace.open(
        workspace_options(cli, root, command="lmsctl import", progress=False),
        load_manifests=False,
    )

    async def fetch() -> dict[str, object]:
        try:
            client = ws.client()
            return await client.get_assignment(parsed.section_id, assignment_id)
        finally:
            await ws.aclose()

    with ws:
        snapshot = ws.read_state()
        key = parsed.assignment
        existing = snapshot.resources.get(key)
        if existing is not None and existing.status is ResourceStatus.CREATED:
            raise StateError(
                f"{key} is already managed (assignment {existing.assignment_id})",
                hint=f"to manage another one there, first: lmsctl state rm {key}",
            )
        for other_address, record in snapshot.resources.items():
            if record.assignment_id == assignment_id:
                if record.section_id != parsed.section_id:
                    # state mv refuses a move across sections: do not suggest it.
                    hint = (
                        f"it belongs to section {record.section_id}; an LMS assignment cannot "
                        "change sections, so keep it in that section's manifest"
                    )
                else:
                    hint = f"to re-address it: lmsctl state mv {other_address} {key}"
                raise StateError(
                    f"assignment {assignment_id} is already managed as {other_address}",
                    hint=hint,
                )
        try:
            live = asyncio.run(fetch())
        except ApiNotFoundError as exc:
            if existing is not None:
                hint = f"if the create never happened: lmsctl state rm {key}"
            else:
                hint = f"check the id: it must be an assignment of section {parsed.section_id}"
            raise StateError(
                f"assignment {assignment_id} does not exist in section {parsed.section_id}",
                hint=hint,
            ) from exc
        now = format_api_datetime(utcnow())
        snapshot.resources[key] = ResourceRecord(
            section_id=parsed.section_id,
            key=parsed.key,
            assignment_id=assignment_id,
            status=ResourceStatus.CREATED,
            applied={},
            grades={},
            created_at=str(live.get("created") or now),
            updated_at=now,
        )
        if not snapshot.api_url:
            snapshot.api_url = ws.api_url
        ws.backend.write(snapshot)
    title = live.get("title") or assignment_id
    click.echo(
        f"Imported {key}: {title!r} ({assignment_id}). Run lmsctl plan to see how it differs."
    )
    return 0
