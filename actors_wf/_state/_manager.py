"""The state manager: the one door to job states.

Writes carry the version they were computed from and are refused when it is
no longer the latest (:class:`StaleWrite`), so no update is ever lost in
silence. Every status change goes through the transition table and is
journaled with the state it produced, in one store commit.

A running job has one writer, its JobActor: it owns the job (``own``) from
its start to its end, and a user's update to the job is handed to it
(``serve``), to be applied between two of its handlers. An update to a job
at rest goes to the store directly.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import attrs

from .._core._errors import (
    EngineClosed,
    InvalidTransition,
    JobNotFound,
    StaleWrite,
)
from .._core._records import JobState
from .._core._status import JobStatus, allowed_job_events
from ._describe import describe_job, diff_states
from ._owners import OwnerGone, Owners, Save, Work
from ._retention import Retention, purge, retain
from ._snapshot import Snapshot
from ._store import FINISHED, JobPage, MemoryStore, Store
from ._transitions import (
    JournalEntry,
    Transition,
    restore_entries,
)
from ._updates import Transaction, Update, apply_update

# A job in these statuses is owned by the runtime (queued or running): restoring
# a snapshot under it would fight its JobActor.
_OWNED = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSING, JobStatus.CANCELLING})


class StateManager:
    """Reads and writes job states through a store; thread-safe (``engine.state``).

    Args:
        store: a :class:`~actors_wf._state._store.Store`; in memory by default.
    """

    def __init__(self, store: Store | None = None) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self._lock = threading.Lock()
        # Striped, not one per job: a fixed number however many jobs pass.
        self._job_locks = tuple(threading.Lock() for _ in range(_JOB_LOCKS))
        self._waiters: dict[str, list[Future[JobState]]] = {}
        self._closed = False
        self._owners = Owners()  # running jobs' JobActors, and updates waiting for them

    # -- reads --------------------------------------------------------------------

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

    def list_jobs(
        self,
        status: JobStatus | str | None = None,
        workflow_id: str | None = None,
        *,
        limit: int | None = None,
        before: str | None = None,
    ) -> builtins.list[JobState]:
        """Jobs of one status and/or workflow.

        Without ``limit``: every one, oldest first (reads the whole store).
        With ``limit``: a :class:`JobPage` of at most that many, newest first,
        from one indexed query; its ``cursor``, passed as ``before``, gives
        the next page (``None`` after the last).

        Raises:
            ValueError: ``status`` is not a job status, or ``before`` is not a cursor.
        """
        wanted = JobStatus(status) if status is not None else None
        if limit is None and before is None:
            jobs = self.store.iter_jobs(None if wanted is None else (wanted,))
            return [j for j in jobs if workflow_id in (None, j.workflow_id)]
        size = 100 if limit is None else limit
        if size < 1:
            raise ValueError(f"limit must be at least 1, got {size}")
        after = JobPage.position(before) if before is not None else None
        page = self.store.page(status=wanted, workflow_id=workflow_id, limit=size, before=after)
        return JobPage(page, JobPage.cursor_of(page[-1]) if len(page) == size else None)

    def unfinished(self) -> builtins.list[JobState]:
        """The jobs recovery looks at: every one not CREATED and not finished (indexed)."""
        return list(self.store.iter_jobs(_UNFINISHED))

    def counts(self) -> dict[str, int]:
        """How many jobs each status has (never reads every job)."""
        return self.store.counts()

    def find_prefix(self, prefix: str, limit: int = 10) -> builtins.list[str]:
        """Ids of jobs that start with ``prefix``."""
        return self.store.find_prefix(prefix, limit)

    # -- deleting -------------------------------------------------------------------

    def delete_job(self, job_id: str) -> None:
        """Delete a finished job with its journal and step outputs, in one transaction.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job has not finished (cancel it first).
        """
        with self._job_lock(job_id):
            state = self.get(job_id)
            if not state.status.is_terminal or not self.store.delete([job_id]):
                raise InvalidTransition(
                    f"job {job_id}",
                    state.status.value,
                    "delete",
                    ["cancel_job, then delete"] if not state.status.is_terminal else [],
                )

    def retain(self, policy: Retention, max_batches: int | None = None) -> int:
        """Delete the finished jobs ``policy`` no longer keeps; return how many.

        ``max_batches`` bounds the work of one call (the background runs one
        batch at a time); without it, the policy is applied to the end.
        """
        return retain(self.store, policy, max_batches)

    def purge(
        self,
        older_than: float | datetime.timedelta | None = None,
        status: Iterable[JobStatus | str] | JobStatus | str | None = None,
        *,
        keep: int = 0,
        batch: int = 500,
        max_batches: int | None = None,
    ) -> int:
        """Delete finished jobs in batches (one transaction each); return how many.

        Args:
            older_than: only jobs that finished at least this long ago
                (seconds or a ``timedelta``); ``0`` or ``None``: every finished job.
            status: only jobs of this status (or these): finished ones only.
            keep: spare the ``keep`` jobs that finished last.
            batch: jobs per transaction: a commit of a running job waits for
                at most one batch.
            max_batches: stop after this many batches (retention goes on later).

        Raises:
            ValueError: a status that does not exist or has not finished.
        """
        return purge(
            self.store, older_than, status, keep=keep, batch=batch, max_batches=max_batches
        )

    def history(self, job_id: str) -> builtins.list[Transition]:
        """Every status change of the job and its steps, oldest first, with time and cause.

        Raises:
            JobNotFound: no job has that id.
        """
        self.get(job_id)
        return self.store.history(job_id)

    def describe(self, job_id: str) -> str:
        """A readable dump of the job: status, timings, inputs, outputs, steps, attempts, errors.

        Raises:
            JobNotFound: no job has that id.
        """
        return describe_job(self.get(job_id))

    @staticmethod
    def diff(a: Snapshot | JobState, b: Snapshot | JobState) -> builtins.list[str]:
        """What changed from ``a`` to ``b``, one line per field (``steps.x.status: A -> B``)."""
        return diff_states(_state_of(a), _state_of(b))

    # -- writes (the runtime's) -------------------------------------------------------

    def save(
        self, state: JobState, entries: Sequence[JournalEntry] = (), **changes: Any
    ) -> JobState:
        """Store ``state`` as the next version of its job, with its journal entries.

        ``state.version`` is the version it was computed from (0 for a new
        job); the stored record carries that plus one, and ``changes`` (fields
        of ``JobState``), made in the same new record.

        Raises:
            StaleWrite: another write got there first; nothing was written.
        """
        new = state.version == 0
        if not new:
            self._refuse_if_final(state, entries)
        stored = state.next_version(**changes)
        if not self.store.commit(stored, entries, None if new else state.version):
            current = self.store.load(state.job_id)
            raise StaleWrite(state.job_id, state.version, current.version if current else -1)
        if stored.status.is_terminal:
            self._wake(stored)
        return stored

    def _refuse_if_final(self, state: JobState, entries: Sequence[JournalEntry]) -> None:
        """A terminal job changes only by leaving its status (a retry) or by a restore."""
        current = self.store.load(state.job_id)
        if current is None or not current.status.is_terminal or current.version != state.version:
            return
        leaves = any(e.step_id is None and e.from_status == current.status.value for e in entries)
        if not leaves:
            raise InvalidTransition(
                f"job {state.job_id}",
                current.status.value,
                "a change",
                allowed_job_events(current.status),
            )

    # -- writes (the user's) --------------------------------------------------------

    def update_state(
        self, job_id: str, updates: Update | Sequence[Update], transaction: bool = False
    ) -> JobState:
        """Apply updates to a job's record.

        Each update is a mapping of fields (``{"priority": 5}``, or
        ``{"steps.fetch.status": "SKIPPED"}`` for a step) or a function from
        the state to a new state. A status change must be one the transition
        table allows, and is journaled. Writers to one job are serialised.
        A running job's JobActor applies the update between two of its
        handlers (it is the job's one writer), and refuses a change to the
        job's status or to a step it is running: ``pause_job`` and
        ``cancel_job`` change those.

        Args:
            job_id: the job.
            updates: one update or a sequence of them.
            transaction: apply all of them or none. Without it each update is
                stored on its own, and a failure leaves the earlier ones stored.

        Returns:
            The stored state after the last update.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: a status change the table does not allow, or one
                the running job's JobActor refuses.
            ValueError, TypeError: an unknown field or a value of the wrong type.
            TimeoutError: the running job's JobActor did not take the update
                within ``UPDATE_TIMEOUT`` seconds.
        """
        batch = [updates] if isinstance(updates, Mapping) or callable(updates) else list(updates)

        def work(state: JobState, save: Save) -> JobState:
            if transaction:
                entries: list[JournalEntry] = []
                for update in batch:
                    state, more = apply_update(state, update)
                    entries += more
                return save(state, entries)
            for update in batch:
                state = save(*apply_update(state, update))
            return state

        return self._write(job_id, work)

    @contextlib.contextmanager
    def transaction(self, job_id: str) -> Iterator[Transaction]:
        """Group several updates into one unit: all stored at the end, or none.

        Example::

            with engine.state.transaction(job_id) as tx:
                tx.update({"priority": 90})
                tx.update({"steps.notify.status": "SKIPPED"})

        The block works on a private copy; on leaving it, the result is stored
        only if no other write came in meanwhile (:class:`StaleWrite`
        otherwise), and an exception inside stores nothing.

        Raises:
            JobNotFound: no such job.
            StaleWrite: another writer changed the job during the block.
        """
        tx = Transaction(self.get(job_id))
        yield tx
        if not tx.entries and tx.state is tx.base:
            return

        def work(state: JobState, save: Save) -> JobState:
            if state.version != tx.base.version:
                raise StaleWrite(job_id, tx.base.version, state.version)
            return save(attrs.evolve(tx.state, version=state.version), tx.entries)

        self._write(job_id, work)

    def create_snapshot(self, job_id: str) -> Snapshot:
        """A point-in-time copy of the job (free: states are immutable).

        Raises:
            JobNotFound: no such job.
        """
        state = self.get(job_id)
        return Snapshot(job_id, state.version, time.time(), state)

    def restore_snapshot(self, snapshot: Snapshot) -> JobState:
        """Make a snapshot the job's current state again (as a new version, journaled).

        Raises:
            JobNotFound: the job is not in this store.
            InvalidTransition: the job is queued or running (pause or cancel it first).
        """
        with self._job_lock(snapshot.job_id):
            current = self.get(snapshot.job_id)
            if current.status in _OWNED:
                raise InvalidTransition(
                    f"job {current.job_id}",
                    current.status.value,
                    "restore",
                    allowed_job_events(current.status),
                )
            entries = restore_entries(current, snapshot.state, f"snapshot v{snapshot.version}")
            restored = attrs.evolve(snapshot.state, version=current.version + 1)
            if not self.store.commit(restored, entries, current.version):
                raise StaleWrite(current.job_id, current.version, -1)
            return restored

    def _job_lock(self, job_id: str) -> threading.Lock:
        return self._job_locks[hash(job_id) % _JOB_LOCKS]

    # -- one writer per job --------------------------------------------------------

    def _write(self, job_id: str, work: Work) -> JobState:
        """Run ``work`` on the job: here if it is at rest, in its JobActor if it runs."""
        while True:
            with self._job_lock(job_id):
                if not self._owners.owned(job_id):
                    return work(self.get(job_id), self.save)
                tell, number, future = self._owners.ask(job_id, work)
            tell()
            try:
                return self._owners.result(job_id, number, future)
            except OwnerGone:
                continue  # the job came to rest meanwhile: write it here, or to its next owner

    def own(self, job_id: str, notify: Callable[[int], None]) -> JobState:
        """Make the caller (a JobActor) the job's one writer; return the job's state.

        Until :meth:`disown`, a user's update to the job is kept here and
        ``notify(number)`` tells the owner to :meth:`serve` it.
        """
        with self._job_lock(job_id):
            self._owners.own(job_id, notify)
            return self.get(job_id)

    def disown(self, job_id: str, notify: Callable[[int], None] | None = None) -> None:
        """The owner stopped: updates it did not serve are written to the job at rest.

        ``notify``: the one the owner registered; a later owner's stays (a job
        retried while its last actor was still stopping).
        """
        with self._job_lock(job_id):
            self._owners.disown(job_id, notify)

    def serve(self, number: int, state: JobState, save: Save) -> None:
        """Apply the update ``number`` (the owner's call) to ``state``, storing with ``save``.

        Its caller gets the stored state or the error; a :class:`StoreError`
        is raised here too, as the owner's own writes would raise it.
        """
        self._owners.serve(number, state, save)

    # -- waiting ------------------------------------------------------------------------

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

    def _wake(self, state: JobState) -> None:
        with self._lock:
            waiters = self._waiters.pop(state.job_id, [])
        for waiter in waiters:
            with contextlib.suppress(InvalidStateError):  # a waiter gave up meanwhile
                waiter.set_result(state)

    def interrupt(self, job_id: str, error: BaseException) -> None:
        """Fail the job's waiters with ``error``: it stopped, but its end could not be stored."""
        with self._lock:
            waiters = self._waiters.pop(job_id, [])
        for waiter in waiters:
            with contextlib.suppress(InvalidStateError):
                waiter.set_exception(error)

    def close(self) -> None:
        """Fail every pending waiter with :class:`EngineClosed` and close the store."""
        with self._lock:
            self._closed = True
            waiters = [w for ws in self._waiters.values() for w in ws]
            waiters += self._owners.close()
            self._waiters.clear()
        for waiter in waiters:
            with contextlib.suppress(InvalidStateError):
                waiter.set_exception(EngineClosed("the engine closed before the job finished"))
        self.store.close()


def _state_of(value: Snapshot | JobState) -> JobState:
    return value.state if isinstance(value, Snapshot) else value


_JOB_LOCKS = 64
_UNFINISHED = frozenset(JobStatus) - frozenset(FINISHED) - {JobStatus.CREATED}
