"""CLI edge cases a careful user hits: unusable paths and arguments give one clean error line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.e2e import CliResult

SAND = ("--sandbox",)


def test_plan_out_in_an_unwritable_place_is_a_clean_error(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    Path("afile").write_text("not a folder\n")
    res = lmsctl(*SAND, "plan", str(coursework), "--out", "afile/plan.json", "--detailed-exitcode")
    assert res.code == 1  # not 2: --detailed-exitcode reads 2 as "there are changes"
    assert "Error: cannot save the plan to afile/plan.json" in res.err
    assert "internal error" not in res.err and "Traceback" not in res.err
    assert "Saved the plan" not in res.err


def test_malformed_api_urls_are_clean_errors(
    lmsctl: Callable[..., CliResult], coursework: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEVER_TOKEN", "tok-never-shown")
    for url, said in [
        ("https://[::1", "is not a valid URL"),
        ("https://api.clever.com:99999/v3.1", "is not a valid URL"),
        ("https://exa mple.com/v3.1", "is not an http(s) URL"),
        ("https://someone:secret@api.clever.com/v3.1", "holds a user name or password"),
    ]:
        res = lmsctl("--api-url", url, "plan", str(coursework))
        assert res.code == 1, url
        assert said in res.err, res.err
        assert "internal error" not in res.err and "secret" not in res.err


def test_nan_seconds_are_refused_as_usage_errors(
    lmsctl: Callable[..., CliResult], coursework: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEVER_TOKEN", "tok")
    res = lmsctl(
        "--api-url", "http://127.0.0.1:9/v3.1", "plan", str(coursework), "--timeout", "nan"
    )
    assert res.code == 1  # a usage error, like every error
    assert "'nan' is not a number of seconds" in res.err
    res = lmsctl(*SAND, "plan", str(coursework), "--lock-timeout", "NaN")
    assert res.code == 1 and "internal error" not in res.err


def test_roster_of_a_section_the_token_cannot_see_names_the_file(
    lmsctl: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("root").mkdir()
    Path("root/other.yaml").write_text(
        "section: 6a5e000001a0000000000009\n"
        "defaults: {assignee_mode: all, description: d, due_date: 2099-05-01}\n"
        "assignments:\n"
        "  a: {title: A, grades: {sis:601: {grade_points: 1}}}\n"
    )
    res = lmsctl(*SAND, "plan", "root")
    assert res.code == 1
    assert (
        "root/other.yaml:1:10: error: section: section 6a5e000001a0000000000009 was not found"
        in (res.err)
    )
    assert "Resource not found" not in res.err


def test_a_district_the_token_does_not_act_for_is_a_clear_error(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    config = coursework / "lmsctl.yaml"
    config.write_text(config.read_text() + "district: 5f1a0c0b8e1d2a0001000009\n")
    res = lmsctl(*SAND, "plan", str(coursework))
    assert res.code == 1
    assert "district 5f1a0c0b8e1d2a0001000009 (lmsctl.yaml's district) was not found" in res.err
    assert "Resource not found" not in res.err


def test_sandbox_db_in_an_impossible_folder_is_a_clean_error(
    lmsctl: Callable[..., CliResult], coursework: Path
) -> None:
    Path("afile").write_text("not a folder\n")
    res = lmsctl("--sandbox", "--sandbox-db", "afile/sub/sandbox.db", "plan", str(coursework))
    assert res.code == 1
    assert "Error: cannot create the folder of the sandbox database afile/sub/sandbox.db" in res.err
    assert "internal error" not in res.err
