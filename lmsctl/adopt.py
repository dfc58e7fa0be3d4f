"""``lmsctl import``: adopt assignments that already exist in the LMS.

An import records an existing LMS assignment in state at an address, so lmsctl manages it
instead of creating another. Like Terraform, an import needs configuration: the address must
already be in a manifest, unless ``generate`` is asked for; then the manifest entry is written
from the live assignment (only the fields the LMS reports and lmsctl manages for this LMS,
dates in the project's time zone) and, with ``grades``, the grades set in the LMS, so the next
plan says "No changes". State then holds those live values as the last applied ones, so the
three-way diff works from the first plan on.

Nothing is written until every import of a batch has been checked and read from the LMS;
state is written first, then the manifests (each atomically); should a manifest fail to write,
the records are taken out of state again.
"""

from __future__ import annotations

import asyncio
import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmsctl.addresses import UUID_RE, Address, parse_address
from lmsctl.errors import (
    ApiNotFoundError,
    ConfigError,
    ManifestError,
    StateError,
    UsageError,
)
from lmsctl.init import SECTIONS_DIR, SectionRoster, render_section_file, slug
from lmsctl.manifest import load_desired
from lmsctl.manifest.config import display_path
from lmsctl.model import (
    AssignmentSpec,
    DesiredState,
)
from lmsctl.render.adopt import ImportOutcome
from lmsctl.schema_files import (
    DEFAULT_SCHEMA_DIR,
    SECTION_SCHEMA,
    export_schemas,
    write_atomically,
)
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot
from lmsctl.timeutil import format_api_datetime, utcnow
from lmsctl.usecases.entry import manifest_fields, manifest_grades, render_entry, splice_entry
from lmsctl.workspace import Workspace, WorkspaceOptions

_SUBMISSION_PAGE = 100


@dataclass(frozen=True)
class ImportRequest:
    """One import: an address and the LMS assignment id; ``where`` names its CSV line."""

    address: Address
    assignment_id: str
    where: str = ""


@dataclass
class _Pending:
    request: ImportRequest
    live: dict[str, Any] = field(default_factory=dict)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)  # API form, for state
    grades: dict[str, dict[str, Any]] = field(default_factory=dict)  # API form, for state


def parse_request(address: str, assignment_id: str, where: str = "") -> ImportRequest:
    """Check an address and an assignment id from the command line or a CSV row."""
    prefix = f"{where}: " if where else ""
    try:
        parsed = parse_address(address)
    except UsageError as exc:
        raise UsageError(f"{prefix}{exc.message}", hint=exc.hint) from exc
    if parsed.student is not None:
        raise UsageError(
            f"{prefix}import takes an assignment address, not a grade's", hint=parsed.assignment
        )
    if not UUID_RE.match(assignment_id):
        raise UsageError(
            f"{prefix}{assignment_id!r} is not an assignment id",
            hint="Clever assignment ids are UUIDs like 3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10",
        )
    return ImportRequest(parsed, assignment_id.lower(), where)


def read_requests_csv(path: Path) -> list[ImportRequest]:
    """``address,assignment_id`` rows (a header row, blank lines and # comments allowed)."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read {shown}: {reason}") from exc
    requests: list[ImportRequest] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "address":
            continue
        where = f"{shown}:{number}"
        if len(cells) != 2:
            raise UsageError(
                f"{where}: expected 2 columns (address,assignment_id), found {len(cells)}",
                hint="write one import per line: <section id>/<key>,<assignment id>",
            )
        requests.append(parse_request(cells[0], cells[1], where))
    if not requests:
        raise UsageError(f"{shown} lists no imports", hint="one line per import: address,id")
    return requests


# -- the use case ---------------------------------------------------------------------------


def _check_state(snapshot: StateSnapshot, pending: Sequence[_Pending]) -> None:
    # (the hints name plain lmsctl commands: the CLI adds the run's flags and ROOT to them,
    # lmsctl.cli.flags.carry_flags)
    seen: dict[str, str] = {}
    for item in pending:
        req = item.request
        key = req.address.assignment
        prefix = f"{req.where}: " if req.where else ""
        existing = snapshot.resources.get(key)
        if existing is not None and existing.status is ResourceStatus.CREATED:
            raise StateError(
                f"{prefix}{key} is already managed (assignment {existing.assignment_id})",
                hint=f"to manage another one there, first: lmsctl state rm {key}",
            )
        for other_address, record in snapshot.resources.items():
            if record.assignment_id == req.assignment_id:
                if record.section_id != req.address.section_id:
                    # state mv refuses a move across sections: do not suggest it.
                    hint = (
                        f"it belongs to section {record.section_id}; an LMS assignment cannot "
                        "change sections, so keep it in that section's manifest"
                    )
                else:
                    hint = f"to re-address it: lmsctl state mv {other_address} {key}"
                raise StateError(
                    f"{prefix}assignment {req.assignment_id} is already managed as {other_address}",
                    hint=hint,
                )
        for earlier, value in ((key, req.assignment_id), (req.assignment_id, key)):
            if earlier in seen:
                raise UsageError(
                    f"{prefix}{earlier} is imported twice in this batch (also with {seen[earlier]})"
                )
            seen[earlier] = value


def _check_manifests(desired: DesiredState, pending: Sequence[_Pending], generate: bool) -> None:
    written: dict[str, AssignmentSpec] = {a.address: a for a in desired.assignments()}
    for item in pending:
        req = item.request
        key = req.address.assignment
        prefix = f"{req.where}: " if req.where else ""
        spec = written.get(key)
        if spec is not None and generate:
            raise UsageError(
                f"{prefix}{key} is already in the manifests ({spec.pos}); --generate writes "
                "only new entries",
                hint="leave out --generate to adopt it as the manifest describes it",
            )
        if spec is None and not generate:
            raise UsageError(
                f"{prefix}{key} is in no manifest: an import needs the assignment's entry, "
                "or the next plan would delete it",
                hint="add --generate to write the entry from the live assignment, or add "
                f"{req.address.key}: to the section file of {req.address.section_id} first",
            )


async def _fetch(
    ws: Workspace,
    snapshot: StateSnapshot,
    pending: Sequence[_Pending],
    *,
    generate: bool,
    grades: bool,
) -> str:
    """Read each assignment (and its submissions); the district's lms_type when generating."""
    client = ws.client()
    try:

        async def one(item: _Pending) -> None:
            req = item.request
            try:
                item.live = await client.get_assignment(req.address.section_id, req.assignment_id)
            except ApiNotFoundError as exc:
                prefix = f"{req.where}: " if req.where else ""
                record = snapshot.resources.get(req.address.assignment)
                hint = (
                    f"if the create never happened: lmsctl state rm {req.address.assignment}"
                    if record is not None
                    else "check the id: it must be an assignment of section "
                    f"{req.address.section_id}"
                )
                raise StateError(
                    f"{prefix}assignment {req.assignment_id} does not exist in section "
                    f"{req.address.section_id}",
                    hint=hint,
                ) from exc
            if grades:
                item.submissions = await client.list_submissions(
                    req.address.section_id, req.assignment_id, limit=_SUBMISSION_PAGE
                )

        lms_type = ""
        if generate:
            district = await client.get_my_district()
            lms_type = str(district.get("lms_type") or "")
        await asyncio.gather(*(one(item) for item in pending))
        return lms_type
    finally:
        await ws.aclose()


async def _new_section_file(ws: Workspace, section_id: str) -> tuple[Path, str]:
    """A new section file for a section no manifest holds yet (as init writes it)."""
    client = ws.client()
    try:
        section = await client.get_section(section_id)
        students = await client.list_section_users(section_id, "student", limit=10000)
    finally:
        await ws.aclose()
    root = ws.options.root
    name = slug(str(section.get("name") or section_id))
    path = root / SECTIONS_DIR / f"{name}.yaml"
    if path.exists():
        path = root / SECTIONS_DIR / f"{name}-{section_id[-6:]}.yaml"
    roster = SectionRoster(section=section, teachers=(), students=tuple(students))
    schemas = root / DEFAULT_SCHEMA_DIR
    text = render_section_file(roster, name, path, schemas, ws.desired.config.timezone)
    return path, text


@dataclass
class _Texts:
    """The manifest texts of a batch, all computed before anything is written."""

    texts: dict[Path, str] = field(default_factory=dict)
    originals: dict[Path, str | None] = field(default_factory=dict)  # None: a new file
    files_of: dict[str, Path] = field(default_factory=dict)  # section id -> its file
    new_schemas: bool = False


def _file_for(ws: Workspace, desired: DesiredState, section_id: str, out: _Texts) -> Path:
    """The section's file (read once), or a new one for a section no manifest holds."""
    path = out.files_of.get(section_id)
    if path is not None:
        return path
    spec = desired.section(section_id)
    if spec is not None:
        path = Path(os.path.abspath(spec.file))
        original = path.read_text(encoding="utf-8")
        out.texts[path], out.originals[path] = original, original
    else:
        path, text = asyncio.run(_new_section_file(ws, section_id))
        out.texts[path], out.originals[path] = text, None
        out.new_schemas = not (ws.options.root / DEFAULT_SCHEMA_DIR / SECTION_SCHEMA).exists()
    out.files_of[section_id] = path
    return path


def _splice(item: _Pending, path: Path, timezone: str, out: _Texts) -> None:
    """Add the item's entry to its file's text, checked to read back as written."""
    key = item.request.address.key
    comment = f"imported from {item.request.assignment_id}"

    def entry(indent: int) -> str:
        return render_entry(key, item.fields, item.grades, timezone, indent=indent, comment=comment)

    try:
        out.texts[path] = splice_entry(out.texts[path], key, entry)
    except (ConfigError, yaml.YAMLError) as exc:
        reason = exc.message if isinstance(exc, ConfigError) else "it is not valid YAML"
        title = str(item.live.get("title") or "")
        raise ConfigError(
            f"cannot add {item.request.address.assignment} ({title!r}) to "
            f"{display_path(path)}: {reason}",
            hint=getattr(exc, "hint", "") or "fix the file, then import again",
        ) from exc
    _check_spliced(out.texts[path], key, entry(2), path)


def _manifest_texts(
    ws: Workspace,
    desired: DesiredState,
    pending: Sequence[_Pending],
    lms_type: str,
    *,
    grades: bool,
) -> _Texts:
    """Each generated entry spliced into its section file's text (nothing written yet)."""
    out = _Texts()
    for item in pending:
        path = _file_for(ws, desired, item.request.address.section_id, out)
        item.fields = manifest_fields(item.live, lms_type)
        item.grades = manifest_grades(item.submissions) if grades else {}
        _splice(item, path, desired.config.timezone, out)
    return out


def _record(ws: Workspace, snapshot: StateSnapshot, pending: Sequence[_Pending]) -> dict[str, Any]:
    """Put the adopted records into state; returns the records they replaced (to undo)."""
    now = format_api_datetime(utcnow())
    previous = {
        i.request.address.assignment: snapshot.resources.get(i.request.address.assignment)
        for i in pending
    }
    for item in pending:
        req = item.request
        snapshot.resources[req.address.assignment] = ResourceRecord(
            section_id=req.address.section_id,
            key=req.address.key,
            assignment_id=req.assignment_id,
            status=ResourceStatus.CREATED,
            applied=dict(item.fields),
            grades={uid: dict(v) for uid, v in item.grades.items()},
            created_at=str(item.live.get("created") or now),
            updated_at=now,
            adopted=True,
        )
    if not snapshot.api_url:
        snapshot.api_url = ws.api_url
    ws.backend.write(snapshot)
    return previous


def _write_manifests(
    ws: Workspace, snapshot: StateSnapshot, texts: _Texts, previous: Mapping[str, Any]
) -> None:
    """Write the manifests; should one fail, undo those written and the state records."""
    written: list[Path] = []
    try:
        if texts.new_schemas:
            export_schemas(ws.options.root / DEFAULT_SCHEMA_DIR)
        for path, text in texts.texts.items():
            if text != texts.originals[path]:
                write_atomically(path, text)
                written.append(path)
    except (OSError, ConfigError) as exc:
        for path in written:
            before = texts.originals[path]
            if before is None:
                path.unlink(missing_ok=True)
            else:
                write_atomically(path, before)
        for address, previous_record in previous.items():
            if previous_record is None:
                snapshot.resources.pop(address, None)
            else:
                snapshot.resources[address] = previous_record
        ws.backend.write(snapshot)
        reason = (exc.strerror or type(exc).__name__) if isinstance(exc, OSError) else exc.message
        raise ConfigError(
            f"cannot write the manifests ({reason}); nothing was imported",
            hint="make the section files writable, then import again",
        ) from exc


def _load_checked(ws: Workspace, pending: Sequence[_Pending], generate: bool) -> DesiredState:
    """The manifests, checked to allow this batch."""
    desired, diags = load_desired(ws.options.root)
    errors = [d for d in diags if d.is_error]
    if generate and errors:
        # a section file that does not load would get a second file for the same section
        raise ManifestError(
            errors, f"{len(errors)} error(s) in the manifests: fix them before --generate"
        )
    _check_manifests(desired, pending, generate)
    return desired


def import_assignments(
    ws: Workspace,
    requests: Sequence[ImportRequest],
    *,
    generate: bool = False,
    grades: bool = False,
) -> list[ImportOutcome]:
    """Adopt existing LMS assignments (state locked by the caller: use ``with ws``)."""
    if grades and not generate:
        raise UsageError(
            "--grades writes grades into the manifests, so it needs --generate",
            hint="add --generate, or leave out --grades",
        )
    pending = [_Pending(r) for r in requests]
    snapshot = ws.read_state()
    _check_state(snapshot, pending)
    desired = _load_checked(ws, pending, generate)
    lms_type = asyncio.run(_fetch(ws, snapshot, pending, generate=generate, grades=grades))
    texts = _manifest_texts(ws, desired, pending, lms_type, grades=grades) if generate else _Texts()
    # state first, then the manifests; undo the state records if a manifest cannot be written
    previous = _record(ws, snapshot, pending)
    _write_manifests(ws, snapshot, texts, previous)
    return [
        ImportOutcome(
            address=item.request.address.assignment,
            assignment_id=item.request.assignment_id,
            title=str(item.live.get("title") or item.request.assignment_id),
            file=display_path(texts.files_of[item.request.address.section_id])
            if generate
            else None,
            grades=len(item.grades),
            fields=tuple(item.fields),
        )
        for item in pending
    ]


def _check_spliced(text: str, key: str, entry: str, path: Path) -> None:
    """The new text must parse, and hold exactly the entry at ``assignments.<key>``."""
    try:
        data = yaml.safe_load(text)
        wanted = yaml.safe_load(f"assignments:\n{entry}")["assignments"][key]
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"adding the entry would leave {display_path(path)} unreadable",
            hint="add the entry by hand, or import into a section file without odd layout",
        ) from exc
    if not isinstance(data, dict) or (data.get("assignments") or {}).get(key) != wanted:
        raise ConfigError(
            f"could not add {key} to {display_path(path)} safely",
            hint="add the entry by hand, or import into a section file without odd layout",
        )


__all__ = [
    "ImportOutcome",
    "ImportRequest",
    "import_assignments",
    "parse_request",
    "read_requests_csv",
]


def import_root(
    options: WorkspaceOptions,
    requests: Sequence[ImportRequest],
    *,
    generate: bool = False,
    grades: bool = False,
) -> list[ImportOutcome]:
    """The ``lmsctl import`` use case: open the root (state locked, manifests not loaded),
    adopt every request or none, and say what was done."""
    ws = Workspace.open(options, load_manifests=False)
    with ws:
        return import_assignments(ws, requests, generate=generate, grades=grades)
