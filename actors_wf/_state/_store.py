"""Where job states are kept: the store interface and the in-memory store.

A store keeps, per job, the latest state and the journal of every status
change. :meth:`Store.commit` writes both in one step: a new state with the
entries that led to it, or nothing (when the version check fails).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Protocol

from .._core._records import JobState
from .._core._status import JobStatus
from ._transitions import JournalEntry, Transition

# Finished jobs a memory store keeps by default.
MEMORY_FINISHED = 10_000
FINISHED: tuple[JobStatus, ...] = tuple(status for status in JobStatus if status.is_terminal)
_ENDED = frozenset(FINISHED)


class JobPage(list[JobState]):
    """A page of :meth:`StateManager.list_jobs`, newest first, with the cursor to the next.

    Attributes:
        cursor: pass it as ``before`` for the next page; ``None`` after the last.
    """

    def __init__(self, jobs: Iterable[JobState] = (), cursor: str | None = None) -> None:
        super().__init__(jobs)
        self.cursor = cursor

    @staticmethod
    def cursor_of(job: JobState) -> str:
        """The cursor that continues after ``job``."""
        return f"{job.created_at!r}/{job.job_id}"

    @staticmethod
    def position(cursor: str) -> tuple[float, str]:
        """``(created_at, job_id)`` of a cursor.

        Raises:
            ValueError: it is not a cursor ``list_jobs`` gave.
        """
        when, slash, job_id = cursor.partition("/")
        try:
            if slash:
                return float(when), job_id
        except ValueError:
            pass
        raise ValueError(f"{cursor!r} is not a cursor from list_jobs")


class Store(Protocol):
    """The small interface every store offers. Implementations are thread-safe."""

    def load(self, job_id: str) -> JobState | None:
        """The latest state of a job, or ``None``."""

    def commit(self, state: JobState, entries: Sequence[JournalEntry], base: int | None) -> bool:
        """Store ``state`` and append ``entries``, if the stored version is still ``base``.

        ``base`` is ``None`` for a new job (none may exist). The entries are
        journaled as part of ``state.version``. Returns ``False``, writing
        nothing, when the check fails.
        """

    def history(self, job_id: str) -> list[Transition]:
        """The job's journal, oldest first."""

    def iter_jobs(self, statuses: Collection[JobStatus] | None = None) -> Iterator[JobState]:
        """Every job's latest state (of ``statuses`` only, if given), oldest first."""

    def page(
        self,
        *,
        status: JobStatus | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
        before: tuple[float, str] | None = None,
    ) -> list[JobState]:
        """Up to ``limit`` jobs, newest first, created before ``before`` (created_at, job_id)."""

    def find_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of jobs that start with ``prefix``, sorted."""

    def counts(self) -> dict[str, int]:
        """How many jobs each status has."""

    def finished(
        self,
        *,
        before: float | None = None,
        statuses: Collection[JobStatus] = FINISHED,
        keep: int = 0,
        limit: int = 500,
    ) -> list[str]:
        """Ids of finished jobs (of ``statuses``), newest first, past the ``keep`` newest.

        Only those that ended before ``before`` (a time), if given.
        """

    def delete(self, job_ids: Sequence[str]) -> list[str]:
        """Delete the finished ones of these jobs with their journals; return their ids."""

    def close(self) -> None:
        """Release what the store holds."""


class MemoryStore:
    """Keeps states in a dict: the default, for tests and short-lived engines.

    States are frozen records, so handing out the stored object is safe.

    Args:
        max_finished: finished jobs kept, the newest; an older one goes (with
            its journal) when a job finishes past the limit. The process's
            memory must not grow with history.
    """

    def __init__(self, max_finished: int = MEMORY_FINISHED) -> None:
        self.max_finished = max_finished
        self._finished: dict[str, None] = {}  # finished job ids, oldest first
        self._states: dict[str, JobState] = {}
        # Entries with the version they belong to; stamped when read, not per write.
        self._journal: dict[str, list[tuple[int, JournalEntry]]] = {}
        self._lock = threading.Lock()

    def load(self, job_id: str) -> JobState | None:
        """The latest state of a job, or ``None``."""
        return self._states.get(job_id)

    def commit(self, state: JobState, entries: Sequence[JournalEntry], base: int | None) -> bool:
        """Store a state and its journal entries, if the version check passes."""
        with self._lock:
            current = self._states.get(state.job_id)
            if (None if current is None else current.version) != base:
                return False
            if current is None:
                self._journal.pop(state.job_id, None)  # an id used before starts afresh
            self._states[state.job_id] = state
            if entries:
                journal = self._journal.setdefault(state.job_id, [])
                journal.extend([(state.version, e) for e in entries])
            # Set membership, not the property: this runs at every save of every step.
            if state.status in _ENDED or (current is not None and current.status in _ENDED):
                self._track_finished(state)
        return True

    def _track_finished(self, state: JobState) -> None:
        self._finished.pop(state.job_id, None)
        if not state.status.is_terminal:
            return  # retried: running again
        self._finished[state.job_id] = None
        while len(self._finished) > self.max_finished:
            oldest = next(iter(self._finished))
            del self._finished[oldest]
            del self._states[oldest]
            self._journal.pop(oldest, None)

    def history(self, job_id: str) -> list[Transition]:
        """The job's journal, oldest first."""
        with self._lock:
            entries = list(self._journal.get(job_id, ()))
        return [e.stored(v) for v, e in entries]

    def iter_jobs(self, statuses: Collection[JobStatus] | None = None) -> Iterator[JobState]:
        """Every job's latest state (of ``statuses`` only, if given), oldest first."""
        with self._lock:
            states = list(self._states.values())
        if statuses is not None:
            states = [s for s in states if s.status in statuses]
        return iter(sorted(states, key=_created))

    def page(
        self,
        *,
        status: JobStatus | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
        before: tuple[float, str] | None = None,
    ) -> list[JobState]:
        """Up to ``limit`` jobs, newest first, created before ``before``."""
        with self._lock:
            states = list(self._states.values())
        fits = [
            s
            for s in states
            if status in (None, s.status)
            and workflow_id in (None, s.workflow_id)
            and (before is None or _created(s) < before)
        ]
        return sorted(fits, key=_created, reverse=True)[:limit]

    def find_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of jobs that start with ``prefix``, sorted."""
        with self._lock:
            ids = [job_id for job_id in self._states if job_id.startswith(prefix)]
        return sorted(ids)[:limit]

    def counts(self) -> dict[str, int]:
        """How many jobs each status has."""
        with self._lock:
            return dict(collections.Counter(s.status.value for s in self._states.values()))

    def finished(
        self,
        *,
        before: float | None = None,
        statuses: Collection[JobStatus] = FINISHED,
        keep: int = 0,
        limit: int = 500,
    ) -> list[str]:
        """Ids of finished jobs, newest first, past the ``keep`` newest, ended before ``before``.

        O(jobs): the memory store is kept small by retention.
        """
        with self._lock:
            done = [s for s in self._states.values() if s.status in statuses]
        done.sort(key=lambda s: s.finished_at or 0.0, reverse=True)
        old = [
            s.job_id
            for s in done[keep:]
            if before is None or (s.finished_at is not None and s.finished_at < before)
        ]
        return old[:limit]

    def delete(self, job_ids: Sequence[str]) -> list[str]:
        """Delete the finished ones of these jobs with their journals; return their ids."""
        deleted = []
        with self._lock:
            for job_id in job_ids:
                state = self._states.get(job_id)
                if state is not None and state.status.is_terminal:
                    del self._states[job_id]
                    self._journal.pop(job_id, None)
                    self._finished.pop(job_id, None)
                    deleted.append(job_id)
        return deleted

    def close(self) -> None:
        """Nothing to release."""


def _created(state: JobState) -> tuple[float, str]:
    return (state.created_at, state.job_id)
