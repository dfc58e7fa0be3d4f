"""state push / history / migrate through the CLI with the local backend, and the state
settings of lmsctl.yaml (postgres needs no server for these)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsctl.manifest.config import read_config
from lmsctl.model import ProjectConfig
from lmsctl.state import LocalBackend, open_backend, state_path
from lmsctl.state.postgres import PostgresBackend
from lmsctl.state.recovery import RecoveryKeeper
from tests.support.cli import run
from tests.support.factories import make_record, make_snapshot


def _local(root: Path) -> LocalBackend:
    return LocalBackend(state_path(root, ProjectConfig(), sandbox=False))


@pytest.mark.parametrize(
    "state",
    [
        "{backend: postgres, dsn: 'postgresql://ci:Hunter2-pw@db.example/lmsctl'}",
        "{backend: postgres, dsn: 'host=db.example dbname=lmsctl password=Hunter2-pw'}",
        "{backend: postgres, password: Hunter2-pw}",
    ],
)
def test_a_password_in_lmsctl_yaml_is_an_error_pointing_at_the_environment(
    tmp_path: Path, state: str
) -> None:
    (tmp_path / "lmsctl.yaml").write_text(f"timezone: UTC\nstate: {state}\n")
    _config, diags = read_config(tmp_path)
    errors = [d for d in diags if d.is_error]
    assert len(errors) == 1, [d.format() for d in diags]
    text = errors[0].format()
    assert text.startswith("lmsctl.yaml:2:") or ":2:" in text
    assert "password" in text and "PGPASSWORD" in text and "LMSCTL_PG_DSN" in text
    assert "Hunter2-pw" not in text
    code, out, err = run("validate", str(tmp_path))
    assert code == 1 and "Hunter2-pw" not in out + err


def test_postgres_settings_are_read_and_the_dsn_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lmsctl.yaml").write_text(
        "state: {backend: postgres, workspace: district-north, schema: coursework, history: 5}\n"
    )
    config, diags = read_config(tmp_path)
    assert diags == []
    assert (config.state.workspace, config.state.schema, config.state.history) == (
        "district-north",
        "coursework",
        5,
    )
    monkeypatch.setenv("LMSCTL_PG_DSN", "postgresql://ci:s3cret@db.example:6543/lmsctl")
    backend = open_backend(tmp_path, config, sandbox=False)
    assert isinstance(backend, PostgresBackend)
    assert backend.description == "postgres db.example:6543/lmsctl workspace district-north"
    sandbox = open_backend(tmp_path, config, sandbox=True)
    assert isinstance(sandbox, PostgresBackend) and sandbox.workspace == "district-north.sandbox"


@pytest.mark.parametrize(
    ("state", "bad"),
    [("{backend: postgres, workspace: 'a b'}", "workspace"), ("{schema: Drop-Table}", "schema")],
)
def test_bad_workspace_or_schema_names_are_refused(tmp_path: Path, state: str, bad: str) -> None:
    (tmp_path / "lmsctl.yaml").write_text(f"state: {state}\n")
    _config, diags = read_config(tmp_path)
    assert any(bad in d.format() and d.is_error for d in diags), [d.format() for d in diags]


def test_push_stores_a_recovery_file_and_refuses_one_of_another_lineage(tmp_path: Path) -> None:
    backend = _local(tmp_path)
    snapshot = make_snapshot(make_record("hw-01"))
    backend.write(snapshot)
    snapshot.resources[make_record("hw-02").address] = make_record("hw-02")
    keeper = RecoveryKeeper(backend.path.parent, backend.identity)
    kept = keeper.keep(snapshot, [make_record("hw-02").address])
    assert kept is not None

    stranger = make_snapshot(make_record("hw-09"))  # another state, another lineage
    other = RecoveryKeeper(tmp_path / "elsewhere", "local elsewhere").keep(
        stranger, [make_record("hw-09").address]
    )
    assert other is not None
    code, out, err = run("state", "push", str(other), "--root", str(tmp_path))
    assert code == 1 and "another state" in err and "nothing was pushed" in err
    assert make_record("hw-09").address not in _local(tmp_path).read().resources

    code, out, err = run("state", "list", "--root", str(tmp_path))
    assert code == 0  # reading is fine; runs that write are refused until the push
    code, out, err = run("state", "rm", make_record("hw-01").address, "--root", str(tmp_path))
    assert code == 1 and "lmsctl state push" in err and kept.name in err

    code, out, err = run("state", "push", str(kept), "--root", str(tmp_path))
    assert code == 0, err
    assert "Pushed 1 assignment record(s)" in out
    assert not kept.exists()
    assert make_record("hw-02").address in _local(tmp_path).read().resources


def test_history_on_the_local_backend_says_where_history_is_kept(tmp_path: Path) -> None:
    _local(tmp_path).write(make_snapshot(make_record("hw-01")))
    code, _out, err = run("state", "history", "--root", str(tmp_path))
    assert code == 1 and "keeps no history" in err and "backend: postgres" in err


def test_migrate_to_the_backend_already_in_use_is_refused(tmp_path: Path) -> None:
    _local(tmp_path).write(make_snapshot(make_record("hw-01")))
    code, _out, err = run("state", "migrate", "--to", "local", "--root", str(tmp_path))
    assert code == 1 and "already in" in err and "nothing to migrate" in err


def test_an_unreachable_database_is_one_clean_error_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    root = tmp_path / "coursework"
    shutil.copytree(
        Path(__file__).resolve().parents[2] / "examples" / "coursework",
        root,
        ignore=shutil.ignore_patterns(".lmsctl"),
    )
    config = root / "lmsctl.yaml"
    config.write_text(
        config.read_text().replace(
            "  backend: local\n  path: .lmsctl/state.json\n",
            "  backend: postgres\n  workspace: north\n",
        )
    )
    monkeypatch.setenv("LMSCTL_PG_DSN", "postgresql://ci:Pw-0042-secret@127.0.0.1:1/coursework")
    code, out, err = run("--sandbox", "plan", str(root))
    assert code == 1
    assert "Pw-0042-secret" not in out + err and "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "cannot connect to the state database on 127.0.0.1:1 (database coursework)" in err
