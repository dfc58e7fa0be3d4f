"""lmsctl sandbox serve names the districts (and their tokens) the server will answer for."""

from __future__ import annotations

from pathlib import Path

from lmsctl.cli.commands.sandbox import _districts
from lmsctl.sandbox import SandboxConfig
from tests.support.cli import run

DEMO = ("5f1a0c0b8e1d2a0001000001", "Maplewood Unified School District (demo)", ["DEMO_TOKEN"])


def test_a_database_reset_to_another_seed_is_named_for_its_own_districts(tmp_path: Path) -> None:
    seed, db = tmp_path / "seed.yaml", tmp_path / "sb.db"
    code, out, err = run("sandbox", "seed", "generate", "--districts", "2", "-o", str(seed))
    assert code == 0, out + err
    # a new database (or none): the seed it will be seeded with
    assert _districts(SandboxConfig(db_path=None)) == [DEMO]
    assert _districts(SandboxConfig(db_path=db)) == [DEMO]
    assert not db.exists()  # looking did not make one
    assert run("sandbox", "reset", "--db", str(db), "--seed", str(seed))[0] == 0
    # served again without --seed: the districts the database holds, not the demo's
    named = _districts(SandboxConfig(db_path=db))
    assert [(d, n) for d, n, _ in named] == [
        ("6a5e00000101000000000001", "Generated District 1"),
        ("6a5e00000201000000000001", "Generated District 2"),
    ]
    assert named[0][2] == ["DEMO_TOKEN"] and len(named[1][2]) == 1
