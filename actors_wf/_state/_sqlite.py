"""The SQLite store: one file, WAL, a journal row per status change and a state row per job.

Each commit is one SQLite transaction: the journal rows and the new state row
are written together or not at all, and the state row is only replaced if
its version is still the one the write was based on.

Durability modes (``durability=``):

- ``process`` (default): ``synchronous=NORMAL`` in WAL mode. A committed
  change survives the process being killed at any moment (SIGKILL, a crash,
  ``os._exit``): it is in the WAL file, which the next open replays. A power
  cut or kernel panic may lose the last commits (never corrupt the file).
  This is the failure a workflow engine inside a daemon meets every day, and
  it costs no fsync per step.
- ``power``: ``synchronous=FULL``: every commit is fsynced before it returns,
  so it also survives a power cut; each commit then costs a disk flush.

The file's schema, its migrations and the checks made on open are in
``_sqlite_schema``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import msgpack

from .._core._cache import LRU
from .._core._codec import converter
from .._core._errors import StoreCorrupt, StoreError
from .._core._records import JobState, StepMap, StepState
from .._core._spec import WorkflowSpec
from ._group_commit import GroupCommit
from ._lease import StoreLease, read_owner
from ._parts import SPECS, pack_header, structure_job
from ._retention import URL_OPTIONS
from ._sqlite_queries import SQLiteQueries
from ._sqlite_schema import (
    open_read_only,
    open_writable,
    spec_key,
    write_error,
)
from ._transitions import JournalEntry

log = logging.getLogger("actors_wf.store")

# Job states (and their steps as plain data) kept in memory, the ones used last.
STATES_KEPT = 10_000
DURABILITY = {"process": "NORMAL", "power": "FULL"}


@attrs.frozen
class _Commit:
    """One job's write, as it waits for its batch."""

    state: JobState
    header: bytes
    journal: list[tuple[Any, ...]]
    base: int | None


class SQLiteStore(SQLiteQueries):
    """A store in one SQLite file.

    Args:
        path: the file; created with its folder if missing, readable and
            writable by its owner only (0600, and so are its -wal and -shm).
        durability: ``process`` (default) or ``power``; see the module doc.
        read_only: open an existing file for reading only (``actors-wf
            inspect``): nothing is created, migrated or written, and no lease
            is taken.
        wait_for_lease: seconds to wait for the store's owner (another engine)
            to exit; by default a store that has one is refused at once.

    A store opened for writing is owned by this object until :meth:`close`
    (see ``_lease``): a second one on the same file, in this process or
    another, gets :class:`StoreLocked`.

    A file that is refused (damaged, another application's database, a newer
    schema) is left exactly as it was: it is checked before anything is
    written to it.

    Raises:
        StoreCorrupt: the file is damaged or is not an actors_wf store.
        StoreLocked: another engine owns the store.
        StoreError: the file comes from a newer actors_wf, cannot be opened,
            or (``read_only``) does not exist.
        ValueError: an unknown durability mode.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: str = "process",
        read_only: bool = False,
        wait_for_lease: float | None = None,
    ) -> None:
        if durability not in DURABILITY:
            raise ValueError(
                f"unknown durability {durability!r}; use one of: {', '.join(DURABILITY)}"
            )
        self.path = Path(path)
        self.durability = durability
        self.read_only = read_only
        self.damaged: dict[str, str] = {}  # job id -> why its row cannot be read
        self._lock = threading.Lock()
        # Bounded: a daemon keeps a year of finished jobs in the file, not in memory.
        self._states: LRU[str, JobState] = LRU(STATES_KEPT)
        self._counts: collections.Counter[str] | None = None  # jobs by status, once counted
        self._spec_keys: LRU[int, tuple[WorkflowSpec, str]] = LRU(256)
        self._group: GroupCommit[_Commit, bool] = GroupCommit(self._write_batch)
        self._lease: StoreLease | None = None
        if read_only:
            self._db = open_read_only(self.path)
        else:
            self._lease = self._take_lease(wait_for_lease)
            try:
                self._db = open_writable(self.path, DURABILITY[durability])
            except BaseException:
                self._lease.close(remove=True)
                raise
        self._inode = os.stat(self.path).st_ino

    def _take_lease(self, wait: float | None) -> StoreLease:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return StoreLease(self.path, wait)
        except OSError as exc:
            raise StoreError(f"cannot open store {str(self.path)!r}: {exc}") from None

    @property
    def commits(self) -> tuple[int, int]:
        """Saves written since the store was opened, and the transactions they took."""
        return self._group.writes, self._group.batches

    @property
    def owner(self) -> dict[str, Any] | None:
        """Who owns the store (``pid``, ``host``, ``since``, ``alive``), as it recorded itself."""
        return read_owner(Path(f"{self.path}-owner"))

    # -- reads ------------------------------------------------------------------

    def load(self, job_id: str) -> JobState | None:
        """The latest state of a job, or ``None``."""
        state = self._states.get(job_id)
        if state is not None:
            return state
        with self._lock:
            row = self._read(
                job_id,
                "SELECT w.spec, j.state FROM jobs j JOIN workflows w ON w.key = j.workflow "
                "WHERE j.job_id = ?",
                (job_id,),
            ).fetchone()
            if row is None:
                return None
            steps = self._read(
                job_id, "SELECT state FROM steps WHERE job_id = ? ORDER BY n", (job_id,)
            ).fetchall()
            state = self._decode(job_id, row[0], row[1], [r[0] for r in steps])
            self._states[job_id] = state
        return state

    def _decode(
        self, job_id: str, workflow_blob: bytes, header_blob: bytes, step_blobs: list[bytes]
    ) -> JobState:
        try:
            steps = [converter.structure(msgpack.unpackb(b), StepState) for b in step_blobs]
            # Jobs of one workflow share its blob: read once, not converted back and forth.
            state = structure_job(
                msgpack.unpackb(header_blob),
                SPECS.unpack(workflow_blob),
                steps=StepMap((step.step_id, step) for step in steps),
            )
        except Exception as exc:
            raise StoreCorrupt(
                f"store {str(self.path)!r}: the state of job {job_id} cannot be read ({exc}); "
                "the file is damaged or was written by an incompatible version"
            ) from None
        return state

    # -- writes -----------------------------------------------------------------

    def commit(self, state: JobState, entries: Sequence[JournalEntry], base: int | None) -> bool:
        """Write the state and its journal entries in one transaction, if ``base`` holds.

        Only the steps that changed since the version this process wrote last
        are written, each in its own row: a step's cost does not grow with
        its job, and an output is written once. Jobs saving at the same time
        share a transaction (see ``_group_commit``); each commit returns once
        its own write is durable, or ``False`` if ``base`` did not hold.
        """
        journal = [
            (
                e.job_id,
                state.version,
                n,
                e.at,
                e.step_id,
                e.event,
                e.from_status,
                e.to_status,
                e.cause,
            )
            for n, e in enumerate(entries)
        ]
        return self._group.submit(_Commit(state, pack_header(state), journal, base))

    def _write_batch(self, commits: Sequence[_Commit]) -> list[bool]:
        """On the leading committer's thread: the commits in one transaction, or none of them."""
        written: dict[str, JobState] = {}
        with self._lock:
            self._check_same_file()
            try:
                # DEFERRED is enough: this connection is the file's only writer in
                # the process (the lock), and the first write takes the write lock.
                self._db.execute("BEGIN")
                results = [self._write_commit(commit, written) for commit in commits]
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._undo(written)
                jobs = ", ".join(dict.fromkeys(c.state.job_id for c in commits))
                what = f"cannot save job{'s' if ',' in jobs else ''} {jobs}"
                raise write_error(self.path, what, exc) from None
            except BaseException:
                self._undo(written)
                raise
            for job_id, state in written.items():  # readers see only what is durable
                self._states[job_id] = state
        return results

    def _write_commit(self, commit: _Commit, written: dict[str, JobState]) -> bool:
        """One job's rows, inside the batch's transaction; ``False`` if its base did not hold."""
        state, base = commit.state, commit.base
        before = written.get(state.job_id) or self._states.get(state.job_id)
        steps = self._changed_steps(state, before, base)
        # A stale write changes no row (its UPDATE matches none, its INSERT is refused).
        if not self._write_job(state, commit.header, base, before):
            return False
        self._db.executemany(
            "INSERT INTO steps (job_id, n, state) VALUES (?, ?, ?) "
            "ON CONFLICT (job_id, n) DO UPDATE SET state = excluded.state",
            steps,
        )
        self._db.executemany(
            "INSERT INTO journal (job_id, version, n, at, step_id, event, from_status, "
            "to_status, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            commit.journal,
        )
        self._count(before, state, base)
        written[state.job_id] = state  # a later commit of this job in the batch builds on it
        return True

    def _undo(self, written: dict[str, JobState]) -> None:
        """Roll a failed batch back; the jobs it counted are counted again when next asked."""
        self._roll_back()
        if written:
            self._counts = None

    def _changed_steps(
        self, state: JobState, before: JobState | None, base: int | None
    ) -> list[tuple[str, int, bytes]]:
        """Rows of the steps that differ from the stored version (all, without one to compare)."""
        job_id = state.job_id
        changed = None
        if before is not None and before.version == base and isinstance(state.steps, StepMap):
            changed = state.steps.changed(before.steps)
        if changed is None:
            changed = list(enumerate(state.steps.values()))
        return [(job_id, n, msgpack.packb(converter.unstructure(s))) for n, s in changed]

    def _count(self, before: JobState | None, state: JobState, base: int | None) -> None:
        if self._counts is None:
            return
        if base is None:
            self._counts[state.status.value] += 1
        elif before is None:
            self._counts = None  # the status it had is not known here: count again when asked
        elif before.status is not state.status:
            self._counts[before.status.value] -= 1
            self._counts[state.status.value] += 1

    def delete(self, job_ids: Sequence[str]) -> list[str]:
        """Delete finished jobs with their steps and journals, in one transaction.

        A job that is not finished (any more: a retry may have moved it) is
        left alone. Returns the ids deleted.
        """
        deleted = []
        with self._lock:
            self._check_same_file()
            try:
                self._db.execute("BEGIN")
                specs = set()
                for job_id in job_ids:
                    row = self._db.execute(
                        "DELETE FROM jobs WHERE job_id = ? AND finished_at IS NOT NULL "
                        "RETURNING status, workflow",
                        (job_id,),
                    ).fetchone()
                    if row is None:
                        continue
                    self._db.execute("DELETE FROM steps WHERE job_id = ?", (job_id,))
                    self._db.execute("DELETE FROM journal WHERE job_id = ?", (job_id,))
                    deleted.append((job_id, row[0]))
                    specs.add(row[1])
                self._db.executemany(
                    "DELETE FROM workflows WHERE key = ? "
                    "AND NOT EXISTS (SELECT 1 FROM jobs WHERE workflow = ?)",
                    [(key, key) for key in specs],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._roll_back()
                raise write_error(self.path, "cannot delete jobs", exc) from None
            except BaseException:
                self._roll_back()
                raise
            for job_id, status in deleted:
                self._states.pop(job_id)
                self.damaged.pop(job_id, None)
                if self._counts is not None:
                    self._counts[status] -= 1
        return [job_id for job_id, _ in deleted]

    def _spec_key(self, spec: WorkflowSpec) -> tuple[str, bytes]:
        """The key the workflow's spec is stored under (all its jobs share it), and the spec."""
        packed = SPECS.pack(spec)  # the registry's spec: packed once
        hit = self._spec_keys.get(id(spec))
        if hit is None or hit[0] is not spec:
            hit = self._spec_keys[id(spec)] = (spec, spec_key(packed))  # digested once too
        return hit[1], packed

    def _roll_back(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a full disk may refuse that too
                self._db.execute("ROLLBACK")

    def _check_same_file(self) -> None:
        """Refuse to write when the file was deleted or replaced under this engine.

        SQLite would go on writing to the deleted file: every job lost, silently.
        """
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if inode != self._inode:
            what = "deleted" if inode is None else "replaced by another file"
            raise StoreError(
                f"store {str(self.path)!r} was {what} while this engine used it; "
                "nothing more is written: restore the file (or start an engine on a new one)",
                cause="deleted",
            )

    def _write_job(
        self, state: JobState, header: bytes, base: int | None, before: JobState | None
    ) -> bool:
        now = state.finished_at or state.started_at or state.created_at
        finished = state.finished_at if state.status.is_terminal else None
        if base is None:
            key, spec = self._spec_key(state.workflow)
            try:
                self._db.execute(
                    "INSERT INTO jobs (job_id, version, status, workflow_id, priority, "
                    "created_at, updated_at, finished_at, workflow, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        state.job_id,
                        state.version,
                        state.status.value,
                        state.workflow_id,
                        state.priority,
                        state.created_at,
                        now,
                        finished,
                        key,
                        header,
                    ),
                )
            except sqlite3.IntegrityError:
                return False  # before the spec: a refused job leaves no row in the batch
            # Every time: a purge may have removed it, a rollback may have undone it.
            self._db.execute(
                "INSERT OR IGNORE INTO workflows (key, spec) VALUES (?, ?)", (key, spec)
            )
            return True
        if (
            before is not None
            and before.status is state.status
            and before.priority == state.priority
        ):
            # The indexed columns are left alone when they did not move.
            cursor = self._db.execute(
                "UPDATE jobs SET version = ?, updated_at = ?, state = ? "
                "WHERE job_id = ? AND version = ?",
                (state.version, now, header, state.job_id, base),
            )
        else:
            cursor = self._db.execute(
                "UPDATE jobs SET version = ?, status = ?, priority = ?, updated_at = ?, "
                "finished_at = ?, state = ? WHERE job_id = ? AND version = ?",
                (
                    state.version,
                    state.status.value,
                    state.priority,
                    now,
                    finished,
                    header,
                    state.job_id,
                    base,
                ),
            )
        return cursor.rowcount == 1

    def close(self) -> None:
        """Close the file (a checkpoint folds the WAL back into it) and let the store go."""
        with self._lock:
            self._db.close()
            if self._lease is not None:
                self._lease.close()


def open_store(
    spec: str | os.PathLike[str], *, read_only: bool = False, wait_for_lease: float | None = None
) -> SQLiteStore:
    """Open a store from a URL or a plain path.

    URLs are written as SQLAlchemy writes them: ``sqlite:///relative/jobs.db``,
    ``sqlite:////abs/jobs.db``; ``?durability=power`` may follow.

    Raises:
        StoreError, StoreCorrupt: as :class:`SQLiteStore`.
        ValueError: an unknown URL scheme or option.
    """
    text = str(spec)
    durability = "process"
    if "://" in text:
        if not text.startswith("sqlite:///"):
            raise ValueError(f"unknown store {text!r}; use sqlite:///path/to/jobs.db or a path")
        text, _, query = text[len("sqlite:///") :].partition("?")
        for option in filter(None, query.split("&")):
            key, _, value = option.partition("=")
            if key in URL_OPTIONS:
                continue  # the engine's retention policy (Retention.from_url)
            if key != "durability":
                known = ", ".join(["durability", *sorted(URL_OPTIONS)])
                raise ValueError(f"unknown store option {key!r}; known: {known}")
            durability = value
    return SQLiteStore(
        text, durability=durability, read_only=read_only, wait_for_lease=wait_for_lease
    )
