"""lmsctl against the sandbox served on a real socket, as against Clever: the token comes from
CLEVER_TOKEN and must appear in no output or file; large sections page correctly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lmsctl.sandbox import SandboxConfig, generate_seed, running_server
from lmsctl.sandbox.config import DEMO_CLOCK_START as CLOCK_START

TOKEN = "tok-Zq8u2-very-secret-district-token"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict]]:  # type: ignore[type-arg]
    """One section of 250 students, served with a token of our own."""
    seed = generate_seed(districts=1, sections=1, students=250)
    seed["districts"][0]["tokens"] = [TOKEN]
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed))
    # the sandbox clock is pinned (as the demo's is), so the 2027 due date works on any date
    config = SandboxConfig(db_path=tmp_path / "db", seed_path=seed_file, clock_start=CLOCK_START)
    with running_server(config) as url:
        monkeypatch.setenv("CLEVER_TOKEN", TOKEN)
        monkeypatch.chdir(tmp_path)
        yield url, seed


def _manifests(root: Path, seed: dict) -> None:  # type: ignore[type-arg]
    section = seed["districts"][0]["sections"][0]
    root.mkdir()
    (root / "lmsctl.yaml").write_text("timezone: UTC\n")
    grades = {
        f"sis:{s['sis_id']}": {"grade_points": i % 10, "state": "returned"}
        for i, s in enumerate(section["students"])
    }
    doc = {
        "section": section["id"],
        "assignments": {
            "essay": {
                "title": "Essay",
                "description": "Write 500 words.",
                "due_date": "2027-04-01",
                "assignee_mode": "all",
                "points_possible": 10,
                "grades": grades,
            }
        },
    }
    (root / "big.yaml").write_text(yaml.safe_dump(doc))


@pytest.mark.slow
def test_large_section_over_a_socket_and_the_token_never_leaks(lmsctl, served) -> None:
    url, seed = served
    root = Path("big")
    _manifests(root, seed)
    outputs = []
    plan = lmsctl("--api-url", url, "plan", str(root), "--out", "plan.json")
    outputs.append(plan.text)
    assert plan.code == 0, plan.text
    assert "Plan: 1 to create, 0 to update, 250 grades to set, 0 to delete." in plan.out
    applied = lmsctl("--api-url", url, "apply", "plan.json")
    outputs.append(applied.text)
    assert applied.code == 0, applied.text
    again = lmsctl("--api-url", url, "plan", str(root), "--json", "--detailed-exitcode")
    outputs.append(again.text)
    assert again.code == 0, again.text  # 250 students: 1 roster page, 3 submission pages
    assert json.loads(again.out)["summary"]["has_changes"] is False
    outputs.append(lmsctl("--api-url", url, "status", str(root)).text)
    outputs.append(lmsctl("--api-url", url, "--debug", "state", "list", "--root", str(root)).text)
    # errors carry no token either
    outputs.append(lmsctl("--api-url", url + "/nope", "plan", str(root)).text)
    # everything lmsctl wrote: state, its backup, the lock's folder, the plan file
    files = [p for p in root.rglob("*") if p.is_file()] + [Path("plan.json")]
    assert any(p.name == "state.json" for p in files)
    for text in outputs:
        assert TOKEN not in text
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path


def test_a_wrong_token_is_a_clear_error(lmsctl, served, monkeypatch) -> None:
    url, seed = served
    root = Path("big")
    _manifests(root, seed)
    monkeypatch.setenv("CLEVER_TOKEN", "not-the-token")
    result = lmsctl("--api-url", url, "plan", str(root))
    assert result.code == 1
    assert "403" in result.err and "Could not authorize token" in result.err
    assert "not-the-token" not in result.text
    monkeypatch.delenv("CLEVER_TOKEN")
    missing = lmsctl("--api-url", url, "plan", str(root))
    assert missing.code == 1 and "CLEVER_TOKEN is not set" in missing.err


def test_plain_http_is_refused_except_on_loopback(lmsctl, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLEVER_TOKEN", TOKEN)
    (tmp_path / "r").mkdir()
    result = lmsctl("--api-url", "http://api.example.org/v3.1", "plan", "r")
    assert result.code == 1
    assert "refusing plain http://" in result.err
    assert TOKEN not in result.text
