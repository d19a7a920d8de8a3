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

The schema version is SQLite's ``user_version``. Older files are migrated
on open; a file from a newer actors_wf is refused, and so is a file that is
not an intact SQLite database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgpack

from .._core._cache import LRU
from .._core._codec import SPECS, converter, job_header, structure_job
from .._core._errors import StoreCorrupt, StoreError
from .._core._records import JobState
from ._transitions import JournalEntry, Transition

log = logging.getLogger("actors_wf.store")

SCHEMA_VERSION = 2
# Job states (and their steps as plain data) kept in memory, the ones used last.
STATES_KEPT = 10_000
DURABILITY = {"process": "NORMAL", "power": "FULL"}


_SCHEMA_V1 = (
    """CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        workflow BLOB NOT NULL,
        state BLOB NOT NULL
    )""",
    "CREATE INDEX jobs_by_status ON jobs (status)",
    """CREATE TABLE journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        at REAL NOT NULL,
        step_id TEXT,
        event TEXT NOT NULL,
        from_status TEXT NOT NULL,
        to_status TEXT NOT NULL,
        cause TEXT NOT NULL
    )""",
    "CREATE INDEX journal_by_job ON journal (job_id, seq)",
)


def _create_v1(db: sqlite3.Connection) -> None:
    # One statement at a time: executescript() would commit the open transaction.
    for statement in _SCHEMA_V1:
        db.execute(statement)


# Version 2: the journal is kept in job order by its key (job, version, entry
# number) instead of an autoincrement row id plus an index on the job: one
# B-tree write per entry instead of three (row, index, sqlite_sequence).
_JOURNAL_V2 = """CREATE TABLE journal_v2 (
        job_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        n INTEGER NOT NULL,
        at REAL NOT NULL,
        step_id TEXT,
        event TEXT NOT NULL,
        from_status TEXT NOT NULL,
        to_status TEXT NOT NULL,
        cause TEXT NOT NULL,
        PRIMARY KEY (job_id, version, n)
    ) WITHOUT ROWID"""


def _journal_by_job(db: sqlite3.Connection) -> None:
    db.execute(_JOURNAL_V2)
    db.execute(
        "INSERT INTO journal_v2 SELECT job_id, version, "
        "row_number() OVER (PARTITION BY job_id, version ORDER BY seq) - 1, "
        "at, step_id, event, from_status, to_status, cause FROM journal"
    )
    db.execute("DROP TABLE journal")
    db.execute("ALTER TABLE journal_v2 RENAME TO journal")


# MIGRATIONS[n] takes a file from schema n to n + 1 (0 is an empty file).
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1, _journal_by_job]


class SQLiteStore:
    """A store in one SQLite file.

    Args:
        path: the file; created with its folder if missing, readable and
            writable by its owner only (0600, and so are its -wal and -shm).
        durability: ``process`` (default) or ``power``; see the module doc.
        read_only: open an existing file for reading only (``actors-wf
            inspect``): nothing is created, migrated or written.

    A file that is refused (damaged, another application's database, a newer
    schema) is left exactly as it was: it is checked before anything is
    written to it.

    Raises:
        StoreCorrupt: the file is damaged or is not an actors_wf store.
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
        self._db = self._open_read_only() if read_only else self._open()
        self._inode = os.stat(self.path).st_ino

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Made here, not by SQLite (0644): its -wal and -shm take this mode too.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {str(self.path)!r}: {exc}") from None
        try:
            _check_intact(db, self.path)
            _check_schema(db, self.path)  # before WAL: a refused file is not touched
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={DURABILITY[self.durability]}")
            db.execute("PRAGMA busy_timeout=5000")
            _migrate(db, self.path)
        except sqlite3.Error as exc:
            db.close()
            raise _write_error(self.path, "cannot open", exc) from None
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
            _check_intact(db, self.path)
            version = _check_schema(db, self.path)
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
                raise _write_error(self.path, f"cannot save job {state.job_id}", exc) from None
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
        """Close the file (a checkpoint folds the WAL back into it)."""
        with self._lock:
            self._db.close()


def _check_intact(db: sqlite3.Connection, path: Path) -> None:
    try:
        result = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreCorrupt(
            f"store {str(path)!r} is not a usable SQLite database ({exc}); "
            "restore it from a backup or point the engine at a new file"
        ) from None
    if result is None or result[0] != "ok":
        raise StoreCorrupt(
            f"store {str(path)!r} is damaged (integrity check: {result[0] if result else '?'}); "
            "restore it from a backup or point the engine at a new file"
        )


def _check_schema(db: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; a newer one, or another application's database, is refused."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {str(path)!r} has schema version {version}, written by a newer actors_wf; "
            f"this one reads versions up to {SCHEMA_VERSION}: upgrade actors_wf"
        )
    if version == 0:
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise StoreCorrupt(
                f"store {str(path)!r} is a SQLite database but not an actors_wf store "
                "(it has tables and no schema version)"
            )
    return int(version)


# What SQLite's error says -> the cause a StoreError names.
_CAUSES = (
    ("readonly", "read-only"),
    ("full", "disk full"),
    ("disk i/o", "I/O error"),
    ("locked", "locked by another process"),
    ("unable to open", "cannot be opened"),
)


def _write_error(path: Path, what: str, exc: sqlite3.Error) -> StoreError:
    """A StoreError naming the file and the cause (disk full, read-only, ...)."""
    text = str(exc)
    cause = next((name for key, name in _CAUSES if key in text.lower()), "database error")
    return StoreError(
        f"store {str(path)!r}: {what}: {cause} ({text}); what was committed before is kept, "
        "and the jobs this stopped can be recovered once the store is writable again",
        cause=cause,
    )


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    version = _check_schema(db, path)
    while version < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[version](db)
            version += 1
            db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def open_store(spec: str | os.PathLike[str], *, read_only: bool = False) -> SQLiteStore:
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
    return SQLiteStore(text, durability=durability, read_only=read_only)
