"""Seeds (checked against the schema, generated deterministically) and the sandbox CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lmsctl.cli import cli
from lmsctl.errors import ConfigError
from lmsctl.sandbox import DEMO_DISTRICT_ID, DEMO_SEED_PATH, DEMO_TOKEN, load_seed
from lmsctl.sandbox.seed import check_seed, dump_seed, generate_seed


def test_demo_seed_is_valid_and_matches_the_documented_ids() -> None:
    seed = load_seed(DEMO_SEED_PATH)
    [district] = seed.districts
    assert district["id"] == DEMO_DISTRICT_ID
    assert district["tokens"] == [DEMO_TOKEN]
    assert [len(s["students"]) for s in district["sections"]] == [25, 25, 25, 25]
    assert district["sections"][0]["students"][2]["sis_id"] == "603"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["districts"][0].pop("tokens"), "'tokens' is a required property"),
        (lambda d: d["districts"][0].update(lms_type="moodle"), "at districts/0/lms_type"),
        (lambda d: d["districts"][0]["sections"][0].update(id="xyz"), "does not match"),
        (
            lambda d: d["districts"][0]["sections"].append(d["districts"][0]["sections"][0]),
            "appears twice",
        ),
    ],
)
def test_bad_seeds_say_what_and_where(mutate: object, expected: str) -> None:
    data = generate_seed(sections=1, students=1)
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=expected):
        check_seed(data, "bad.yaml")


def test_unreadable_or_broken_seed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_seed(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("districts: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_seed(broken)


def test_generated_seeds_are_deterministic_and_valid(tmp_path: Path) -> None:
    # (how fast a large seed is made is a benchmark's business, not a timed test's)
    wide = generate_seed(districts=1, sections=10, students=300)
    text = dump_seed(wide)
    assert dump_seed(generate_seed(districts=1, sections=10, students=300)) == text
    (tmp_path / "wide.yaml").write_text(text)
    loaded = load_seed(tmp_path / "wide.yaml")  # checked against the schema
    ids = [s["id"] for s in loaded.districts[0]["sections"][0]["students"]]
    assert len(ids) == 300 and len(set(ids)) == 300
    check_seed(generate_seed(districts=2, sections=20, students=30))


def test_cli_seed_generate_writes_a_loadable_seed(tmp_path: Path) -> None:
    out = tmp_path / "seed.yaml"
    args = ["sandbox", "seed", "generate", "--districts", "2", "--sections", "3"]
    result = CliRunner().invoke(cli, [*args, "--students", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "6 section(s), 24 student(s)" in result.output
    seed = load_seed(out)
    assert [d["tokens"] for d in seed.districts] == [["DEMO_TOKEN"], ["DEMO_TOKEN_2"]]


def test_cli_reset_restores_a_database(tmp_path: Path) -> None:
    from lmsctl.sandbox import SandboxConfig, sandbox_transport
    from tests.support.sandbox_api import Api

    db = tmp_path / "s.db"
    api = Api(sandbox_transport(SandboxConfig(db_path=db)))
    api.create()
    result = CliRunner().invoke(cli, ["sandbox", "reset", "--db", str(db)])
    assert result.exit_code == 0, result.output
    fresh = Api(sandbox_transport(SandboxConfig(db_path=db)))
    listed = fresh.get("/_sandbox/sections/5f1a0c0b8e1d2a0001a00001/assignments").json()
    assert listed["data"] == []


@pytest.mark.parametrize("command", [["serve"], ["reset"], ["seed", "generate"]])
def test_every_sandbox_command_has_help_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(cli, ["sandbox", *command, "--help"])
    assert result.exit_code == 0
    assert "Example:\n    lmsctl sandbox " in result.output


def test_public_api_is_exported() -> None:
    import lmsctl.sandbox as sandbox

    assert len(set(sandbox.__all__)) == len(sandbox.__all__)
    for name in sandbox.__all__:
        assert hasattr(sandbox, name), name
