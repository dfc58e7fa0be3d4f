"""The GitOps pipeline's steps (tests/e2e/test_pipeline.py) with the state the example workflow
uses: the PostgreSQL backend, shared by fresh runner folders through the database alone."""

from __future__ import annotations

import pytest

from tests.e2e.test_pipeline import (  # the fixtures the steps need, and three of its tests
    SharedState,
    github,
    lms,
    origin,
    pipeline,
    test_a_usage_error_fails_the_plan_step,
    test_pr_plan_then_merge_apply_twice_from_fresh_runners,
    test_the_reviewed_plan_is_not_applied_after_another_apply_changed_state,
)

__all__ = [
    "github",
    "lms",
    "origin",
    "pipeline",
    "test_a_usage_error_fails_the_plan_step",
    "test_pr_plan_then_merge_apply_twice_from_fresh_runners",
    "test_the_reviewed_plan_is_not_applied_after_another_apply_changed_state",
]


@pytest.fixture
def shared_state(pg_dsn: str, pg_schema: str) -> SharedState:
    """What the example workflow configures: `state: {backend: postgres, ...}` and the DSN
    from a secret (here, the environment of every runner step)."""
    return SharedState(
        {"backend": "postgres", "workspace": "pipeline", "schema": pg_schema},
        {"LMSCTL_PG_DSN": pg_dsn},
    )
