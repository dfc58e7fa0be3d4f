"""lmsctl init: start a coursework repository from the district's roster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import examples, hint_command
from lmsctl.cli.options import output_format, root_argument
from lmsctl.client.factory import open_client, resolve_api_url
from lmsctl.errors import UsageError
from lmsctl.init import (
    DistrictRoster,
    InitFilters,
    InitResult,
    init_document,
    init_root,
    lms_state_advice,
    read_district,
)
from lmsctl.manifest.config import display_path, valid_timezone
from lmsctl.model import ProjectConfig
from lmsctl.render.json import dumps_for_terminal
from lmsctl.schema_files import DEFAULT_SCHEMA_DIR


@click.command(
    "init",
    epilog=examples(
        "lmsctl init coursework --sandbox --timezone America/Chicago",
        "lmsctl init okafor --sandbox --teacher grace.okafor@maplewood.example",
        title="Examples (the demo district of the embedded sandbox; drop --sandbox for Clever):",
    ),
)
@root_argument
@click.option(
    "--teacher",
    "teachers",
    multiple=True,
    metavar="EMAIL|ID",
    help="Only this teacher's sections (Clever email or id); repeatable.",
)
@click.option(
    "--school",
    "schools",
    multiple=True,
    metavar="ID",
    help="Only sections of this school (Clever id); repeatable.",
)
@click.option(
    "--section",
    "sections",
    multiple=True,
    metavar="ID",
    help="Only this section (Clever id); repeatable.",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    metavar="TZ",
    help="IANA time zone of the district (a plain date means 23:59 that day there).",
)
@click.option(
    "--schemas",
    "schema_dir",
    default=DEFAULT_SCHEMA_DIR,
    show_default=True,
    metavar="DIR",
    help="Folder under ROOT for the JSON Schemas the modelines point at.",
)
@output_format("text", "json")
@pass_cli
def init(
    cli: CliContext,
    root: Path,
    teachers: tuple[str, ...],
    schools: tuple[str, ...],
    sections: tuple[str, ...],
    timezone: str,
    schema_dir: str,
    fmt: str,
) -> int:
    """Write lmsctl.yaml and one section file per class section of the district into ROOT.

    Reads the district behind the token (CLEVER_TOKEN), the sections it sees and their
    students (Clever's Data API), and writes lmsctl.yaml, schemas/ and sections/NAME.yaml:
    each with the section id, a friendly name, no assignments yet, and the students as
    comments (sis id, name) to write grades as sis:<id>. Never overwrites a file.
    """
    if not valid_timezone(timezone):
        raise UsageError(
            f"unknown time zone {timezone!r}",
            hint="use an IANA name such as America/Chicago, Europe/Berlin or UTC",
        )
    if Path(schema_dir).is_absolute() or ".." in Path(schema_dir).parts:
        raise UsageError(
            f"--schemas {schema_dir!r} must be a folder inside ROOT", hint="e.g. --schemas schemas"
        )
    api_url = resolve_api_url(cli.api_url, ProjectConfig())
    filters = InitFilters(teachers=teachers, schools=schools, sections=sections)
    client = open_client(
        config=ProjectConfig(),
        root=root,
        sandbox=cli.sandbox,
        sandbox_db=cli.sandbox_db,
        api_url=cli.api_url,
        open_sandbox=cli.open_sandbox,
    )

    async def read() -> DistrictRoster:
        try:
            return await read_district(client, filters)
        finally:
            await client.aclose()

    roster = asyncio.run(read())
    result = init_root(root, roster, api_url=api_url, timezone=timezone, schema_dir=schema_dir)
    advice = lms_state_advice(roster.lms_state)
    if advice is not None:
        click.echo(
            f"Warning: the district's lms_state is {roster.lms_state!r}, not 'success': "
            f"validate works, but plan and apply stop until it is ({advice}).",
            err=True,
        )
    if fmt == "json":
        click.echo(dumps_for_terminal(init_document(result), indent=2))
    else:
        _print_summary(cli, result, timezone, schema_dir)
    return 0


def _print_summary(cli: CliContext, result: InitResult, timezone: str, schema_dir: str) -> None:
    """What init wrote, and the next steps (commands that run as pasted)."""
    root, roster = result.root, result.roster
    district = roster.district
    click.echo(
        f"District {district.get('name') or ''} ({district.get('id')}): "
        f"LMS {roster.lms_type or 'unknown'}, state {roster.lms_state or 'unknown'}."
    )
    shown = display_path(root)
    n = len(roster.sections)
    click.echo(
        f"Wrote {len(result.files)} files under {shown}: {n} section file{'s' * (n != 1)} "
        f"({result.student_count} students), lmsctl.yaml and the JSON Schemas in "
        f"{display_path(root / schema_dir)}."
    )
    click.echo("Next:")
    if timezone == "UTC":
        click.echo(f"  set timezone in {display_path(root / 'lmsctl.yaml')} to the district's")
    click.echo(f"  add assignments to the files in {display_path(root / 'sections')}, then")
    click.echo(f"  lmsctl validate {shown}")
    click.echo(f"  {hint_command(cli, 'plan', shown)}")
    click.echo(
        "  to adopt an assignment that already exists: "
        + hint_command(cli, "import", "<section id>/<key>", "<assignment id>", shown, "--generate")
    )
