"""The JSON Schemas of the installed lmsctl, exported into a user's repository, and the check
that the schemas a manifest's modeline points at are the installed lmsctl's.

Editors read ``# yaml-language-server: $schema=<path>`` on a manifest's first lines. The
schemas ship inside the package (``lmsctl/schemas/``); ``export_schemas`` writes them to a
folder of the user's repository, stamped with the lmsctl version that wrote them
(``x-lmsctl-version``, also in ``$id``) and a digest of their rules (``x-lmsctl-digest``), so
that ``lmsctl validate`` can say when a modeline's schema is older than the installed lmsctl's.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lmsctl import __version__
from lmsctl.errors import ConfigError, Diagnostic, Severity
from lmsctl.model import SourcePos

SECTION_SCHEMA = "section.schema.json"
CONFIG_SCHEMA = "config.schema.json"
PLAN_SCHEMA = "plan.schema.json"
#: the schemas a user's repository needs (manifests, settings, and saved plans for CI)
EXPORTED_SCHEMAS: tuple[str, ...] = (SECTION_SCHEMA, CONFIG_SCHEMA, PLAN_SCHEMA)
#: where ``lmsctl init`` puts them, relative to the root
DEFAULT_SCHEMA_DIR = "schemas"
MODELINE_PREFIX = "# yaml-language-server: $schema="
VERSION_KEY = "x-lmsctl-version"
DIGEST_KEY = "x-lmsctl-digest"
_STAMP_KEYS = ("$id", VERSION_KEY, DIGEST_KEY)
_MODELINE_RE = re.compile(r"^#\s*yaml-language-server:\s*\$schema=(\S+)")
#: a modeline is looked for on the first lines only (editors read it at the top)
_MODELINE_LINES = 5


def _packaged(name: str) -> dict[str, Any]:
    text = resources.files("lmsctl.schemas").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def rules_digest(schema: dict[str, Any]) -> str:
    """A digest of a schema's rules: everything but its ``$id`` and lmsctl's stamps."""
    rules = {k: v for k, v in schema.items() if k not in _STAMP_KEYS}
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def exported_schema(name: str) -> dict[str, Any]:
    """The installed schema ``name`` as export writes it: versioned ``$id`` and stamps."""
    schema = _packaged(name)
    digest = rules_digest(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$id" and isinstance(value, str):
            base, _, file = value.rpartition("/schemas/")
            value = f"{base}/schemas/{__version__}/{file}" if base else value
        out[key] = value
        if key == "$id":
            out[VERSION_KEY] = __version__
            out[DIGEST_KEY] = digest
    out.setdefault(VERSION_KEY, __version__)
    out.setdefault(DIGEST_KEY, digest)
    return out


def exported_text(name: str) -> str:
    return json.dumps(exported_schema(name), indent=2, ensure_ascii=False) + "\n"


class ExportStatus(enum.StrEnum):
    WRITTEN = "written"  # there was no such file
    UPDATED = "updated"  # replaced a different file
    UNCHANGED = "unchanged"  # already the installed lmsctl's


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    status: ExportStatus


def write_atomically(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written).

    ``exclusive``: refuse (FileExistsError) when ``path`` already exists.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if path exists, atomically
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def export_schemas(directory: Path) -> list[ExportedFile]:
    """Write the installed lmsctl's schemas into ``directory`` (created if needed)."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(
            f"{directory} is a file, not a folder",
            hint="give the folder the schemas should go to, e.g. schemas",
        )
    results: list[ExportedFile] = []
    for name in EXPORTED_SCHEMAS:
        path = directory / name
        text = exported_text(name)
        status = ExportStatus.WRITTEN
        if path.exists():
            try:
                status = (
                    ExportStatus.UNCHANGED
                    if path.read_text(encoding="utf-8") == text
                    else ExportStatus.UPDATED
                )
            except (OSError, UnicodeDecodeError):
                status = ExportStatus.UPDATED
        if status is not ExportStatus.UNCHANGED:
            try:
                write_atomically(path, text)
            except OSError as exc:
                raise ConfigError(
                    f"cannot write {path}: {exc.strerror or type(exc).__name__}",
                    hint="give a folder you can write to",
                ) from exc
        results.append(ExportedFile(path, status))
    return results


def modeline(from_file: Path, schema_dir: Path, name: str) -> str:
    """The modeline line for ``from_file`` pointing at ``schema_dir/name`` (relative)."""
    target = Path(os.path.relpath(schema_dir / name, from_file.parent)).as_posix()
    return f"{MODELINE_PREFIX}{target}"


def _shown(path: Path, cwd: Path | None) -> str:
    base = os.path.abspath(cwd or Path.cwd())
    try:
        shown = Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # pragma: no cover - another drive on Windows
        return path.as_posix()
    return shown if shown != "." else "."


def _version_key(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _find_modeline(path: Path) -> tuple[int, int, str] | None:
    """(line, column, target) of a manifest's schema modeline, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                if number > _MODELINE_LINES:
                    break
                match = _MODELINE_RE.match(line.strip())
                if match:
                    return number, line.index("$schema=") + len("$schema=") + 1, match.group(1)
    except OSError:
        return None
    return None


def modeline_diagnostics(
    files: list[tuple[Path, str, str]], *, cwd: Path | None = None
) -> list[Diagnostic]:
    """Warnings for modelines whose schema is missing, or not the installed lmsctl's.

    ``files``: (path, name shown in diagnostics, expected schema name). Remote schemas
    (``http(s)://``) are not checked.
    """
    installed = {name: rules_digest(_packaged(name)) for name in EXPORTED_SCHEMAS}
    diags: list[Diagnostic] = []
    for path, shown, expected in files:
        found = _find_modeline(path)
        if found is None:
            continue
        line, col, target = found
        if "://" in target:
            continue
        schema_path = Path(os.path.abspath(path.parent / target))
        export_hint_dir = _shown(schema_path.parent, cwd)
        hint = f"write the installed lmsctl's schemas with: lmsctl schema export {export_hint_dir}"

        def warn(
            message: str, hint: str = hint, line: int = line, col: int = col, shown: str = shown
        ) -> None:
            diags.append(
                Diagnostic.at(
                    SourcePos(shown, line, col),
                    message,
                    hint,
                    severity=Severity.WARNING,
                    where="$schema:",
                    rule="schema-modeline",
                )
            )

        if not schema_path.is_file():
            warn(f"the schema {target} does not exist, so editors cannot check this file")
            continue
        try:
            schema = json.loads(schema_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            warn(f"the schema {target} is not a readable JSON file")
            continue
        if not isinstance(schema, dict):
            warn(f"the schema {target} is not a JSON Schema")
            continue
        name = expected if expected in installed else schema_path.name
        digest = installed.get(name)
        if digest is None or rules_digest(schema) == digest:
            continue
        stamped = schema.get(VERSION_KEY)
        if isinstance(stamped, str) and _version_key(stamped) < _version_key(__version__):
            warn(
                f"the schema {target} is from lmsctl {stamped}, older than the installed "
                f"lmsctl {__version__}: editors check this file against outdated rules"
            )
        elif isinstance(stamped, str) and _version_key(stamped) > _version_key(__version__):
            warn(
                f"the schema {target} is from lmsctl {stamped}, newer than the installed "
                f"lmsctl {__version__}",
                hint="upgrade lmsctl, or export the installed one's schemas: "
                f"lmsctl schema export {export_hint_dir}",
            )
        else:
            warn(f"the schema {target} is not the installed lmsctl {__version__}'s {name}")
    return diags


__all__ = [
    "CONFIG_SCHEMA",
    "DEFAULT_SCHEMA_DIR",
    "EXPORTED_SCHEMAS",
    "MODELINE_PREFIX",
    "PLAN_SCHEMA",
    "SECTION_SCHEMA",
    "ExportStatus",
    "ExportedFile",
    "export_schemas",
    "exported_schema",
    "exported_text",
    "modeline",
    "modeline_diagnostics",
    "rules_digest",
    "write_atomically",
]
