"""Group commit: writes that arrive together share one transaction.

The first writer to find no batch being written leads: on its own thread,
it writes every write queued by then in one call of ``write_batch`` (one
transaction), then wakes the writers of that batch. A write that arrives
meanwhile waits, and the first of those leads the next batch. A lone writer
writes at once on its own thread, with no hand-off to a writer thread; N
jobs saving at once cost one transaction (and, power-safe, one fsync) per
batch rather than N. Every writer returns only once its write is durable,
so a step's dependants still start after its result is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Write(Generic[Item, Result]):
    __slots__ = ("done", "error", "item", "result", "wake")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Lock()
        self.wake.acquire()  # released by a leader: written, or this write leads next


class GroupCommit(Generic[Item, Result]):
    """Batches concurrent writes through ``write_batch``.

    ``write_batch(items)`` returns one result per item, in order, or raises:
    then every write of the batch raises that error (none of it was written).
    """

    def __init__(self, write_batch: Callable[[Sequence[Item]], Sequence[Result]]) -> None:
        self._write_batch = write_batch
        self._lock = threading.Lock()
        self._queue: list[_Write[Item, Result]] = []
        self._writing = False
        self.batches = 0  # transactions written: with ``writes``, how well writes were grouped
        self.writes = 0

    def submit(self, item: Item) -> Result:
        """Write ``item`` with whatever else is queued; return its result once durable."""
        write: _Write[Item, Result] = _Write(item)
        with self._lock:
            self._queue.append(write)
            lead = not self._writing
            self._writing = True
        if not lead:
            write.wake.acquire()
        if not write.done:
            self._lead()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            batch = self._queue[:]  # batch[0] is this thread's own write
            self._queue.clear()
        try:
            results = self._write_batch([write.item for write in batch])
        except BaseException as exc:
            for write in batch:
                write.error = (
                    exc
                    if isinstance(exc, Exception) or write is batch[0]
                    else (RuntimeError(f"the write was interrupted: {exc!r}"))
                )
            raise
        else:
            for write, result in zip(batch, results, strict=True):
                write.result = result
        finally:
            self._hand_over(batch)

    def _hand_over(self, batch: list[_Write[Item, Result]]) -> None:
        """Wake the batch's writers, and make the first write queued since the next leader."""
        with self._lock:
            self.batches += 1
            self.writes += len(batch)
            following = self._queue[0] if self._queue else None
            self._writing = following is not None
        for write in batch:
            write.done = True
        for write in batch[1:]:
            write.wake.release()
        if following is not None:
            following.wake.release()
