"""lmsctl init and lmsctl schema export against the sandbox's generated district."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import lmsctl.sandbox as sandbox
from lmsctl.client.lms import LmsClient
from lmsctl.sandbox import DEMO_TOKEN, SandboxConfig, sandbox_transport
from lmsctl.schema_files import VERSION_KEY
from tests.support.cli import run
from tests.support.e2e import CliResult

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")
FIRST_SECTION = "6a5e000001a0000000000001"
THIRD_SECTION = "6a5e000001a0000000000003"


@pytest.fixture(scope="session")
def _district_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated district's seed and sandbox database, made once per test process (a few
    seconds of work) through the real CLI; each test gets copies of its own."""
    folder = tmp_path_factory.mktemp("district")
    seed, db = str(folder / "seed.yaml"), str(folder / "sb.db")
    code, out, err = run(
        "sandbox", "seed", "generate", "--sections", "10", "--students", "300", "-o", seed
    )
    assert code == 0, out + err
    code, out, err = run("sandbox", "reset", "--db", db, "--seed", seed)
    assert code == 0, out + err
    return folder


@pytest.fixture
def district(
    _district_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, ...]:
    """A sandbox database holding the generated district of 10 sections x 300 students."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    for made in _district_files.iterdir():
        shutil.copy2(made, tmp_path / made.name)
    return ("--sandbox-db", "sb.db")


def _modeline_target(path: Path) -> Path:
    match = MODELINE.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert match, path
    return (path.parent / match.group(1)).resolve()


def test_init_then_validate_then_plan_with_no_hand_edits(
    lmsctl: Callable[..., CliResult], district: tuple[str, ...]
) -> None:
    res = lmsctl(*district, "init", "proj", "--timezone", "America/Chicago")
    assert res.code == 0, res.text
    assert "LMS canvas, state success" in res.out
    assert "10 section files (3000 students)" in res.out
    assert "lmsctl validate proj" in res.out and "lmsctl --sandbox-db sb.db plan proj" in res.out
    root = Path("proj")
    sections = sorted((root / "sections").glob("*.yaml"))
    assert len(sections) == 10
    config = root / "lmsctl.yaml"
    assert "district: 6a5e00000101000000000001" in config.read_text()
    assert "timezone: America/Chicago" in config.read_text()
    # every modeline resolves to the installed lmsctl's schema
    assert _modeline_target(config) == (root / "schemas" / "config.schema.json").resolve()
    for path in sections:
        target = _modeline_target(path)
        assert target == (root / "schemas" / "section.schema.json").resolve()
        assert json.loads(target.read_text())[VERSION_KEY]
    first = next(p for p in sections if FIRST_SECTION in p.read_text())
    text = first.read_text()
    assert text.count("#   sis:") == 300  # every student, as a comment
    assert "name: course-1-" in text
    validated = lmsctl("validate", "proj")
    assert validated.code == 0, validated.text
    assert "10 sections, 0 assignments, 0 grades: 0 errors, 0 warnings" in validated.out
    planned = lmsctl(*district, "plan", "proj", "--detailed-exitcode")
    assert planned.code == 0, planned.text
    assert "No changes" in planned.out


def test_the_student_comments_are_references_that_resolve(
    lmsctl: Callable[..., CliResult], district: tuple[str, ...]
) -> None:
    assert lmsctl(*district, "init", "proj").code == 0
    path = next(p for p in Path("proj/sections").glob("*.yaml") if FIRST_SECTION in p.read_text())
    text = path.read_text()
    sis = re.search(r"^#   (sis:\d+) ", text, re.M)
    assert sis
    path.write_text(
        text.replace(
            "assignments: {}",
            "assignments:\n  hw-01:\n    title: Homework 1\n    description: Read.\n"
            "    due_date: 2099-01-15\n    assignee_mode: all\n"
            f"    grades:\n      {sis.group(1)}: {{grade_points: 9}}",
        )
    )
    assert lmsctl("validate", "proj").code == 0
    planned = lmsctl(*district, "plan", "proj")
    assert planned.code == 0, planned.text
    assert "1 to create" in planned.out and "1 grade" in planned.out, planned.out


def test_init_never_overwrites_a_file(
    lmsctl: Callable[..., CliResult], district: tuple[str, ...]
) -> None:
    assert lmsctl(*district, "init", "proj").code == 0
    before = {p: p.read_bytes() for p in Path("proj").rglob("*") if p.is_file()}
    again = lmsctl(*district, "init", "proj")
    assert again.code == 1
    assert again.err.count("\n") == 1, again.err  # one clean line
    assert "proj/sections/course-1-" in again.err and "already exists" in again.err
    assert {p: p.read_bytes() for p in Path("proj").rglob("*") if p.is_file()} == before
    # a settings file alone is enough to refuse, and nothing else gets written
    Path("other").mkdir()
    Path("other/lmsctl.yaml").write_text("timezone: UTC\n")
    res = lmsctl(*district, "init", "other")
    assert res.code == 1 and "other/lmsctl.yaml already exists" in res.err, res.err
    assert sorted(p.name for p in Path("other").iterdir()) == ["lmsctl.yaml"]


@pytest.mark.parametrize(
    ("lms_state", "advice"),
    [
        ("matching_in_progress", "wait, then run plan again"),
        ("pending_authorization", "completes the LMS Connect setup"),
        ("disconnected", "reconnects the LMS in the Clever dashboard"),
    ],
)
def test_init_says_what_an_lms_state_other_than_success_means(
    lms_state: str,
    advice: str,
    lmsctl: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    made = lmsctl("sandbox", "seed", "generate", "--sections", "1", "--students", "2", "-o", "s")
    assert made.code == 0, made.text
    seed = Path("s").read_text(encoding="utf-8")
    assert "lms_state: success" in seed
    Path("s").write_text(seed.replace("lms_state: success", f"lms_state: {lms_state}"))
    assert lmsctl("sandbox", "reset", "--db", "sb.db", "--seed", "s").code == 0
    res = lmsctl("--sandbox-db", "sb.db", "init", "proj")
    assert res.code == 0, res.text
    warning = f"Warning: the district's lms_state is '{lms_state}', not 'success'"
    assert warning in res.err and advice in res.err, res.err
    assert "validate works, but plan and apply stop until it is" in res.err
    # what it says holds: validate passes, plan stops
    assert lmsctl("validate", "proj").code == 0
    planned = lmsctl("--sandbox-db", "sb.db", "plan", "proj")
    assert planned.code == 1 and f"lms_state is '{lms_state}'" in planned.err, planned.text


def test_init_filters_by_teacher_school_and_section(
    lmsctl: Callable[..., CliResult], district: tuple[str, ...]
) -> None:
    seed = Path("seed.yaml").read_text()
    email = re.findall(r"email: (\S+@d1\.example)", seed)[2]  # the third section's teacher
    res = lmsctl(*district, "init", "by-teacher", "--teacher", email)
    assert res.code == 0, res.text
    files = list(Path("by-teacher/sections").glob("*.yaml"))
    assert len(files) == 1 and THIRD_SECTION in files[0].read_text()
    assert email in files[0].read_text()
    res = lmsctl(*district, "init", "two", "--section", FIRST_SECTION, "--section", THIRD_SECTION)
    assert res.code == 0, res.text
    assert len(list(Path("two/sections").glob("*.yaml"))) == 2
    res = lmsctl(*district, "init", "school", "--school", "6a5e000001c0000000000001")
    assert res.code == 0 and len(list(Path("school/sections").glob("*.yaml"))) == 10
    res = lmsctl(*district, "init", "none", "--teacher", "nobody@d1.example")
    assert res.code == 1 and "no teacher with email 'nobody@d1.example'" in res.err
    assert not Path("none/lmsctl.yaml").exists()
    res = lmsctl(*district, "init", "none", "--section", "6a5e000001a00000000000ff")
    assert res.code == 1 and "is not one of the 10 sections this token sees" in res.err


def test_sections_and_users_listings_follow_next_links(tmp_path: Path) -> None:
    async def go() -> tuple[int, int]:
        transport = sandbox_transport(SandboxConfig(db_path=None))
        async with LmsClient(
            "http://sandbox.local/v3.1", DEMO_TOKEN, transport=transport, allow_insecure=True
        ) as client:
            sections = await client.list_sections(limit=3)
            teachers = await client.list_users("teacher", limit=1)
            return len(sections), len(teachers)

    assert asyncio.run(go()) == (4, 4)  # the demo district: 4 sections, one teacher each


def test_init_asks_the_data_api_for_pages_of_10000(
    lmsctl: Callable[..., CliResult], district: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[httpx.URL] = []
    real = sandbox.sandbox_transport

    class Recording(httpx.AsyncBaseTransport):
        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            asked.append(request.url)
            return await self.inner.handle_async_request(request)

    monkeypatch.setattr(sandbox, "sandbox_transport", lambda config: Recording(real(config)))
    res = lmsctl(*district, "init", "proj", "--teacher", "lucas.hernandez1@d1.example")
    assert res.code == 0, res.text
    listings = [u for u in asked if u.path != "/v3.1/districts"]
    assert sorted(u.path for u in listings) == [
        "/v3.1/sections",
        f"/v3.1/sections/{FIRST_SECTION}/users",
        "/v3.1/users",
    ]
    assert all(u.params["limit"] == "10000" for u in listings), listings
    assert next(u for u in listings if u.path == "/v3.1/users").params["role"] == "teacher"


def test_schema_export_and_validate_says_when_a_modeline_schema_is_old(
    lmsctl: Callable[..., CliResult], district: tuple[str, ...]
) -> None:
    assert lmsctl(*district, "init", "proj").code == 0
    again = lmsctl("schema", "export", "proj/schemas")
    assert again.code == 0 and again.out.count("unchanged") == 3, again.out
    assert "in proj/sections/NAME.yaml: # yaml-language-server: $schema=../schemas/" in again.out
    # the modeline it shows is the one for the folder it wrote
    other = lmsctl("schema", "export", "editor-schemas")
    shown = "in sections/NAME.yaml: # yaml-language-server: $schema=../editor-schemas/section."
    assert other.code == 0 and shown in other.out, other.out
    schema_path = Path("proj/schemas/section.schema.json")
    schema = json.loads(schema_path.read_text())
    # stamped by an older lmsctl, with the installed one's rules: it checks the same, no warning
    schema_path.write_text(json.dumps({**schema, VERSION_KEY: "0.0.1"}))
    assert "0 warnings" in lmsctl("validate", "proj").out
    # an export by an older lmsctl, whose rules differ from the installed one's
    schema[VERSION_KEY] = "0.0.1"
    del schema["properties"]["defaults"]
    schema_path.write_text(json.dumps(schema))
    res = lmsctl("validate", "proj")
    assert res.code == 0, res.text  # a warning, not an error
    assert res.out.count("is from lmsctl 0.0.1, older than the installed") == 10, res.out
    assert "lmsctl schema export proj/schemas" in res.out
    fixed = lmsctl("schema", "export", "proj/schemas")
    assert "updated  proj/schemas/section.schema.json" in fixed.out
    assert "0 warnings" in lmsctl("validate", "proj").out
    # a modeline pointing nowhere is reported too
    Path("proj/schemas/config.schema.json").unlink()
    res = lmsctl("validate", "proj")
    assert "proj/lmsctl.yaml:1:" in res.out and "does not exist" in res.out, res.out


def test_init_against_a_served_api_with_api_url(
    lmsctl: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmsctl.sandbox import running_server

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLEVER_TOKEN", DEMO_TOKEN)
    with running_server(SandboxConfig()) as base_url:
        res = lmsctl("--api-url", base_url, "init", "proj")
        assert res.code == 0, res.text
        assert f"lmsctl --api-url {base_url} plan proj" in res.out
        assert f"api_url: {base_url}" in Path("proj/lmsctl.yaml").read_text()
        assert len(list(Path("proj/sections").glob("*.yaml"))) == 4
        planned = lmsctl("plan", "proj", "--detailed-exitcode")  # api_url from lmsctl.yaml
        assert planned.code == 0 and "No changes" in planned.out, planned.text
    monkeypatch.delenv("CLEVER_TOKEN")
    res = lmsctl("init", "other")
    assert res.code == 1 and "CLEVER_TOKEN is not set" in res.err
    assert not Path("other").exists()
