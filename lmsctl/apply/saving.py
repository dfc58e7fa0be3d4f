"""Group commit: the saves asked for in one turn of the event loop reach the backend as one.

Every change saves state twice (its intent before the call, its result after), and a local
save appends a journal line and fsyncs it. At the rate limit that is 40 fsyncs a second, each
blocking the event loop that also sends and answers hundreds of calls: on a busy machine a few
slow ones stall the loop, the calls it should send go out late, answers pile up, and the run
falls far below the limit before it recovers. Saves asked for in the same turn are written
together (the records of all their addresses, one journal line, one fsync): the slower the
loop, the more each write carries, so the cost of saving stays small whatever the load.

Nothing is weaker: each ``save`` returns only after a backend save that included the records
as they were when it was asked (the executor changes its records in memory first), and a failed
save fails every save it carried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable


class GroupSave:
    """Batches ``save(addresses)`` calls made in one event-loop turn into one ``write``.

    ``write(())`` means "everything" (a save that named no address), as it does alone.
    """

    def __init__(self, write: Callable[[tuple[str, ...]], None]) -> None:
        self._write = write
        self._addresses: dict[str, None] = {}
        self._everything = False
        self._done: asyncio.Future[None] | None = None
        #: backend writes made, and the saves they carried (for tests and benchmarks)
        self.writes = 0
        self.saves = 0

    async def save(self, addresses: Iterable[str]) -> None:
        """Save the records at ``addresses`` (changed in memory already); raises what the
        backend raised. Cancelling the caller does not cancel the write it joined."""
        wanted = dict.fromkeys(addresses)
        self._addresses.update(wanted)
        self._everything = self._everything or not wanted
        self.saves += 1
        if self._done is None:
            loop = asyncio.get_running_loop()
            self._done = loop.create_future()
            # nobody may be left to read a failure (all callers cancelled): mark it read
            self._done.add_done_callback(lambda f: f.cancelled() or f.exception())
            loop.call_soon(self._flush)
        await asyncio.shield(self._done)

    def _flush(self) -> None:
        # scheduled once per batch, while the batch's future is set
        done, self._done = self._done, None
        assert done is not None
        addresses = () if self._everything else tuple(self._addresses)
        self._addresses, self._everything = {}, False
        self.writes += 1
        try:
            self._write(addresses)
        except Exception as exc:  # handed to every caller of the batch
            done.set_exception(exc)
        else:
            done.set_result(None)
        finally:
            if not done.done():
                done.cancel()  # (an interrupt went through the write: the callers are cancelled)


__all__ = ["GroupSave"]
