"""The SQLite store's file: its schema, the migrations between versions, the checks on open.

The schema version is SQLite's ``user_version``. Older files are migrated
on open; a file from a newer actors_wf is refused, and so is a file that is
not an intact SQLite database or not an actors_wf store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from .._core._errors import StoreCorrupt, StoreError

SCHEMA_VERSION = 2


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


def check_intact(db: sqlite3.Connection, path: Path) -> None:
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
    cause = next((name for key, name in _CAUSES if key in text.lower()), "database error")
    return StoreError(
        f"store {str(path)!r}: {what}: {cause} ({text}); what was committed before is kept, "
        "and the jobs this stopped can be recovered once the store is writable again",
        cause=cause,
    )


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
