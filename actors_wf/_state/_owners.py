"""One writer per running job: its owner (the JobActor), and the user updates waiting for it.

``StateManager`` hands a user's update to a running job's owner through this
table: the update waits here under a number, the owner is told the number,
takes the update and applies it between two of its handlers.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError

from .._core._errors import StoreError
from .._core._records import JobState
from ._transitions import JournalEntry

Save = Callable[[JobState, Sequence[JournalEntry]], JobState]
# A write to one job: given its current state and how to store a next one.
Work = Callable[[JobState, Save], JobState]
# Seconds a user's update to a running job waits for its JobActor to apply it.
UPDATE_TIMEOUT = 60.0


class OwnerGone(Exception):
    """The job's owner stopped before it applied an update: the update is tried again."""


class Owners:
    """Running jobs' owners and the updates waiting for them; thread-safe.

    The caller serialises ``own``, ``disown`` and ``ask`` of one job (the
    StateManager's job lock), so an update is either handed to the owner or
    written to the job at rest, never both.
    """

    def __init__(self) -> None:
        self._owners: dict[str, Callable[[int], None]] = {}
        self._requests: dict[int, tuple[str, Work, Future[JobState]]] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def own(self, job_id: str, notify: Callable[[int], None]) -> None:
        """``notify(number)`` tells the job's owner an update waits."""
        self._owners[job_id] = notify

    def ask(self, job_id: str, work: Work) -> tuple[Callable[[], None], int, Future[JobState]]:
        """Keep ``work`` for the job's owner (it must have one: see :meth:`owned`).

        Returns how to tell the owner (call it outside the job lock), the
        update's number and the future of its result.
        """
        notify = self._owners[job_id]
        number = next(self._numbers)
        future: Future[JobState] = Future()
        with self._lock:
            self._requests[number] = (job_id, work, future)
        return lambda: notify(number), number, future

    def owned(self, job_id: str) -> bool:
        """Whether a JobActor owns the job now."""
        return job_id in self._owners

    def result(self, job_id: str, number: int, future: Future[JobState]) -> JobState:
        """The update's stored state, once its owner applied it.

        Raises:
            OwnerGone: the owner stopped first; write the update again.
            TimeoutError: the owner did not take it within ``UPDATE_TIMEOUT``.
        """
        try:
            return future.result(timeout=UPDATE_TIMEOUT)
        except TimeoutError:
            with self._lock:
                taken = self._requests.pop(number, None) is None
            raise TimeoutError(
                f"job {job_id}: its JobActor did not take the update within "
                f"{UPDATE_TIMEOUT:g}s" + ("; it may still be applied" if taken else "")
            ) from None

    def disown(self, job_id: str, notify: Callable[[int], None] | None = None) -> None:
        """The owner stopped: the updates it did not take are tried again (``OwnerGone``).

        ``notify``: the owner's. If another owner has taken the job since (a job
        retried while its last actor stopped), it stays, and serves what waits.
        """
        current = self._owners.get(job_id)
        if notify is not None and current is not None and current is not notify:
            with self._lock:
                waiting = [n for n, (j, _, _) in self._requests.items() if j == job_id]
            for number in waiting:
                current(number)
            return
        self._owners.pop(job_id, None)
        with self._lock:
            left = [n for n, (j, _, _) in self._requests.items() if j == job_id]
            futures = [self._requests.pop(n)[2] for n in left]
        for future in futures:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(OwnerGone())

    def serve(self, number: int, state: JobState, save: Save) -> None:
        """Apply update ``number`` to ``state`` (the owner's call); its caller gets the result.

        A :class:`StoreError` is raised here too, as the owner's own writes raise it.
        """
        with self._lock:
            request = self._requests.pop(number, None)
        if request is None:
            return  # its caller gave up
        _, work, future = request
        try:
            future.set_result(work(state, save))
        except Exception as exc:
            future.set_exception(exc)
            if isinstance(exc, StoreError):
                raise

    def close(self) -> list[Future[JobState]]:
        """Forget every waiting update; return their futures, for the caller to fail."""
        with self._lock:
            futures = [future for _, _, future in self._requests.values()]
            self._requests.clear()
        return futures
