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
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lmsctl.addresses import UUID_RE, Address, parse_address
from lmsctl.diff import is_set
from lmsctl.errors import (
    ApiNotFoundError,
    ConfigError,
    ManifestError,
    StateError,
    UsageError,
)
from lmsctl.fields import ignored_fields
from lmsctl.init import SECTIONS_DIR, SectionRoster, render_section_file, slug
from lmsctl.manifest import load_desired
from lmsctl.manifest.config import display_path
from lmsctl.model import (
    ASSIGNMENT_DATE_FIELDS,
    ASSIGNMENT_FIELDS,
    GRADE_DATE_FIELDS,
    GRADE_FIELDS,
    DesiredState,
)
from lmsctl.schema_files import (
    DEFAULT_SCHEMA_DIR,
    SECTION_SCHEMA,
    export_schemas,
    write_atomically,
)
from lmsctl.state.model import ResourceRecord, ResourceStatus, StateSnapshot
from lmsctl.timeutil import format_api_datetime, parse_datetime, utcnow
from lmsctl.workspace import Workspace
from lmsctl.yamledit import after_line, compose, end_of_block

_ATTACHMENT_KEYS = ("type", "title", "url", "description")
_SUBMISSION_PAGE = 100


@dataclass(frozen=True)
class ImportRequest:
    """One import: an address and the LMS assignment id; ``where`` names its CSV line."""

    address: Address
    assignment_id: str
    where: str = ""


@dataclass(frozen=True)
class ImportOutcome:
    """What one import did."""

    address: str
    assignment_id: str
    title: str
    file: str | None = None  # the manifest file an entry was written to (generate)
    grades: int = 0  # grades written to the manifest
    fields: tuple[str, ...] = ()  # fields written to the manifest


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


# -- the manifest entry ---------------------------------------------------------------------


def manifest_fields(live: Mapping[str, Any], lms_type: str) -> dict[str, Any]:
    """The managed fields the LMS reports for an assignment (API form), in lmsctl's order."""
    ignored = ignored_fields(lms_type)
    out: dict[str, Any] = {}
    for name in ASSIGNMENT_FIELDS:
        value = live.get(name)
        if value is None or value == "" or value == [] or name in ignored:
            continue
        if name == "assignee_ids" and live.get("assignee_mode") != "individuals":
            continue  # with assignee_mode: all the LMS assigns everyone; ids are not managed
        if name == "attachments" and isinstance(value, list):
            value = [
                {k: a[k] for k in _ATTACHMENT_KEYS if a.get(k) is not None}
                for a in value
                if isinstance(a, Mapping)
            ]
        out[name] = value
    return out


def manifest_grades(submissions: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per student, the grade fields a teacher set in the LMS (API form)."""
    grades: dict[str, dict[str, Any]] = {}
    for sub in sorted(submissions, key=lambda s: str(s.get("user_id"))):
        uid = str(sub.get("user_id") or "")
        fields = {f: sub[f] for f in GRADE_FIELDS if is_set(f, sub.get(f))}
        if uid and fields:
            grades[uid] = fields
    return grades


def _local_date(value: Any, zone: zoneinfo.ZoneInfo) -> Any:
    """An API date-time as a manifest writes it: a date alone for 23:59 local, else local."""
    if not isinstance(value, str):
        return value
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return value
    local = parsed.astimezone(zone)
    if (local.hour, local.minute, local.second, local.microsecond) == (23, 59, 0, 0):
        return local.date()
    spec = "milliseconds" if local.microsecond else "seconds"
    return local.isoformat(timespec=spec)


def _for_yaml(name: str, value: Any, zone: zoneinfo.ZoneInfo) -> Any:
    if name in ASSIGNMENT_DATE_FIELDS or name in GRADE_DATE_FIELDS:
        return _local_date(value, zone)
    return _tidy(value)


def yaml_value(name: str, value: Any, timezone: str) -> Any:
    """An API value of field ``name`` as a manifest writes it (dates in ``timezone``)."""
    return _for_yaml(name, value, zoneinfo.ZoneInfo(timezone))


class _Dumper(yaml.SafeDumper):
    """Multi-line text as ``|`` blocks, so a description reads as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def _tidy(value: Any) -> Any:
    """Whole floats as ints (20.0 -> 20); compare equal, read better."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    return value


def _dump(value: Any, *, flow: bool) -> str:
    text = yaml.dump(
        _tidy(value),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=flow,
        width=10_000,
    )
    return text.removesuffix("...\n").rstrip("\n")


def render_entry(
    key: str,
    fields: Mapping[str, Any],
    grades: Mapping[str, Mapping[str, Any]],
    timezone: str,
    *,
    indent: int = 2,
    comment: str = "",
) -> str:
    """The YAML lines of one assignment entry, indented ``indent`` under ``assignments:``."""
    zone = zoneinfo.ZoneInfo(timezone)
    pad = " " * indent
    body: dict[str, Any] = {name: _for_yaml(name, v, zone) for name, v in fields.items()}
    lines = [f"{pad}{key}:" + (f"  # {comment}" if comment else "")]
    for line in _dump(body, flow=False).splitlines():
        lines.append(f"{pad}  {line}")
    if grades:
        lines.append(f"{pad}  grades:")
        for uid, values in grades.items():
            shown = {name: _for_yaml(name, v, zone) for name, v in values.items()}
            lines.append(f"{pad}    {uid}: {_dump(shown, flow=True)}")
    return "\n".join(lines) + "\n"


def splice_entry(text: str, key: str, entry_for: Callable[[int], str]) -> str:
    """Add one entry under the top-level ``assignments:`` of a section file's text.

    ``entry_for(indent)`` renders the entry. Every other byte of the file stays as it was.
    ConfigError when the file's layout does not allow it (a non-empty flow mapping).
    """
    root = compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("the section file is not a mapping")
    for key_node, value in root.value:
        if key_node.value != "assignments":
            continue
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null"):
            # 'assignments:' with nothing, or '~' / 'null'
            head = text[: value.start_mark.index] + text[value.end_mark.index :]
            at = after_line(head, key_node.start_mark.index)
            return _join(head, at, entry_for(2))
        if isinstance(value, yaml.MappingNode) and value.flow_style:
            if value.value:
                raise ConfigError(
                    "assignments is written as a {...} mapping",
                    hint="write it as a block (one key per line) so import can add to it",
                )
            head = text[: value.start_mark.index].rstrip(" ") + text[value.end_mark.index :]
            at = after_line(head, key_node.start_mark.index)
            return _join(head, at, entry_for(2))
        if isinstance(value, yaml.MappingNode):
            indent = value.value[0][0].start_mark.column
            return _join(text, end_of_block(text, value), entry_for(indent))
        raise ConfigError("assignments is not a mapping")
    base = text if text.endswith("\n") or not text else text + "\n"
    return base + "assignments:\n" + entry_for(2)


def _join(text: str, at: int, entry: str) -> str:
    before = text[:at]
    if before and not before.endswith("\n"):
        before += "\n"
    return before + entry + text[at:]


# -- the use case ---------------------------------------------------------------------------


def _check_state(snapshot: StateSnapshot, pending: Sequence[_Pending]) -> None:
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
    written = {a.address: a for a in desired.assignments()}
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
    desired, diags = load_desired(ws.options.root)
    errors = [d for d in diags if d.is_error]
    if generate and errors:
        # a section file that does not load would get a second file for the same section
        raise ManifestError(
            errors, f"{len(errors)} error(s) in the manifests: fix them before --generate"
        )
    _check_manifests(desired, pending, generate)
    lms_type = asyncio.run(_fetch(ws, snapshot, pending, generate=generate, grades=grades))
    timezone = desired.config.timezone

    # the manifest texts, all computed before anything is written
    texts: dict[Path, str] = {}
    originals: dict[Path, str | None] = {}
    files_of: dict[str, Path] = {}
    new_schemas = False
    for item in pending:
        if not generate:
            continue
        section_id = item.request.address.section_id
        path = files_of.get(section_id)
        if path is None:
            spec = desired.section(section_id)
            if spec is not None:
                path = Path(os.path.abspath(spec.file))
                original = path.read_text(encoding="utf-8")
                texts[path], originals[path] = original, original
            else:
                path, text = asyncio.run(_new_section_file(ws, section_id))
                texts[path], originals[path] = text, None
                new_schemas = not (ws.options.root / DEFAULT_SCHEMA_DIR / SECTION_SCHEMA).exists()
            files_of[section_id] = path
        item.fields = manifest_fields(item.live, lms_type)
        item.grades = manifest_grades(item.submissions) if grades else {}
        key = item.request.address.key
        title = str(item.live.get("title") or "")
        comment = f"imported from {item.request.assignment_id}"

        def entry(indent: int, item: _Pending = item, comment: str = comment) -> str:
            return render_entry(
                item.request.address.key,
                item.fields,
                item.grades,
                timezone,
                indent=indent,
                comment=comment,
            )

        try:
            texts[path] = splice_entry(texts[path], key, entry)
        except (ConfigError, yaml.YAMLError) as exc:
            reason = exc.message if isinstance(exc, ConfigError) else "it is not valid YAML"
            raise ConfigError(
                f"cannot add {item.request.address.assignment} ({title!r}) to "
                f"{display_path(path)}: {reason}",
                hint=getattr(exc, "hint", "") or "fix the file, then import again",
            ) from exc
        _check_spliced(texts[path], key, entry(2), path)

    # state first, then the manifests; undo the state records if a manifest cannot be written
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
    written: list[Path] = []
    try:
        if new_schemas:
            export_schemas(ws.options.root / DEFAULT_SCHEMA_DIR)
        for path, text in texts.items():
            if text != originals[path]:
                write_atomically(path, text)
                written.append(path)
    except (OSError, ConfigError) as exc:
        for path in written:
            before = originals[path]
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
    return [
        ImportOutcome(
            address=item.request.address.assignment,
            assignment_id=item.request.assignment_id,
            title=str(item.live.get("title") or item.request.assignment_id),
            file=display_path(files_of[item.request.address.section_id]) if generate else None,
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
    "manifest_fields",
    "manifest_grades",
    "parse_request",
    "read_requests_csv",
    "render_entry",
    "splice_entry",
    "yaml_value",
]
