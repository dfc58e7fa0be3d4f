"""``lmsctl --help`` and ``--version`` start fast: they import no command module (each command's
module, with its dependencies, loads only when that command runs). Timing lives in
bench/startup.py; this checks what is imported, which does not depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from lmsctl.cli import COMMANDS, LazyGroup, cli

COMMANDS_DIR = Path(__file__).resolve().parents[2] / "lmsctl" / "cli" / "commands"

_PROBE = """
import json, sys
from lmsctl.cli import run
code = run(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _imported(*args: str) -> tuple[int, str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=False
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return int(report["code"]), done.stdout, list(report["modules"])


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_command(args: list[str]) -> None:
    code, out, modules = _imported(*args)
    assert code == 0
    assert out.strip()
    loaded = [m for m in modules if m.startswith("lmsctl.cli.commands.")]
    assert "lmsctl.privacy" not in modules  # (the scrubber is made on first use)
    assert loaded == []
    # nor the heavy libraries the commands use
    for heavy in ("asyncio", "httpx", "yaml", "jsonschema", "starlette", "psycopg", "cryptography"):
        assert heavy not in modules, heavy


def test_the_help_lists_every_command_with_its_line() -> None:
    _, out, _ = _imported("--help")
    rows = {" ".join(row.split()) for row in out.splitlines()}
    for name, (_, line) in COMMANDS.items():
        assert f"{name} {line}" in rows, (name, out)


def test_every_command_module_is_registered_and_loads() -> None:
    registered = {target.split(":")[0].rsplit(".", 1)[1] for target, _ in COMMANDS.values()}
    on_disk = {p.stem for p in COMMANDS_DIR.glob("*.py") if p.stem != "__init__"}
    assert on_disk == registered
    group = cli
    assert isinstance(group, LazyGroup)
    ctx = click.Context(group)
    for name in COMMANDS:
        command = group.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        assert command.name == name
    assert group.get_command(ctx, "no-such-command") is None


def test_validate_loads_no_http_client() -> None:
    # validate reads files only: the API client (httpx, httptools) is a fifth of its start-up
    examples = Path(__file__).resolve().parents[2] / "examples" / "coursework"
    code, out, modules = _imported("validate", str(examples))
    assert code == 0, out
    assert "0 errors" in out
    for heavy in ("httpx", "httptools", "lmsctl.client.lms", "lmsctl.workspace"):
        assert heavy not in modules, heavy
    # nor asyncio (the client's defaults), nor the plan's JSON document (text output)
    for heavy in ("asyncio", "lmsctl.client.concurrency", "lmsctl.plan.document"):
        assert heavy not in modules, heavy


def test_validate_json_still_renders_its_document() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "coursework"
    code, out, modules = _imported("validate", "--format", "json", str(examples))
    assert code == 0, out
    assert json.loads(out)["valid"] is True
    assert "asyncio" not in modules
