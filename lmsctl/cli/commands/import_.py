"""lmsctl import: adopt assignments that already exist in the LMS."""

from __future__ import annotations

from pathlib import Path

import click

from lmsctl.adopt import (
    ImportRequest,
    import_root,
    parse_request,
    read_requests_csv,
)
from lmsctl.cli.completion import complete_address
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import examples, hint_command
from lmsctl.cli.options import (
    merge_root,
    output_format,
    remember_root,
    root_argument,
    workspace_options,
)
from lmsctl.errors import UsageError
from lmsctl.manifest.config import display_path
from lmsctl.render.adopt import import_document, render_import_text
from lmsctl.render.json import dumps_for_terminal

_EXAMPLE_ID = "3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10"


@click.command(
    "import",
    epilog=examples(
        f"lmsctl import 5f1a0c0b8e1d2a0001a00001/hw-01 {_EXAMPLE_ID} examples/coursework --sandbox",
        f"lmsctl import 5f1a0c0b8e1d2a0001a00001/essay-1 {_EXAMPLE_ID} examples/coursework "
        "--sandbox --generate --grades",
        "lmsctl import --from-csv imports.csv examples/coursework --sandbox --generate",
        title="Examples (with the id of an assignment of that section):",
    ),
)
@click.argument("address", required=False, shell_complete=complete_address)
@click.argument("assignment_id", required=False)
@root_argument
@click.option(
    "--generate",
    is_flag=True,
    help="Write the manifest entry from the live assignment (for an address in no manifest).",
)
@click.option(
    "--grades",
    is_flag=True,
    help="With --generate: also write the grades set in the LMS, and manage them.",
)
@click.option(
    "--from-csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Import every 'address,assignment_id' line of FILE (instead of ADDRESS ID).",
)
@output_format("text", "json")
@pass_cli
def import_(
    cli: CliContext,
    address: str | None,
    assignment_id: str | None,
    root: Path,
    generate: bool,
    grades: bool,
    csv_file: Path | None,
    fmt: str,
) -> int:
    """Adopt the existing LMS assignment ASSIGNMENT_ID at ADDRESS (<section id>/<key>) into
    the state and manifests under ROOT: lmsctl import ADDRESS ASSIGNMENT_ID [ROOT], or
    lmsctl import --from-csv FILE [ROOT].

    Checks that the assignment exists in the section, then records it in state, so lmsctl
    manages it instead of creating another one. Nothing changes in the LMS.

    ADDRESS must be in a manifest already (as Terraform needs configuration for an import),
    unless --generate writes its entry from the live assignment: the fields the LMS reports,
    dates in lmsctl.yaml's time zone, and with --grades the grades set in the LMS; the next
    plan then says 'No changes'. Without --generate this is also how to resolve a create whose
    outcome was unknown ('?' in the plan) when the assignment does exist.
    """
    requests: list[ImportRequest]
    if csv_file is not None and address and not assignment_id:  # --from-csv FILE ROOT
        root = merge_root(Path(address), None if root == Path(".") else root)
        remember_root(root)
        address = None
    if csv_file is not None:
        if address or assignment_id:
            raise UsageError("give either ADDRESS ASSIGNMENT_ID or --from-csv FILE, not both")
        requests = read_requests_csv(csv_file)
    elif address and assignment_id:
        requests = [parse_request(address, assignment_id)]
    else:
        raise UsageError(
            "give ADDRESS ASSIGNMENT_ID, or --from-csv FILE",
            hint=f"e.g. lmsctl import 5f1a0c0b8e1d2a0001a00001/hw-01 {_EXAMPLE_ID} [ROOT]",
        )
    outcomes = import_root(
        workspace_options(cli, root, command="lmsctl import", progress=False),
        requests,
        generate=generate,
        grades=grades,
    )
    if fmt == "json":
        click.echo(dumps_for_terminal(import_document(outcomes, generated=generate), indent=2))
        return 0
    plan_command = hint_command(cli, "plan", display_path(root))
    click.echo(
        render_import_text(outcomes, generated=generate, plan_command=plan_command), nl=False
    )
    return 0
