"""Python's cycle collector around the large, acyclic data a command builds.

Loading a district's manifests, reading its state and building its plan each make hundreds of
thousands of small containers that form no cycles. With the collector on, each of its full
passes walks everything built so far again (at 100k grades a pass takes as long as reading the
state). :func:`collector_paused` switches it off while such data is built; after, the data is
moved out of the collector's way:

- by default (lmsctl as a library, the tests) to the collector's oldest generation, where it is
  collectable as before (freeze, then unfreeze: what the two calls do together);
- while a command runs in a process that ends with it (the console entry point runs it inside
  :func:`built_data_kept_frozen`), frozen: no later pass of that command walks it again.
  Memory is still freed as ever when the data is dropped (reference counting); only garbage in
  a cycle among frozen objects would wait for the command's end, and this data forms none.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_keep_frozen = False


@contextlib.contextmanager
def built_data_kept_frozen() -> Iterator[None]:
    """While the block runs, what is built with the collector paused stays frozen (see the
    module): for a command in a process that ends with it. After the block the frozen objects
    are unfrozen again (when nobody else had frozen any), so a caller that runs commands in its
    own process, as the tests do, gets the collector back as it was."""
    global _keep_frozen
    was, _keep_frozen = _keep_frozen, True
    ours = not was and gc.get_freeze_count() == 0
    try:
        yield
    finally:
        _keep_frozen = was
        if ours:
            gc.unfreeze()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while the block builds data (as it was, after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if _keep_frozen:
                gc.freeze()
            elif gc.get_freeze_count() == 0:  # (nobody else froze objects: unfreeze is ours)
                gc.freeze()
                gc.unfreeze()
            gc.enable()


__all__ = ["built_data_kept_frozen", "collector_paused"]
