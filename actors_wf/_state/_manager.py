"""The state manager: the one door to job states, with version checks and waiters."""

from __future__ import annotations

import builtins
import contextlib
import threading
from concurrent.futures import Future, InvalidStateError

import attrs

from .._errors import ActorsWfError, EngineClosed, JobNotFound
from .._records import JobState
from ._store import MemoryStore, Store


class StaleWrite(ActorsWfError, RuntimeError):
    """A write was based on a version of the job that is no longer the latest."""

    code = "stale_write"

    def __init__(self, job_id: str, expected: int, found: int) -> None:
        self.job_id = job_id
        super().__init__(
            f"job {job_id}: write based on version {expected} refused, "
            f"the stored version is {found}; reload the job and apply the change again"
        )


class StateManager:
    """Reads and writes job states through a store; thread-safe.

    Every write names the version it was computed from; a write based on an
    older version is refused (:class:`StaleWrite`), so no update is ever lost
    silently. Waiters learn when a job reaches a terminal status.
    """

    def __init__(self, store: Store | None = None) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self._lock = threading.Lock()
        self._waiters: dict[str, list[Future[JobState]]] = {}
        self._closed = False

    def find(self, job_id: str) -> JobState | None:
        """The latest state of a job, or ``None``."""
        return self.store.load(job_id)

    def get(self, job_id: str) -> JobState:
        """The latest state of a job.

        Raises:
            JobNotFound: no job has that id.
        """
        state = self.store.load(job_id)
        if state is None:
            raise JobNotFound(job_id)
        return state

    def list_jobs(self) -> builtins.list[JobState]:
        """Every job's latest state, oldest first."""
        return list(self.store.iter_jobs())

    def save(self, state: JobState) -> JobState:
        """Store ``state`` as the next version of its job and return what was stored.

        ``state.version`` must be the version it was computed from (0 for a
        new job); the stored record carries that plus one.

        Raises:
            StaleWrite: another write got there first.
        """
        with self._lock:
            current = self.store.load(state.job_id)
            found = -1 if current is None else current.version
            base = state.version if current is not None else -1
            if found != base:
                raise StaleWrite(state.job_id, state.version, found)
            stored = attrs.evolve(state, version=state.version + 1)
            self.store.save(stored)
            waiters = self._waiters.pop(stored.job_id, []) if stored.status.is_terminal else []
        for waiter in waiters:
            with contextlib.suppress(InvalidStateError):  # a waiter gave up meanwhile
                waiter.set_result(stored)
        return stored

    def watch(self, job_id: str) -> Future[JobState]:
        """A future set to the job's state when it reaches a terminal status.

        Each call returns a new future, so cancelling one never affects another.

        Raises:
            JobNotFound: no job has that id.
        """
        future: Future[JobState] = Future()
        with self._lock:
            state = self.get(job_id)
            if state.status.is_terminal:
                future.set_result(state)
            elif self._closed:
                future.set_exception(EngineClosed())
            else:
                self._waiters.setdefault(job_id, []).append(future)
        return future

    def close(self) -> None:
        """Fail every pending waiter with :class:`EngineClosed` and close the store."""
        with self._lock:
            self._closed = True
            waiters = [w for ws in self._waiters.values() for w in ws]
            self._waiters.clear()
        for waiter in waiters:
            with contextlib.suppress(InvalidStateError):
                waiter.set_exception(EngineClosed("the engine closed before the job finished"))
        self.store.close()
