"""What the sandbox's answers look like: error messages, and resources as the API shows them."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

#: fields a v3.0 answer leaves out (they came with v3.1)
V30_HIDDEN = frozenset({"lms_status", "lms_type", "lms_state"})


def message(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer: Clever's ``{"message": ...}`` body."""
    return JSONResponse({"message": text}, status_code=status, headers=headers)


def for_version(version: str, data: dict[str, Any]) -> dict[str, Any]:
    """A stored object as ``version`` (``v3.0`` or ``v3.1``) of the API shows it."""
    if version == "v3.0":
        return {k: v for k, v in data.items() if k not in V30_HIDDEN}
    return data


def one(data: dict[str, Any], uri: str) -> JSONResponse:
    """A Data API answer holding one object, with its self link."""
    return JSONResponse({"data": data, "links": [{"rel": "self", "uri": uri}]})


def _omit_empty(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A copy without the x-omitempty ``names`` whose value is empty (a number 0 is too)."""
    out = dict(data)
    for name in names:
        if not out.get(name):
            out.pop(name, None)
    return out


def out_assignment(data: dict[str, Any]) -> dict[str, Any]:
    """The stored assignment as the API shows it (x-omitempty fields left out when empty)."""
    names = ("assignee_ids", "attachments", "grading_scale", "submission_types", "max_attempts")
    return _omit_empty(data, names)


def out_submission(data: dict[str, Any]) -> dict[str, Any]:
    """The stored submission as the API shows it; x-omitempty float: a grade of 0 is left out
    too."""
    return _omit_empty(data, ("attachments", "flags", "extra_attempts", "grade_points"))
