"""The local state file's encoder: sorted JSON, one line per resource, re-encoding only what
changed since the last write."""

from __future__ import annotations

import copy
import json
from typing import Any

from lmsctl.errors import StateError
from lmsctl.state.model import StateSnapshot


class StateEncoder:
    """Encodes a snapshot as sorted, indented JSON with one line per resource, fast.

    Apply writes state after every API call, so a write must stay cheap for a big state
    (1,000 assignments x 30 grades is about 4 MB). Each resource's line is kept with a deep copy
    of what it encoded; a resource whose content compares equal (a C-speed dict comparison) reuses
    its line, so a write re-encodes only what changed since the last one.
    """

    def __init__(self) -> None:
        self._lines: dict[str, tuple[dict[str, Any], bytes]] = {}

    def encode(self, snapshot: StateSnapshot) -> bytes:
        top = snapshot.to_dict()
        top.pop("resources")
        cache: dict[str, tuple[dict[str, Any], bytes]] = {}
        lines: list[bytes] = []
        try:
            for address in sorted(snapshot.resources):
                content = snapshot.resources[address].to_dict()
                cached = self._lines.get(address)
                # equal content keeps its line (note: 1, 1.0 and True compare equal, so a value
                # that only changes numeric type keeps its earlier spelling; lmsctl compares
                # values normalised, so that never shows as a change)
                if cached is not None and cached[0] == content:
                    line = cached[1]
                    cache[address] = cached
                else:
                    line = (
                        json.dumps(address, ensure_ascii=False)
                        + ": "
                        + json.dumps(content, sort_keys=True, ensure_ascii=False)
                    ).encode()
                    cache[address] = (copy.deepcopy(content), line)
                lines.append(line)
            head = [
                f" {json.dumps(k)}: {json.dumps(v, sort_keys=True, ensure_ascii=False)}"
                for k, v in sorted(top.items())
                if k < "resources"
            ]
            tail = [
                f" {json.dumps(k)}: {json.dumps(v, sort_keys=True, ensure_ascii=False)}"
                for k, v in sorted(top.items())
                if k > "resources"
            ]
        except (TypeError, ValueError) as exc:
            raise StateError(f"cannot encode state as JSON: {exc}") from exc
        self._lines = cache
        out = ["{\n", ",\n".join(head), ",\n" if head else ""]
        if lines:
            body = b",\n  ".join(lines)
            out_bytes = "".join(out).encode() + b' "resources": {\n  ' + body + b"\n }"
        else:
            out_bytes = "".join(out).encode() + b' "resources": {}'
        suffix = (",\n" + ",\n".join(tail) if tail else "") + "\n}\n"
        return out_bytes + suffix.encode()
