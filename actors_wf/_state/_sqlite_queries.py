"""The SQLite store's indexed queries: unfinished jobs, pages, counts, finished jobs, history.

Each is one query on an index, so its cost follows what it returns, not how
many jobs the file holds.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from .._core._errors import StoreCorrupt
from .._core._records import JobState
from .._core._status import JobStatus
from ._sqlite_schema import read_error
from ._store import FINISHED
from ._transitions import Transition

log = logging.getLogger("actors_wf.store")


class SQLiteQueries:
    """The read queries of :class:`~actors_wf._state._sqlite.SQLiteStore` (a mixin)."""

    path: Path
    damaged: dict[str, str]
    _db: sqlite3.Connection
    _lock: threading.Lock
    _counts: collections.Counter[str] | None
    load: Callable[[str], JobState | None]  # the store's

    def iter_jobs(self, statuses: Collection[JobStatus] | None = None) -> Iterator[JobState]:
        """Every job's latest state (of ``statuses``, through their index), oldest first."""
        query = "SELECT job_id FROM jobs ORDER BY created_at, job_id"
        args: tuple[Any, ...] = ()
        if statuses is not None:
            marks = ", ".join("?" * len(statuses))
            query = (
                f"SELECT job_id FROM jobs WHERE status IN ({marks}) ORDER BY created_at, job_id"
            )
            args = tuple(s.value for s in statuses)
        with self._lock:
            ids = [r[0] for r in self._read("", query, args)]
        return self._states_of(ids)

    def _states_of(self, ids: Sequence[str]) -> Iterator[JobState]:
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

    def page(
        self,
        *,
        status: JobStatus | None = None,
        workflow_id: str | None = None,
        limit: int = 100,
        before: tuple[float, str] | None = None,
    ) -> list[JobState]:
        """Up to ``limit`` jobs, newest first, created before ``before``: one indexed query."""
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        if workflow_id is not None:
            where.append("workflow_id = ?")
            args.append(workflow_id)
        if before is not None:
            where.append("(created_at, job_id) < (?, ?)")
            args += before
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        query = f"SELECT job_id FROM jobs {clause}ORDER BY created_at DESC, job_id DESC LIMIT ?"
        with self._lock:
            ids = [r[0] for r in self._read("", query, (*args, limit))]
        return list(self._states_of(ids))

    def find_prefix(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of jobs that start with ``prefix`` (an index range, not a scan)."""
        with self._lock:
            rows = self._read(
                "",
                "SELECT job_id FROM jobs WHERE job_id >= ? AND job_id < ? ORDER BY job_id LIMIT ?",
                (prefix, prefix + "\U0010ffff", limit),
            ).fetchall()
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """Jobs by status: one GROUP BY over the status index, then kept as jobs move."""
        with self._lock:
            if self._counts is None:
                rows = self._read("", "SELECT status, count(*) FROM jobs GROUP BY status", ())
                self._counts = collections.Counter(dict(rows.fetchall()))
            return {k: v for k, v in self._counts.items() if v}

    def finished(
        self,
        *,
        before: float | None = None,
        statuses: Collection[JobStatus] = FINISHED,
        keep: int = 0,
        limit: int = 500,
    ) -> list[str]:
        """Ids of finished jobs, past ``keep`` newest and ended before ``before``."""
        marks = ", ".join("?" * len(statuses))
        query = (
            f"SELECT job_id FROM jobs WHERE finished_at IS NOT NULL AND status IN ({marks})"
            + (" AND finished_at < ?" if before is not None else "")
            + " ORDER BY finished_at DESC LIMIT ? OFFSET ?"
        )
        args = [s.value for s in statuses] + ([before] if before is not None else [])
        with self._lock:
            rows = self._read("", query, (*args, limit, keep)).fetchall()
        return [r[0] for r in rows]

    def history(self, job_id: str) -> list[Transition]:
        """The job's journal, oldest first."""
        with self._lock:
            rows = self._read(
                job_id,
                "SELECT job_id, step_id, event, from_status, to_status, at, cause, version "
                "FROM journal WHERE job_id = ? ORDER BY version, n",
                (job_id,),
            ).fetchall()
        return [Transition(*row) for row in rows]

    def _read(self, job_id: str, query: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._db.execute(query, args)
        except sqlite3.Error as exc:
            what = f"cannot read job {job_id}" if job_id else "cannot read"
            raise read_error(self.path, what, exc) from None
