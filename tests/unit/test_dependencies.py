"""Runtime dependencies that lmsctl's speed relies on are declared and installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util

import pytest


@pytest.mark.parametrize("name", ["httptools", "orjson"])
def test_the_http_parser_and_the_json_decoder_are_declared_and_importable(name: str) -> None:
    # lmsctl's own HTTP/1.1 client parses answers with httptools, and decodes them with orjson
    requires = importlib.metadata.requires("lmsctl") or []
    assert any(r.replace(" ", "").startswith(name) for r in requires)
    assert importlib.util.find_spec(name) is not None


def test_no_declared_dependency_that_nothing_imports() -> None:
    # httpcore and sniffio served the transport that lmsctl's own client replaced
    requires = importlib.metadata.requires("lmsctl") or []
    names = {r.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip() for r in requires}
    assert not names & {"httpcore", "sniffio", "h11"}
