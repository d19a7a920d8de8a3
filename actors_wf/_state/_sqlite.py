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

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack

from .._core._cache import LRU
from .._core._codec import converter
from .._core._errors import StoreCorrupt, StoreError
from .._core._records import JobState
from ._lease import StoreLease, read_owner
from ._parts import SPECS, job_header, structure_job
from ._sqlite_schema import SCHEMA_VERSION, check_intact, check_schema, migrate, write_error
from ._transitions import JournalEntry, Transition

log = logging.getLogger("actors_wf.store")

# Job states (and their steps as plain data) kept in memory, the ones used last.
STATES_KEPT = 10_000
DURABILITY = {"process": "NORMAL", "power": "FULL"}


class SQLiteStore:
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
        self._plain_steps: LRU[str, dict[str, tuple[Any, Any]]] = LRU(STATES_KEPT)
        self._lease: StoreLease | None = None
        if read_only:
            self._db = self._open_read_only()
        else:
            self._lease = self._take_lease(wait_for_lease)
            try:
                self._db = self._open()
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
    def owner(self) -> dict[str, Any] | None:
        """Who owns the store (``pid``, ``host``, ``since``, ``alive``), as it recorded itself."""
        return read_owner(Path(f"{self.path}-owner"))

    def _open(self) -> sqlite3.Connection:
        try:
            # Made here, not by SQLite (0644): its -wal and -shm take this mode too.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {str(self.path)!r}: {exc}") from None
        try:
            check_intact(db, self.path)
            check_schema(db, self.path)  # before WAL: a refused file is not touched
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={DURABILITY[self.durability]}")
            db.execute("PRAGMA busy_timeout=5000")
            migrate(db, self.path)
        except sqlite3.Error as exc:
            db.close()
            raise write_error(self.path, "cannot open", exc) from None
        except BaseException:
            db.close()
            raise
        return db

    def _open_read_only(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"no store file {str(self.path)!r}")
        # No -wal file: no engine has the store open and every commit is in the
        # file, which is then read as immutable: no -wal or -shm is created beside it.
        live = Path(f"{self.path}-wal").exists()
        try:
            db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro{'' if live else '&immutable=1'}",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {str(self.path)!r}: {exc}") from None
        try:
            check_intact(db, self.path)
            version = check_schema(db, self.path)
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"store {str(self.path)!r} has schema version {version}; this actors_wf "
                    f"reads version {SCHEMA_VERSION} without changing the file: open it with "
                    "an engine once to migrate it"
                )
        except BaseException:
            db.close()
            raise
        return db

    # -- reads ------------------------------------------------------------------

    def load(self, job_id: str) -> JobState | None:
        """The latest state of a job, or ``None``."""
        state = self._states.get(job_id)
        if state is not None:
            return state
        with self._lock:
            row = self._db.execute(
                "SELECT workflow, state FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is None:
                return None
            state = self._decode(job_id, row[0], row[1])
            self._states[job_id] = state
        return state

    def iter_jobs(self) -> Iterator[JobState]:
        """Every job's latest state, oldest first."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT job_id FROM jobs ORDER BY created_at")]
        for job_id in ids:
            try:
                state = self.load(job_id)
            except StoreCorrupt as exc:
                # One damaged row must not hide every other job, nor stop recovery.
                if job_id not in self.damaged:
                    log.error("%s; the job is skipped", exc)
                self.damaged[job_id] = str(exc)
                continue
            if state is not None:
                yield state

    def history(self, job_id: str) -> list[Transition]:
        """The job's journal, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT job_id, step_id, event, from_status, to_status, at, cause, version "
                "FROM journal WHERE job_id = ? ORDER BY version, n",
                (job_id,),
            ).fetchall()
        return [Transition(*row) for row in rows]

    def _decode(self, job_id: str, workflow_blob: bytes, state_blob: bytes) -> JobState:
        try:
            # Jobs of one workflow share its blob: read once, not converted back and forth.
            state = structure_job(msgpack.unpackb(state_blob), SPECS.unpack(workflow_blob))
        except Exception as exc:
            raise StoreCorrupt(
                f"store {str(self.path)!r}: the state of job {job_id} cannot be read ({exc}); "
                "the file is damaged or was written by an incompatible version"
            ) from None
        return state

    # -- writes -----------------------------------------------------------------

    def commit(self, state: JobState, entries: Sequence[JournalEntry], base: int | None) -> bool:
        """Write the state and its journal entries in one transaction, if ``base`` holds."""
        blob = msgpack.packb(self._plain(state))
        rows = [
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
        with self._lock:
            self._check_same_file()
            try:
                # DEFERRED is enough: this connection is the file's only writer in
                # the process (the lock), and the UPDATE takes the write lock at once.
                self._db.execute("BEGIN")
                if not self._write_state(state, blob, base):
                    self._db.execute("ROLLBACK")
                    return False
                self._db.executemany(
                    "INSERT INTO journal (job_id, version, n, at, step_id, event, from_status, "
                    "to_status, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._roll_back()
                raise write_error(self.path, f"cannot save job {state.job_id}", exc) from None
            except BaseException:
                self._roll_back()
                raise
            self._states[state.job_id] = state
        return True

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

    def _plain(self, state: JobState) -> dict[str, Any]:
        """The state as plain data, without its workflow; unchanged steps come from a cache.

        Successive versions of a job share the records of the steps that did
        not change (``attrs.evolve``), so only the changed ones are converted.
        """
        data: dict[str, Any] = job_header(state)
        cache = self._plain_steps.get(state.job_id)
        if cache is None:
            cache = self._plain_steps[state.job_id] = {}
        steps = {}
        for step_id, step in state.steps.items():
            hit = cache.get(step_id)
            if hit is None or hit[0] is not step:
                hit = cache[step_id] = (step, converter.unstructure(step))
            steps[step_id] = hit[1]
        data["steps"] = steps
        if state.status.is_terminal:
            self._plain_steps.pop(state.job_id)
        return data

    def _write_state(self, state: JobState, blob: bytes, base: int | None) -> bool:
        now = state.finished_at or state.started_at or state.created_at
        if base is None:
            try:
                self._db.execute(
                    "INSERT INTO jobs (job_id, version, status, workflow_id, created_at, "
                    "updated_at, workflow, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        state.job_id,
                        state.version,
                        state.status.value,
                        state.workflow_id,
                        state.created_at,
                        now,
                        SPECS.pack(state.workflow),  # the registry's spec: packed once
                        blob,
                    ),
                )
            except sqlite3.IntegrityError:
                return False
            return True
        before = self._states.get(state.job_id)
        if before is not None and before.status is state.status:
            # The status column is indexed: leave it alone when it did not move.
            cursor = self._db.execute(
                "UPDATE jobs SET version = ?, updated_at = ?, state = ? "
                "WHERE job_id = ? AND version = ?",
                (state.version, now, blob, state.job_id, base),
            )
        else:
            cursor = self._db.execute(
                "UPDATE jobs SET version = ?, status = ?, updated_at = ?, state = ? "
                "WHERE job_id = ? AND version = ?",
                (state.version, state.status.value, now, blob, state.job_id, base),
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
            if key != "durability":
                raise ValueError(f"unknown store option {key!r}; known: durability")
            durability = value
    return SQLiteStore(
        text, durability=durability, read_only=read_only, wait_for_lease=wait_for_lease
    )
