"""What the differential tests of the manifest's fast reader share: the reader itself with the
loader's limits, and an equality that tells 1, 1.0 and True apart."""

from __future__ import annotations

from typing import Any

from lmsctl.manifest.loader import MAX_DEPTH, MAX_NODES
from lmsctl.manifest.quickyaml import read_block_yaml
from lmsctl.manifest.yamldoc import YamlDocument


def read_quick(text: str) -> YamlDocument | None:
    """The fast reader's document of ``text`` (None: it leaves the text to the loader)."""
    return read_block_yaml(text, "f.yaml", max_nodes=MAX_NODES, max_depth=MAX_DEPTH)


def same_value(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1, 1.0 and True are told apart)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
