"""Runtime dependencies that lmsctl's speed relies on are declared and installed."""

from __future__ import annotations

import importlib.metadata
import importlib.util


def test_sniffio_is_declared_and_importable() -> None:
    # httpcore imports sniffio for every request; a missing one costs a sys.path search each time
    requires = importlib.metadata.requires("lmsctl") or []
    assert any(r.replace(" ", "").startswith("sniffio") for r in requires)
    assert importlib.util.find_spec("sniffio") is not None
