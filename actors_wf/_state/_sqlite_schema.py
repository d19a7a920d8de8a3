"""The SQLite store's file: its schema, the migrations between versions, the checks on open.

The schema version is SQLite's ``user_version``. Older files are migrated
on open; a file from a newer actors_wf is refused, and so is a file that is
not a SQLite database, is truncated, or is not an actors_wf store.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import msgpack

from .._core._errors import StoreCorrupt, StoreError

SCHEMA_VERSION = 3


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


# Version 3: costs that do not grow with history or with a job's size.
# Each step has a row of its own, written when it changes (a 4 MiB output
# once, not at every later step of its job); the job row keeps the rest.
# A workflow's spec is stored once, by its digest, for all its jobs: SQLite
# rewrites a whole row on update, and a 10,000-step spec in the job row made
# each save of that job rewrite it.
# Status, workflow, priority and times are indexed columns, so a page of
# jobs, the unfinished ones and the finished ones past a retention policy
# are each one indexed query.
_V3 = (
    "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN finished_at REAL",
    """CREATE TABLE workflows (
        key TEXT PRIMARY KEY,
        spec BLOB NOT NULL
    )""",
    "CREATE INDEX jobs_by_spec ON jobs (workflow)",
    """CREATE TABLE steps (
        job_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (job_id, n)
    )""",
    "DROP INDEX jobs_by_status",
    "CREATE INDEX jobs_by_status ON jobs (status, created_at, job_id)",
    "CREATE INDEX jobs_by_created ON jobs (created_at, job_id)",
    "CREATE INDEX jobs_by_workflow ON jobs (workflow_id, created_at, job_id)",
    "CREATE INDEX jobs_by_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL",
)
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


def spec_key(spec: bytes) -> str:
    """The key a packed workflow spec is stored under: its digest."""
    return hashlib.blake2b(spec, digest_size=16).hexdigest()


def _steps_apart(db: sqlite3.Connection) -> None:
    for statement in _V3:
        db.execute(statement)
    rows = db.execute("SELECT job_id, status, state, workflow FROM jobs").fetchall()
    for job_id, status, blob, spec in rows:
        key = spec_key(spec)
        db.execute("INSERT OR IGNORE INTO workflows (key, spec) VALUES (?, ?)", (key, spec))
        data = msgpack.unpackb(blob)
        steps = data.pop("steps", {})
        db.executemany(
            "INSERT INTO steps (job_id, n, state) VALUES (?, ?, ?)",
            [(job_id, n, msgpack.packb(step)) for n, step in enumerate(steps.values())],
        )
        finished = data.get("finished_at") if status in FINISHED else None
        db.execute(
            "UPDATE jobs SET state = ?, priority = ?, finished_at = ?, workflow = ? "
            "WHERE job_id = ?",
            (msgpack.packb(data), data.get("priority", 0), finished, key, job_id),
        )


# MIGRATIONS[n] takes a file from schema n to n + 1 (0 is an empty file).
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_v1,
    _journal_by_job,
    _steps_apart,
]


def check_header(path: Path) -> None:
    """Refuse a file that is not SQLite or is shorter than its header says: in O(1).

    Not ``PRAGMA quick_check``, which reads the whole file: a store a daemon
    keeps a year of jobs in must open in milliseconds. Damage deeper in the
    file is found when the page is read, and named then (``StoreCorrupt``).
    """
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return
    if not header:
        return  # a new, empty file
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise StoreCorrupt(
            f"store {str(path)!r} is not a usable SQLite database (no SQLite header); "
            "restore it from a backup or point the engine at a new file"
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96]  # the page count is valid for this change
    wal = Path(f"{path}-wal")
    replaying = wal.exists() and wal.stat().st_size > 0  # a checkpoint may have been cut short
    if counted and not replaying and size < pages * page_size:
        raise StoreCorrupt(
            f"store {str(path)!r} is truncated ({size} bytes; its header says "
            f"{pages * page_size}); restore it from a backup or point the engine at a new file"
        )


def check_schema(db: sqlite3.Connection, path: Path) -> int:
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


def write_error(path: Path, what: str, exc: sqlite3.Error) -> StoreError:
    """A StoreError naming the file and the cause (disk full, read-only, ...)."""
    text = str(exc)
    if _DAMAGED in text.lower() or "not a database" in text.lower():
        return read_error(path, what, exc)
    cause = next((name for key, name in _CAUSES if key in text.lower()), "database error")
    return StoreError(
        f"store {str(path)!r}: {what}: {cause} ({text}); what was committed before is kept, "
        "and the jobs this stopped can be recovered once the store is writable again",
        cause=cause,
    )


def read_error(path: Path, what: str, exc: sqlite3.Error) -> StoreError:
    """What a failed read means: a damaged file (``StoreCorrupt``), or the causes of a write."""
    text = str(exc)
    if _DAMAGED in text.lower() or "not a database" in text.lower():
        return StoreCorrupt(
            f"store {str(path)!r}: {what}: the file is damaged ({text}); restore it from a "
            "backup or point the engine at a new file"
        )
    return write_error(path, what, exc)


_DAMAGED = "malformed"


def migrate(db: sqlite3.Connection, path: Path) -> None:
    version = check_schema(db, path)
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


def open_writable(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection to the store file, checked, in WAL mode, migrated to this schema."""
    try:
        # Made here, not by SQLite (0644): its -wal and -shm take this mode too.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open store {str(path)!r}: {exc}") from None
    try:
        check_header(path)
        check_schema(db, path)  # before WAL: a refused file is not touched
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA busy_timeout=5000")
        migrate(db, path)
    except sqlite3.Error as exc:
        db.close()
        raise write_error(path, "cannot open", exc) from None
    except BaseException:
        db.close()
        raise
    return db


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that changes nothing in or beside the file."""
    if not path.is_file():
        raise StoreError(f"no store file {str(path)!r}")
    # No -wal file: no engine has the store open and every commit is in the
    # file, which is then read as immutable: no -wal or -shm is created beside it.
    live = Path(f"{path}-wal").exists()
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro{'' if live else '&immutable=1'}",
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {str(path)!r}: {exc}") from None
    try:
        check_header(path)
        version = check_schema(db, path)
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"store {str(path)!r} has schema version {version}; this actors_wf "
                f"reads version {SCHEMA_VERSION} without changing the file: open it with "
                "an engine once to migrate it"
            )
    except BaseException:
        db.close()
        raise
    return db
