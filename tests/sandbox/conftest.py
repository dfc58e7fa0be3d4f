"""Fixtures for sandbox tests (helpers live in tests/support/sandbox_api.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lmsctl.sandbox import SandboxConfig, sandbox_transport
from lmsctl.sandbox.config import DEMO_CLOCK_START
from lmsctl.sandbox.seed import dump_seed, generate_seed
from tests.support.sandbox_api import Api


@pytest.fixture
def api() -> Api:
    """The demo district (canvas), in memory."""
    return Api(sandbox_transport(SandboxConfig(random_seed=7)))


@pytest.fixture
def make_api(tmp_path: Path) -> Callable[..., Api]:
    """An Api over a sandbox made from SandboxConfig keyword arguments (its clock pinned to the
    demo's start, whatever the seed, so no test depends on today's date)."""

    def make(**kw: Any) -> Api:
        kw.setdefault("clock_start", DEMO_CLOCK_START)
        return Api(sandbox_transport(SandboxConfig(**kw)))

    return make


@pytest.fixture
def seed_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a generated seed (generate_seed keyword arguments) and return its path."""

    def make(**kw: Any) -> Path:
        path = tmp_path / f"seed-{len(list(tmp_path.glob('seed-*')))}.yaml"
        path.write_text(dump_seed(generate_seed(**kw)), encoding="utf-8")
        return path

    return make


@pytest.fixture
def two_districts(seed_file: Callable[..., Path]) -> Iterator[Path]:
    yield seed_file(districts=2, sections=1, students=3)
