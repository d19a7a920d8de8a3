"""SIGKILL in the middle of a purge or of commits of big outputs loses nothing committed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from actors_wf import JobStatus, StateManager
from actors_wf._core._status import JobEvent, StepEvent
from actors_wf._state._sqlite import SQLiteStore
from actors_wf._state._transitions import move_job, move_step
from tests.support.store_worker import BIG
from tests.support.workflows import new_job

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0


def _worker(store: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.store_worker", str(store), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _kill_after(proc: subprocess.Popen[str], lines: int) -> list[str]:
    assert proc.stdout is not None
    seen = [proc.stdout.readline().strip() for _ in range(lines)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(WAIT)
    proc.stdout.close()
    return seen


def _intact(path: Path) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_kill_during_a_purge_leaves_each_job_whole_or_gone(tmp_path):
    path = tmp_path / "jobs.db"
    manager = StateManager(SQLiteStore(path))
    for i in range(200):
        job = manager.save(new_job(f"done{i:03}"))
        job, entry = move_job(job, JobEvent.CANCEL, finished_at=job.created_at)
        manager.save(job, [entry])
    for i in range(5):
        manager.save(new_job(f"kept{i}"))
    manager.close()
    seen = _kill_after(_worker(path, "purge"), 6)
    assert seen[0] == "ready" and all(line == "purged 7" for line in seen[1:])
    _intact(path)
    manager = StateManager(SQLiteStore(path))
    try:
        jobs = {j.job_id: j for j in manager.list_jobs()}
        assert {f"kept{i}" for i in range(5)} <= set(jobs)  # never touched
        done = [j for j in jobs if j.startswith("done")]
        assert len(done) <= 200 - 7 * 5  # the batches it printed are gone
        for job_id in done:  # the rest whole: state, steps and journal
            assert jobs[job_id].status is JobStatus.CANCELLED
            assert [t.to_status for t in manager.history(job_id)] == ["CANCELLED"]
        db = manager.store._db
        orphans = db.execute(
            "SELECT count(*) FROM steps WHERE job_id NOT IN (SELECT job_id FROM jobs)"
        )
        assert orphans.fetchone() == (0,)
        journal = db.execute(
            "SELECT count(*) FROM journal WHERE job_id NOT IN (SELECT job_id FROM jobs)"
        )
        assert journal.fetchone() == (0,)
        assert manager.counts() == {"CANCELLED": len(done), "CREATED": 5}
    finally:
        manager.close()


def test_a_kill_during_commits_of_big_outputs_loses_no_committed_step(tmp_path):
    path = tmp_path / "jobs.db"
    seen = _kill_after(_worker(path, "big"), 12)
    last_step, last_version = seen[-1].split()[1], int(seen[-1].split()[2])
    _intact(path)
    manager = StateManager(SQLiteStore(path))
    try:
        job = manager.get("big")
        assert job.version >= last_version
        done = [s for s in job.steps.values() if s.output is not None]
        assert last_step in {s.step_id for s in done}
        for step in done:
            assert (
                len(step.output) == 8 + BIG and step.output[:8] == f"{int(step.step_id[1:]):08d}"
            )
        job, first = move_step(job, "s999", StepEvent.READY)  # and it is written to as before
        manager.save(job, [first])
    finally:
        manager.close()
