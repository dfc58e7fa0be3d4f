"""Copies of examples/coursework set up for one kind of test."""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "coursework"

_LOCAL_STATE = "state:\n  backend: local\n  path: .lmsctl/state.json\n"


def copy_with_postgres_state(folder: Path, schema: str) -> None:
    """Copy examples/coursework to ``folder`` with its state in postgres: workspace
    ``district`` in ``schema`` (the connection string comes from LMSCTL_PG_DSN)."""
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns(".lmsctl"))
    config = folder / "lmsctl.yaml"
    text = config.read_text()
    assert _LOCAL_STATE in text
    config.write_text(
        text.replace(
            _LOCAL_STATE,
            f"state:\n  backend: postgres\n  workspace: district\n  schema: {schema}\n",
        )
    )
