"""The client package exports what the rest of lmsctl uses, in a sorted, complete __all__."""

from __future__ import annotations

import lmsctl.client as client
from lmsctl.client import factory, lms, policy, ratelimit


def test_all_is_sorted_and_complete() -> None:
    assert client.__all__ == sorted(client.__all__)
    public = {
        name
        for module in (factory, lms, policy, ratelimit)
        for name in getattr(module, "__all__", [])
    }
    assert public <= set(client.__all__)
    for name in client.__all__:
        assert getattr(client, name) is not None
