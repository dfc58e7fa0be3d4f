"""lmsctl schema: the JSON Schemas of the installed lmsctl, for editors and CI."""

from __future__ import annotations

from pathlib import Path

import click

from lmsctl.cli.flags import examples
from lmsctl.schema_files import (
    EXPORTED_SCHEMAS,
    SECTION_SCHEMA,
    ExportStatus,
    export_schemas,
    modeline,
)


@click.group("schema", epilog=examples("lmsctl schema export schemas"))
def schema() -> None:
    """The JSON Schemas that lmsctl checks manifests against."""


@schema.command(
    "export",
    epilog=examples(
        "lmsctl schema export schemas",
        title="Example (from the root that holds lmsctl.yaml):",
    ),
)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> int:
    """Write the installed lmsctl's JSON Schemas into DIRECTORY (created if needed).

    Writes section.schema.json, config.schema.json and plan.schema.json, each stamped with
    this lmsctl's version, so that the '# yaml-language-server: $schema=...' modeline of every
    manifest resolves in your repository, and 'lmsctl validate' can say when a modeline's schema
    is older than the installed lmsctl's. Run it again after upgrading lmsctl. Files that already
    hold these schemas are left untouched.
    """
    results = export_schemas(directory)
    for item in results:
        click.echo(f"{item.status.value:>9}  {item.path.as_posix()}")
    changed = sum(1 for r in results if r.status is not ExportStatus.UNCHANGED)
    beside = directory.parent / "sections" / "NAME.yaml"
    example = modeline(beside, directory, SECTION_SCHEMA)
    click.echo(
        f"{changed} of {len(EXPORTED_SCHEMAS)} schema files written. A manifest's first line "
        "points editors at them, by a path relative to the manifest, e.g. in "
        f"{beside.as_posix()}: {example}"
    )
    return 0
