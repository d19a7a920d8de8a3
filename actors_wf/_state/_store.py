"""Where job states are kept: the store interface and the in-memory store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol

from .._records import JobState


class Store(Protocol):
    """The small interface every store offers. Implementations are thread-safe."""

    def load(self, job_id: str) -> JobState | None:
        """The latest state of a job, or ``None``."""

    def save(self, state: JobState) -> None:
        """Keep ``state`` as the latest state of its job."""

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
        self._lock = threading.Lock()

    def load(self, job_id: str) -> JobState | None:
        """The latest state of a job, or ``None``."""
        return self._states.get(job_id)

    def save(self, state: JobState) -> None:
        """Keep ``state`` as the latest state of its job."""
        with self._lock:
            self._states[state.job_id] = state

    def iter_jobs(self) -> Iterator[JobState]:
        """Every job's latest state, oldest first."""
        with self._lock:
            states = list(self._states.values())
        return iter(states)

    def close(self) -> None:
        """Nothing to release."""
