"""Where job states are kept: the store interface and the in-memory store.

A store keeps, per job, the latest state and the journal of every status
change. :meth:`Store.commit` writes both in one step: a new state with the
entries that led to it, or nothing (when the version check fails).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from .._core._records import JobState
from ._transitions import JournalEntry, Transition


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

    def iter_jobs(self) -> Iterator[JobState]:
        """Every job's latest state, oldest first."""

    def close(self) -> None:
        """Release what the store holds."""


class MemoryStore:
    """Keeps states in a dict: the default, for tests and short-lived engines.

    States are frozen records, so handing out the stored object is safe.
    """

    def __init__(self) -> None:
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
            self._states[state.job_id] = state
            if entries:
                journal = self._journal.setdefault(state.job_id, [])
                journal.extend([(state.version, e) for e in entries])
        return True

    def history(self, job_id: str) -> list[Transition]:
        """The job's journal, oldest first."""
        with self._lock:
            entries = list(self._journal.get(job_id, ()))
        return [e.stored(v) for v, e in entries]

    def iter_jobs(self) -> Iterator[JobState]:
        """Every job's latest state, oldest first."""
        with self._lock:
            states = list(self._states.values())
        return iter(states)

    def close(self) -> None:
        """Nothing to release."""
