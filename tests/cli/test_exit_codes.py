"""Exit codes: 2 is only ever `plan --detailed-exitcode`'s "there are changes"; every error,
a usage error too (click's own exit 2), exits 1, so a broken plan step in CI never reads as
"changes" and passes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lmsctl.cli import cli, run

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "examples" / "coursework"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "coursework"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".lmsctl"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("LMSCTL_SANDBOX", raising=False)
    monkeypatch.delenv("LMSCTL_API_URL", raising=False)
    return Path("coursework")


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--detailed-exitcode", "--no-such-flag"],  # click: no such option
        ["plan", "--detailed-exitcode", "--format", "yaml"],  # click: bad choice
        ["plan", "--detailed-exitcode", "--lock-timeout", "soon"],  # click: bad value
        ["plan", "--detailed-exitcode", "--target", "not-an-address"],  # lmsctl's UsageError
        ["plan", "--detailed-exitcode", "a", "b"],  # click: unexpected extra argument
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_1_not_2(
    argv: list[str], root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["--sandbox", *argv])
    _, err = capsys.readouterr()
    assert code == 1, err
    assert "Error:" in err and "Traceback" not in err


def test_detailed_exitcode_2_for_changes_then_0_for_none(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--sandbox", "plan", str(root), "--detailed-exitcode"]) == 2
    assert run(["--sandbox", "apply", str(root), "--auto-approve"]) == 0
    capsys.readouterr()
    assert run(["--sandbox", "plan", str(root), "--detailed-exitcode"]) == 0
    assert "No changes" in capsys.readouterr().out


def test_a_manifest_error_exits_1_under_detailed_exitcode(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "broken.yaml").write_text("section: nope\nassignments: {a: {titel: x}}\n")
    assert run(["--sandbox", "plan", str(root), "--detailed-exitcode"]) == 1


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Exit codes:" in out
    assert "2    plan --detailed-exitcode only: there are changes" in out
    assert run(["plan", "--help"]) == 0
    assert "1 on any error" in capsys.readouterr().out
    assert cli.epilog is not None and "130" in cli.epilog
