"""lmsctl.yaml -> ProjectConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsctl.errors import ManifestError
from lmsctl.manifest.config import load_config, read_config
from lmsctl.model import DriftPolicy, ProjectConfig


def _write(root: Path, text: str) -> None:
    (root / "lmsctl.yaml").write_text(text, encoding="utf-8")


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path) == ProjectConfig()


def test_all_keys_are_read(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "api_url: https://lms.example/v3.1/\n"
        "district: 5f1a0c0b8e1d2a0001000001\n"
        "timezone: America/Chicago\n"
        "state: {backend: local, path: state/lmsctl.json}\n"
        "policies: {on_drift: revert, max_delete_fraction: 0.25}\n",
    )
    config = load_config(tmp_path, cwd=tmp_path)
    assert config.api_url == "https://lms.example/v3.1"
    assert config.district == "5f1a0c0b8e1d2a0001000001"
    assert config.timezone == "America/Chicago"
    assert config.state.path == "state/lmsctl.json"
    assert config.policies.on_drift is DriftPolicy.REVERT
    assert config.policies.max_delete_fraction == 0.25
    assert config.file == "lmsctl.yaml"


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    _write(tmp_path, "# nothing yet\n")
    assert load_config(tmp_path).timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "timezon: UTC\n",
            "lmsctl.yaml:1:1: error: unknown field 'timezon' (did you mean 'timezone'?)",
        ),
        (
            "timezone: Mars/Olympus\n",
            "lmsctl.yaml:1:11: error: timezone: unknown timezone 'Mars/Olympus' "
            "(use an IANA name such as America/Chicago, Europe/Berlin or UTC)",
        ),
        (
            "district: 12345\n",
            "lmsctl.yaml:1:11: error: district: must be a string, not a whole number "
            "(put the value in quotes: YAML reads it as a whole number)",
        ),
        (
            "policies:\n  on_drift: revrt\n",
            "lmsctl.yaml:2:13: error: policies.on_drift: 'revrt' is not an allowed value "
            "(did you mean 'revert'?)",
        ),
        (
            "timezone: UTC\ntimezone: America/Chicago\n",
            "lmsctl.yaml:2:1: error: duplicate key 'timezone', first written at line 1 "
            "(keep only one of them; YAML would silently use the last)",
        ),
        (
            "- a\n- b\n",
            "lmsctl.yaml:1:1: error: lmsctl.yaml must be a mapping of settings "
            "(write settings as 'key: value' lines, e.g. 'timezone: America/Chicago')",
        ),
    ],
)
def test_bad_config_is_reported_with_position(tmp_path: Path, text: str, expected: str) -> None:
    _write(tmp_path, text)
    _, diags = read_config(tmp_path, cwd=tmp_path)
    assert [d.format() for d in diags] == [expected]
    with pytest.raises(ManifestError) as info:
        load_config(tmp_path, cwd=tmp_path)
    assert [d.format() for d in info.value.diagnostics] == [expected]


def test_config_linked_from_outside_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("token: hunter2\n", encoding="utf-8")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "lmsctl.yaml").symlink_to(tmp_path / "secret.yaml")
    _, diags = read_config(root, cwd=root)
    assert [d.format() for d in diags] == [
        "lmsctl.yaml:1:1: error: is a link to a file outside the root folder "
        "(copy the file into the coursework folder instead of linking to it)"
    ]


def test_drift_policy_defaults_to_keep(tmp_path: Path) -> None:
    _write(tmp_path, "timezone: UTC\n")
    assert load_config(tmp_path, cwd=tmp_path).policies.on_drift is DriftPolicy.KEEP
