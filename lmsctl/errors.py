"""Errors and diagnostics.

Every error lmsctl raises on purpose derives from :class:`LmsctlError`; the CLI's single error
boundary turns them into one line on stderr and the error's ``exit_code``. Errors from the
libraries below (httpx, yaml, jsonschema, sqlite3) are translated at the seam where they occur
and chained with ``raise ... from exc``; none of them leaks out of the core.

The tree::

    * LmsctlError                      exit 1
      x UsageError                     exit 1   bad flags or arguments
      x ManifestError                  exit 1   manifests do not validate (carries Diagnostics)
      x ConfigError                    exit 1   lmsctl.yaml or environment is wrong
      x StateError                     exit 1   state cannot be read or written
        + StateLockedError                      another run holds the lock
        + StateMismatchError                    state belongs to another API or district
        + StalePlanError                        a saved plan no longer matches state
        + StateSaveError                        a save failed mid-run (recovery file kept)
        + StateKeyError                         encrypted state: key missing, wrong or bad
      x PlanError                      exit 1   the plan cannot be made (roster, district, ...)
      x ApiError                       exit 1   the Clever API answered with an error
        + ApiBadRequestError                    400
        + ApiUnauthorizedError                  401
        + ApiForbiddenError                     403
        + ApiNotFoundError                      404
        + ApiMethodNotAllowedError              405
        + ApiRateLimitedError                   429 (after retries ran out)
        + ApiServerError                        5xx (after retries ran out)
      x TransportError                 exit 1   no usable answer from the API
        + OutcomeUnknownError                   a write was sent but its answer was lost
      x InterruptedError_              exit 130 Ctrl-C or SIGTERM
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from lmsctl.safetext import escape_controls


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Located(Protocol):
    """Anything that names a place in a file (lmsctl.model.SourcePos is one)."""

    @property
    def file(self) -> str: ...

    @property
    def line(self) -> int: ...

    @property
    def col(self) -> int: ...


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in the manifests, with where it is and how to fix it.

    Renders as ``file:line:col: error: <where> <message> (<hint>)``.
    """

    file: str
    line: int
    col: int
    severity: Severity = field(default=Severity.ERROR, compare=False)
    where: str = field(default="", compare=False)
    message: str = field(default="", compare=False)
    hint: str = field(default="", compare=False)
    rule: str = field(default="", compare=False)

    @classmethod
    def at(
        cls,
        pos: Located,
        message: str,
        hint: str = "",
        *,
        severity: Severity = Severity.ERROR,
        where: str = "",
        rule: str = "",
    ) -> Diagnostic:
        """The diagnostic for a problem at ``pos`` (a file, line and column)."""
        return cls(
            file=pos.file,
            line=pos.line,
            col=pos.col,
            severity=severity,
            where=where,
            message=message,
            hint=hint,
            rule=rule,
        )

    def format(self) -> str:
        location = f"{self.file}:{self.line}:{self.col}: " if self.file else ""
        text = f"{location}{self.severity.value}: "
        if self.where:
            text += f"{self.where} "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        # a key, value or name quoted from a manifest may hold control or bidi characters
        return escape_controls(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity.value,
            "where": self.where,
            "message": self.message,
            "hint": self.hint,
            "rule": self.rule,
        }

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=lambda d: (d.file, d.line, d.col, d.message))


class LmsctlError(Exception):
    """Root of every error lmsctl raises on purpose."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(LmsctlError):
    """Raised when command-line arguments cannot be used (exit 1, like every error: exit 2 is
    only ever ``plan --detailed-exitcode``'s "there are changes")."""


class ConfigError(LmsctlError):
    """Raised when lmsctl.yaml or the environment is not usable."""


class ManifestError(LmsctlError):
    """Raised when the manifests have errors; carries every diagnostic found."""

    def __init__(self, diagnostics: Sequence[Diagnostic], message: str = "") -> None:
        errors = [d for d in diagnostics if d.is_error]
        super().__init__(message or f"{len(errors)} error(s) in the manifests")
        self.diagnostics = list(diagnostics)


class StateError(LmsctlError):
    """Raised when state cannot be read, written or used."""


class StateLockedError(StateError):
    """Raised when another run holds the state lock."""


class StateMismatchError(StateError):
    """Raised when state belongs to another API base URL or district."""


class StalePlanError(StateError):
    """Raised when a saved plan no longer matches state."""


class StateSaveError(StateError):
    """Raised when a save failed mid-run; what it held is in a recovery file (if any)."""

    def __init__(self, message: str, *, hint: str = "", recovery_file: str | None = None):
        super().__init__(message, hint=hint)
        self.recovery_file = recovery_file


class StateKeyError(StateError):
    """Raised when encrypted state, plan or recovery files cannot be read with the key given
    (LMSCTL_STATE_KEY missing, another key, or a ciphertext that fails its integrity check)."""


class PlanError(LmsctlError):
    """Raised when a plan cannot be made."""

    def __init__(self, message: str, *, hint: str = "", diagnostics: Sequence[Diagnostic] = ()):
        super().__init__(message, hint=hint)
        self.diagnostics = list(diagnostics)


class TransportError(LmsctlError):
    """Raised when no usable answer came back from the API (after retries)."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        return f"{where}{self.message}"


class OutcomeUnknownError(TransportError):
    """Raised when a write reached the API but its answer was lost (timeout, dropped connection)."""


def unknown_outcome_ways_out(
    address: str = "ADDRESS",
    assignment_id: str = "ASSIGNMENT_ID",
    *,
    command: str = "lmsctl",
    root: str = "",
) -> str:
    """The two ways out of a create whose outcome is unknown, the one wording every command uses
    (the plan, apply's report, ``state show``): lmsctl never re-creates it by itself.
    ``command`` is the CLI's prefix, with the flags that chose the run's LMS (--sandbox...);
    ``root`` the manifests root the commands need (empty for the current folder)."""
    tail = f" {root}" if root else ""
    return (
        f"If it exists in the LMS: {command} import {address} {assignment_id}{tail}; "
        f"if it does not: {command} state rm {address}{tail}"
    )


class ApiError(LmsctlError):
    """Raised when the Clever API answers with an error status."""

    status: ClassVar[int] = 0

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.status_code = status
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f"{self.method} {self.path} " if self.method else ""
        return f"{where}-> {self.status_code}: {self.message}"


class ApiBadRequestError(ApiError):
    """400: the API refused the request as written."""


class ApiUnauthorizedError(ApiError):
    """401: no token was sent."""


class ApiForbiddenError(ApiError):
    """403: the token is not valid."""

    def __str__(self) -> str:
        if self.message != "Could not authorize token":  # Clever's answer to a wrong token
            return super().__str__()
        return (
            f"{super().__str__()} (the API refused the token: check CLEVER_TOKEN holds this "
            "district app's bearer token for this API URL)"
        )


class ApiNotFoundError(ApiError):
    """404: the object does not exist, or is not shared with this token."""


class ApiMethodNotAllowedError(ApiError):
    """405: the endpoint does not take this method."""


class ApiRateLimitedError(ApiError):
    """429: rate limited, and retries ran out."""


class ApiServerError(ApiError):
    """5xx: the API failed, and retries ran out (or the call could not be retried)."""


def api_error_for(status: int, message: str, *, method: str = "", path: str = "") -> ApiError:
    """Map a status to the ApiError subclass a caller can act on."""
    cls: type[ApiError]
    if status == 400 or status == 413:
        cls = ApiBadRequestError
    elif status == 401:
        cls = ApiUnauthorizedError
    elif status == 403:
        cls = ApiForbiddenError
    elif status == 404:
        cls = ApiNotFoundError
    elif status == 405:
        cls = ApiMethodNotAllowedError
    elif status == 429:
        cls = ApiRateLimitedError
    elif status >= 500:
        cls = ApiServerError
    else:
        cls = ApiError
    return cls(status, message, method=method, path=path)


class InterruptedError_(LmsctlError):
    """Raised when Ctrl-C or SIGTERM stopped a run; what was done is saved."""

    exit_code = 130


__all__ = [
    "ApiBadRequestError",
    "ApiError",
    "ApiForbiddenError",
    "ApiMethodNotAllowedError",
    "ApiNotFoundError",
    "ApiRateLimitedError",
    "ApiServerError",
    "ApiUnauthorizedError",
    "ConfigError",
    "Diagnostic",
    "InterruptedError_",
    "LmsctlError",
    "ManifestError",
    "OutcomeUnknownError",
    "PlanError",
    "Severity",
    "StalePlanError",
    "StateError",
    "StateKeyError",
    "StateLockedError",
    "StateMismatchError",
    "StateSaveError",
    "TransportError",
    "UsageError",
    "api_error_for",
    "sort_diagnostics",
    "unknown_outcome_ways_out",
]
