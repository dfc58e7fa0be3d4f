"""Python's cycle collector around the large, acyclic data a command builds.

Loading a district's manifests, reading its state and building its plan each make hundreds of
thousands of small containers that form no cycles. With the collector on, each of its full
passes walks everything built so far again (at 100k grades a pass takes as long as reading the
state). :func:`collector_paused` switches it off while such data is built; after, the data is
moved out of the collector's way:

- by default (lmsctl as a library, the tests) to the collector's oldest generation, where it is
  collectable as before (freeze, then unfreeze: what the two calls do together);
- while a command runs in a process that ends with it (the console entry point runs it inside
  :func:`console_command`), frozen: no later pass of that command walks it again.
  Memory is still freed as ever when the data is dropped (reference counting); only garbage in
  a cycle that is frozen with it waits for the command's end: this data forms none, and what
  else is frozen is what the command held at that moment (a freeze comes after loading, after
  reading the state, after building the plan: once each per command).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_keep_frozen = False


#: how many new containers make the collector walk its youngest generation while a console
#: command runs (Python's default is 700)
COMMAND_YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def console_command() -> Iterator[None]:
    """The collector set for a command in a process that ends with it (the console's).

    While the block runs, what is built with the collector paused stays frozen (see the
    module), and the youngest generation is walked every :data:`COMMAND_YOUNG_THRESHOLD` new
    containers instead of 700: a 100k-grade plan reads a few hundred thousand values from the
    API, which kept the collector walking them (and everything they were moved to) about 1500
    times; garbage in cycles still goes, a little later. After the block the collector is as it
    was: the frozen objects are unfrozen again (when nobody else had frozen any), so a caller
    that runs commands in its own process, as the tests do, finds nothing changed.
    """
    global _keep_frozen
    was, _keep_frozen = _keep_frozen, True
    ours = not was and gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], COMMAND_YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
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


__all__ = ["COMMAND_YOUNG_THRESHOLD", "collector_paused", "console_command"]
