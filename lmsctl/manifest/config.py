"""Project settings: ``lmsctl.yaml`` at the root of a coursework folder -> :class:`ProjectConfig`.

Keys (all optional; unknown keys are errors)::

    api_url: https://api.clever.com/v3.1
    district: 5f1a0c0b8e1d2a0001000001      # 24-hex Clever district id
    timezone: America/Chicago               # IANA name; a plain date = 23:59 that day here
    state: {backend: local, path: .lmsctl/state.json}
    # or, shared by a team / CI (connection from LMSCTL_PG_DSN or PG* variables):
    state: {backend: postgres, workspace: district-north, schema: lmsctl, history: 20}
    privacy: pseudonymise                   # full | pseudonymise | redact (see lmsctl.privacy)
    policies:
      on_drift: keep
      max_delete_fraction: 0.5
      freeze:                               # grading-period freezes (see lmsctl.policy)
        - {name: q1-report-cards, start: 2026-11-02, end: 2026-11-13, sections: [...]}
      approval: {returned_grades: true, grade_drop_points: 2, deletes: true}
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from pathlib import Path
from typing import Any

from lmsctl.errors import Diagnostic, ManifestError
from lmsctl.manifest.loader import load_yaml_file
from lmsctl.manifest.schema import CONFIG_SCHEMA, schema_diagnostics
from lmsctl.manifest.yamldoc import Path_, YamlDocument, where_label
from lmsctl.model import (
    ApprovalPolicy,
    DriftPolicy,
    FreezeWindow,
    PolicyConfig,
    ProjectConfig,
    SourcePos,
    StateConfig,
)
from lmsctl.privacy import PrivacyLevel
from lmsctl.state.dsn import dsn_has_password
from lmsctl.timeutil import parse_datetime

CONFIG_FILE = "lmsctl.yaml"
_TIMEZONE_HINT = "use an IANA name such as America/Chicago, Europe/Berlin or UTC"


def display_path(path: Path, cwd: Path | None = None) -> str:
    """A path as diagnostics show it: relative to ``cwd`` (default: the current folder)."""
    # absolute but not resolved: a linked file is named by its link, not by its target
    base = Path(os.path.abspath(cwd or Path.cwd()))
    target = Path(os.path.abspath(path))
    try:
        return target.relative_to(base).as_posix()
    except ValueError:
        try:
            return Path(os.path.relpath(target, base)).as_posix()
        except ValueError:  # pragma: no cover - different drives on Windows
            return target.as_posix()


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` (resolved: links followed) is ``root`` or below it."""
    return path == root or root in path.parents


def outside_root_link(display: str) -> Diagnostic:
    """The error for a file under the root that is a link to a file outside it."""
    return Diagnostic.at(
        SourcePos(display, 1, 1),
        "is a link to a file outside the root folder",
        "copy the file into the coursework folder instead of linking to it",
        rule="outside-root",
    )


def read_config(root: Path, *, cwd: Path | None = None) -> tuple[ProjectConfig, list[Diagnostic]]:
    """Read ``root/lmsctl.yaml`` (defaults when absent); never raises for a bad file.

    Returns the config (defaults wherever the file is unusable) and every diagnostic found.
    """
    path = root / CONFIG_FILE
    if not path.exists():
        return ProjectConfig(), []
    display = display_path(path, cwd)
    diags: list[Diagnostic] = []
    if not is_inside(path.resolve(), root.resolve()):
        diags.append(outside_root_link(display))
        return ProjectConfig(file=display), diags
    doc = load_yaml_file(path, display, on_diagnostic=diags.append)
    if doc is None:
        return ProjectConfig(file=display), diags
    if doc.data is None:
        return ProjectConfig(file=display), diags
    if not isinstance(doc.data, dict):
        diags.append(
            Diagnostic.at(
                SourcePos(display, *doc.pos(())),
                "lmsctl.yaml must be a mapping of settings",
                "write settings as 'key: value' lines, e.g. 'timezone: America/Chicago'",
                rule="config",
            )
        )
        return ProjectConfig(file=display), diags
    schema_diags = schema_diagnostics(doc, CONFIG_SCHEMA, rule="config-schema")
    diags.extend(schema_diags)
    diags.extend(_check_timezone(doc))
    diags.extend(_check_state_password(doc))
    windows, freeze_diags = _freeze_windows(doc)
    diags.extend(freeze_diags)
    return _build(doc, display, windows), diags


def _check_state_password(doc: YamlDocument) -> list[Diagnostic]:
    """A database password never belongs in lmsctl.yaml (it is kept in git)."""
    state = doc.data.get("state")
    if not isinstance(state, dict):
        return []
    found: tuple[str, ...] | None = None
    if "password" in state:
        found = ("state", "password")
    elif isinstance(state.get("dsn"), str) and dsn_has_password(state["dsn"]):
        found = ("state", "dsn")
    if found is None:
        return []
    return [
        Diagnostic.at(
            doc.source_pos(found),
            "holds a database password; lmsctl.yaml is kept in git, so it would leak",
            "remove it and give the password in the environment: PGPASSWORD, ~/.pgpass, "
            "or the whole connection string in LMSCTL_PG_DSN",
            where=where_label(found),
            rule="config-state-password",
        )
    ]


def _check_timezone(doc: YamlDocument) -> list[Diagnostic]:
    tz = doc.data.get("timezone")
    if not isinstance(tz, str) or not tz:
        return []
    if valid_timezone(tz):
        return []
    return [
        Diagnostic.at(
            doc.source_pos(("timezone",)),
            f"unknown timezone {tz!r}",
            _TIMEZONE_HINT,
            where=where_label(("timezone",)),
            rule="config-timezone",
        )
    ]


def valid_timezone(name: str) -> bool:
    """True when ``name`` is an IANA timezone this machine knows."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _pick(data: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = data.get(key, default)
    if isinstance(value, bool) and kind is not bool:
        return default
    return value if isinstance(value, kind) else default


def _moment(text: str, tz: zoneinfo.ZoneInfo, *, end: bool) -> dt.datetime:
    """A window bound: a date is 00:00 that day (for ``end``: 00:00 the day after), a date-time
    without an offset is read in ``tz``. ValueError when it is neither."""
    s = text.strip()
    try:
        day = dt.date.fromisoformat(s)
    except ValueError:
        pass
    else:
        if len(s) == 10:
            moment = dt.datetime.combine(day, dt.time(), tzinfo=tz)
            return moment + dt.timedelta(days=1) if end else moment
    try:
        return parse_datetime(s).astimezone(dt.UTC)
    except ValueError:
        naive = dt.datetime.fromisoformat(s.replace("t", "T"))
        if naive.tzinfo is not None:
            raise
        return naive.replace(tzinfo=tz).astimezone(dt.UTC)


def _freeze_windows(doc: YamlDocument) -> tuple[tuple[FreezeWindow, ...], list[Diagnostic]]:
    """``policies.freeze`` as windows, and a diagnostic per window that cannot be read."""
    policies = doc.data.get("policies")
    raw = policies.get("freeze") if isinstance(policies, dict) else None
    if not isinstance(raw, list):
        return (), []
    base_tz = doc.data.get("timezone")
    base_tz = base_tz if isinstance(base_tz, str) and valid_timezone(base_tz) else "UTC"
    windows: list[FreezeWindow] = []
    diags: list[Diagnostic] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue  # the schema reports it
        window = _freeze_window(doc, ("policies", "freeze", i), item, base_tz, seen)
        if isinstance(window, Diagnostic):
            diags.append(window)
        elif window is not None:
            seen.add(window.name)
            windows.append(window)
    return tuple(windows), diags


def _freeze_window(
    doc: YamlDocument, here: Path_, item: dict[str, Any], base_tz: str, seen: set[str]
) -> FreezeWindow | Diagnostic | None:
    """One ``policies.freeze`` entry: the window, the error that keeps it from being read, or
    None when the schema pass reports what is wrong with it."""
    name, start_raw, end_raw = item.get("name"), item.get("start"), item.get("end")
    if not all(isinstance(v, str) and v for v in (name, start_raw, end_raw)):
        return None  # the schema reports it
    assert isinstance(name, str) and isinstance(start_raw, str) and isinstance(end_raw, str)
    tz_name = item.get("timezone", base_tz)
    if not isinstance(tz_name, str) or not valid_timezone(tz_name):
        return _freeze_problem(doc, (*here, "timezone"), f"unknown timezone {tz_name!r}")
    tz = zoneinfo.ZoneInfo(tz_name)
    try:
        start = _moment(start_raw, tz, end=False)
    except ValueError:
        return _freeze_problem(doc, (*here, "start"), f"{start_raw!r} {_NOT_A_DATE}", _DATE_HINT)
    try:
        end = _moment(end_raw, tz, end=True)
    except ValueError:
        return _freeze_problem(doc, (*here, "end"), f"{end_raw!r} {_NOT_A_DATE}", _DATE_HINT)
    if end <= start:
        return _freeze_problem(
            doc,
            (*here, "end"),
            f"freeze window {name!r} ends before it starts",
            "make end the same day as start or later",
        )
    if name in seen:
        return _freeze_problem(
            doc,
            (*here, "name"),
            f"a second freeze window is named {name!r}",
            "give each window its own name (--allow-frozen names one)",
        )
    what = item.get("freeze") or ["grades", "assignments"]
    return FreezeWindow(
        name=name,
        start=start.astimezone(dt.UTC),
        end=end.astimezone(dt.UTC),
        sections=tuple(str(s) for s in item.get("sections") or ()),
        schools=tuple(str(s) for s in item.get("schools") or ()),
        grades="grades" in what,
        assignments="assignments" in what,
        line=doc.pos(here)[0],
    )


def _freeze_problem(
    doc: YamlDocument, path: Path_, message: str, hint: str = _TIMEZONE_HINT
) -> Diagnostic:
    return Diagnostic.at(
        doc.source_pos(path), message, hint, where=where_label(path), rule="config-freeze"
    )


_NOT_A_DATE = "is not a date or date-time"
_DATE_HINT = "write a date such as 2027-01-22 or a date-time such as 2027-01-22T08:00"


def _approval(raw: Any) -> ApprovalPolicy:
    if not isinstance(raw, dict):
        return ApprovalPolicy()
    drop = raw.get("grade_drop_points")
    if isinstance(drop, bool) or not isinstance(drop, int | float) or drop < 0:
        drop = None
    return ApprovalPolicy(
        returned_grades=raw.get("returned_grades") is True,
        grade_drop_points=float(drop) if drop is not None else None,
        deletes=raw.get("deletes") is True,
    )


def _build(
    doc: YamlDocument, display: str, windows: tuple[FreezeWindow, ...] = ()
) -> ProjectConfig:
    data: dict[str, Any] = doc.data
    base = ProjectConfig()
    tz = _pick(data, "timezone", str, base.timezone)
    if not valid_timezone(tz):
        tz = base.timezone
    state_raw = data.get("state") if isinstance(data.get("state"), dict) else {}
    policies_raw = data.get("policies") if isinstance(data.get("policies"), dict) else {}
    assert isinstance(state_raw, dict) and isinstance(policies_raw, dict)
    sbase = StateConfig()
    pbase = PolicyConfig()
    fraction = _pick(policies_raw, "max_delete_fraction", (int, float), pbase.max_delete_fraction)
    if not 0 <= fraction <= 1:
        fraction = pbase.max_delete_fraction
    on_drift = _pick(policies_raw, "on_drift", str, pbase.on_drift)
    on_drift = DriftPolicy(on_drift) if on_drift in set(DriftPolicy) else pbase.on_drift
    privacy = _pick(data, "privacy", str, None)
    return ProjectConfig(
        api_url=_pick(data, "api_url", str, base.api_url).rstrip("/"),
        district=_pick(data, "district", str, None),
        timezone=tz,
        state=StateConfig(
            backend=_pick(state_raw, "backend", str, sbase.backend),
            path=_pick(state_raw, "path", str, sbase.path),
            dsn=_pick(state_raw, "dsn", str, sbase.dsn),
            workspace=_pick(state_raw, "workspace", str, sbase.workspace),
            schema=_pick(state_raw, "schema", str, sbase.schema),
            history=_pick(state_raw, "history", int, sbase.history),
        ),
        policies=PolicyConfig(
            on_drift=DriftPolicy(on_drift),
            max_delete_fraction=float(fraction),
            freeze=windows,
            approval=_approval(policies_raw.get("approval")),
        ),
        privacy=PrivacyLevel(privacy) if privacy in set(PrivacyLevel) else None,
        file=display,
    )


def load_config(root: Path, *, cwd: Path | None = None) -> ProjectConfig:
    """Read ``root/lmsctl.yaml`` (defaults when absent); ManifestError on any error in it."""
    config, diags = read_config(root, cwd=cwd)
    if any(d.is_error for d in diags):
        raise ManifestError(diags, f"{CONFIG_FILE} has errors")
    return config
