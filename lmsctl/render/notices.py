"""Notices about what a run leaves behind that holds students' records (one line each)."""

from __future__ import annotations

from collections.abc import Mapping

from lmsctl.privacy import PrivacyChoice
from lmsctl.state.crypto import KEY_ENV

__all__ = ["plan_file_notice"]


def plan_file_notice(path: str, choice: PrivacyChoice, env: Mapping[str, str]) -> str:
    """What a private run tells about the plan file it saved (always the full plan apply
    needs): whether it is encrypted, and if not, that it must not be uploaded; "" at full."""
    if not choice.private:
        return ""
    if env.get(KEY_ENV, "").strip():
        return (
            f"The plan file is the full plan apply needs (students named), encrypted under "
            f"{KEY_ENV}: only a run with that key can show or apply {path}; "
            "lmsctl show prints it at a privacy level."
        )
    return (
        f"The plan file {path} is the full plan apply needs, with students' ids, names and "
        f"grades in clear ({KEY_ENV} is not set): do not upload or share it, and set "
        f"{KEY_ENV} so that plan files are encrypted; lmsctl show prints it at a privacy level."
    )
