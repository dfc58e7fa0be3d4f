"""The README's "Using it with a real district", pasted as a newcomer would try it first: every
command of its code blocks, in order, with --sandbox added (as its last paragraph says)."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path

import pytest

from lmsctl.cli import run

REPO = Path(__file__).resolve().parents[2]
CLOCK = dt.datetime(2026, 1, 12, 12, 0, tzinfo=dt.UTC)

#: commands that stop for a reason of the world, not of the command line: the README's
#: assignment id is an example (no such assignment in the sandbox), it has no imports.csv, and
#: its essay-1 of step 6 (a create whose answer was lost) is in no manifest nor state here
_ESSAY = "5f1a0c0b8e1d2a0001a00001/essay-1"
_ID = "3f1c2a9e-7d4b-4e0a-9a61-2b7c5d8e9f10"
EXPECTED_FAILURES = {
    f"lmsctl import {_ESSAY} {_ID} coursework --generate --grades": (
        f"assignment {_ID} does not exist in section"
    ),
    "lmsctl import --from-csv imports.csv coursework --generate": "cannot read imports.csv",
    f"lmsctl import {_ESSAY} {_ID} coursework": f"{_ESSAY} is in no manifest",
    f"lmsctl state rm {_ESSAY} coursework": "not in state",
}


def _section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("## Using it with a real district")
    return text[start : text.index("\n## ", start + 1)]


def _commands() -> list[str]:
    """Each lmsctl command of the section's sh blocks: continuations joined, comments and the
    prompt's && split off."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", _section(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("#") or not line:
                continue
            found += [part.strip() for part in line.split("&&")]
    return found


def test_the_section_states_what_a_newcomer_needs() -> None:
    section = _section()
    assert "Python 3.11 or newer" in section
    for state in ("success", "matching_in_progress", "pending_authorization", "disconnected"):
        assert f"`{state}`" in section, state
    for words in ("CLEVER_TOKEN", "district id", "lmsctl init", "--generate", "lmsctl pull"):
        assert words in section, words


def test_every_command_of_the_section_runs_against_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("LMSCTL_SANDBOX", "LMSCTL_API_URL", "CLEVER_TOKEN", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    commands = _commands()
    assert [c.split()[1] for c in commands[:2]] == ["init", "import"]
    assert len(commands) >= 8
    failed = []
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "lmsctl", command
        code = run([*words[1:], "--sandbox"], clock=lambda: CLOCK)
        out, err = capsys.readouterr()
        expected = EXPECTED_FAILURES.get(" ".join(words))
        if expected is None and code != 0:
            failed.append((command, f"exit {code}: {err}"))
        elif expected is not None and not (code == 1 and expected in err):
            failed.append((command, f"expected to stop with {expected!r}; exit {code}: {err}"))
        if command.startswith("lmsctl init"):
            assert "LMS canvas, state success" in out
            # something to plan and apply: the section file's own example, uncommented
            section = next(Path("coursework/sections").glob("algebra-1-*.yaml"))
            _add_the_example_assignment(section)
    assert failed == []
    # the daily loop applied the entry: the LMS matches the manifests
    assert run(["plan", "coursework", "--sandbox", "--detailed-exitcode"], clock=lambda: CLOCK) == 0
    assert "No changes. The LMS matches the manifests." in capsys.readouterr().out


def _add_the_example_assignment(path: Path) -> None:
    """Put the commented example entry init writes under assignments: in place of {}."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    at = lines.index("assignments: {}")
    start = next(n for n in range(at, len(lines)) if lines[n].startswith("#   hw-01:"))
    entry = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        entry.append(line[2:].split("  #")[0].rstrip())
    student = re.search(r"^#   (sis:\S+)", text, re.M)
    assert student is not None
    entry = [re.sub(r"sis:\S+:", f"{student.group(1)}:", e) for e in entry]
    lines[at : at + 1] = ["assignments:", *entry]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
