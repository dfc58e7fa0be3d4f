"""state migrate / history / restore / list through the CLI, with a real postgres backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmsctl.state import LocalBackend
from tests.support.cli import run
from tests.support.factories import make_record, make_snapshot

HW1 = make_record("hw-01").address
HW2 = make_record("hw-02").address


@pytest.fixture
def root(tmp_path: Path, pg_dsn: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LMSCTL_PG_DSN", pg_dsn)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _config(root: Path, backend: str, schema: str, path: str = ".lmsctl/state.json") -> None:
    (root / "lmsctl.yaml").write_text(
        f"state: {{backend: {backend}, path: {path}, workspace: north, schema: {schema}}}\n"
    )


def test_migrate_to_postgres_and_back_copies_and_leaves_the_source_untouched(
    root: Path, pg_schema: str
) -> None:
    _config(root, "local", pg_schema)
    local = LocalBackend(root / ".lmsctl" / "state.json")
    snapshot = make_snapshot(make_record("hw-01"), make_record("hw-02"))
    snapshot.api_url = "https://api.clever.com/v3.1"
    local.write(snapshot)
    before = local.path.read_bytes()

    code, out, err = run("state", "migrate", "--to", "postgres", "--root", ".")
    assert code == 0, err
    assert "Copied 2 assignment(s) and 2 grade(s)" in out and "is unchanged" in out
    assert local.path.read_bytes() == before

    code, _out, err = run("state", "migrate", "--to", "postgres", "--root", ".")
    assert code == 1 and "already holds a state" in err and "--force" in err

    _config(root, "postgres", pg_schema, path=".lmsctl/copy.json")
    code, out, err = run("state", "list", "--root", ".", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert listed["lineage"] == snapshot.lineage and listed["serial"] == snapshot.serial
    assert [r["address"] for r in listed["resources"]] == sorted([HW1, HW2])

    code, out, err = run("state", "migrate", "--to", "local", "--root", ".")
    assert code == 0, err
    back = LocalBackend(root / ".lmsctl" / "copy.json").read()
    assert back.to_dict() == snapshot.to_dict()  # the same state, lineage and serial


def test_history_and_restore_through_the_cli(root: Path, pg_schema: str) -> None:
    _config(root, "local", pg_schema)
    LocalBackend(root / ".lmsctl" / "state.json").write(
        make_snapshot(make_record("hw-01"), make_record("hw-02"))
    )
    assert run("state", "migrate", "--to", "postgres", "--root", ".")[0] == 0
    _config(root, "postgres", pg_schema)
    code, out, err = run("state", "rm", HW2, "--root", ".")
    assert code == 0, err

    code, out, err = run("state", "history", "--root", ".")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["SERIAL", "SAVED"]
    assert "lmsctl state rm" in lines[1] and "(current)" in lines[1]
    assert "lmsctl state migrate" in lines[2]
    older = int(lines[2].split()[0])

    code, out, err = run("state", "restore", str(older), "--root", ".")
    assert code == 0, err
    assert f"Restored version {older}" in out and "1 assignment record(s) changed" in out
    code, out, err = run("state", "list", "--root", ".", "--json")
    assert [r["address"] for r in json.loads(out)["resources"]] == sorted([HW1, HW2])
    code, out, err = run("state", "history", "--root", ".", "--json")
    assert json.loads(out)["versions"][0]["command"] == "lmsctl state restore"

    code, _out, err = run("state", "restore", "99999", "--root", ".")
    assert code == 1 and "keeps no version 99999" in err and "state history" in err
