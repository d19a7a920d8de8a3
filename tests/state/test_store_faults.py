"""The store on a real file that fails: full, read-only, deleted, a damaged row, a foreign file.

A write failure stops the jobs it hits with a StoreError naming the file and
the cause, tells their waiters, keeps the engine readable, and loses nothing
that was committed: once the store can be written again, recover() runs them on.
"""

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from actors_wf import COMPONENT, Engine, JobStatus, StoreCorrupt, StoreError
from actors_wf._cli import main
from actors_wf._core._codec import decode, encode
from actors_wf._core._messages import ErrorReply, GetJob, JobReply

WAIT = 30.0


GATE = threading.Event()
GATE.set()
STARTED = threading.Event()


def big(size: int) -> str:
    STARTED.set()
    assert GATE.wait(WAIT)
    return "x" * size


def one() -> int:
    return 1


@pytest.fixture
def small_fs(tmp_path) -> Iterator[Path]:
    """A 2 MiB tmpfs of this test's own, or a skip where this machine cannot mount one."""
    where = tmp_path / "fs"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _engine(store: Path) -> Engine:
    engine = Engine(store=store)
    engine.registry.register(COMPONENT, "t.big", None, big)
    engine.registry.register(COMPONENT, "t.one", None, one)
    engine.registry.register_workflow(
        {
            "id": "big",
            "inputs": {"size": "int"},
            "steps": [{"id": "s", "component": "t.big", "inputs": {"size": "$inputs.size"}}],
            "outputs": {"n": "$steps.s.output"},
        }
    )
    engine.registry.register_workflow({"id": "one", "steps": [{"id": "a", "component": "t.one"}]})
    return engine


def _fill(where: Path) -> Path:
    """Fill the file system to the last byte."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):  # ENOSPC: on with smaller writes
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_stops_the_job_and_recover_finishes_it_once_there_is_room(small_fs):
    store = small_fs / "jobs.db"
    with _engine(store) as engine:
        assert engine.run("one", timeout=WAIT) == {}
        done = engine.jobs_sync.list_jobs()
        GATE.clear()
        STARTED.clear()
        job = engine.jobs_sync.create_job("big", {"size": 200_000})
        engine.jobs_sync.start_job(job)
        try:
            assert STARTED.wait(WAIT)
            filler = _fill(small_fs)
        finally:
            GATE.set()  # its 200 KB output now finds no room
        with pytest.raises(StoreError) as info:
            engine.jobs_sync.wait(job, WAIT)
        assert info.value.cause == "disk full"
        assert str(store) in str(info.value)
        # Still readable: the job as last committed, every other job, metrics, handle().
        assert engine.jobs_sync.get_job(job).status is JobStatus.RUNNING
        assert [j.job_id for j in engine.jobs_sync.list_jobs()][: len(done)] == [
            j.job_id for j in done
        ]
        assert engine.metrics().jobs["RUNNING"] == 1
        reply = decode(engine.handle(encode(GetJob(job))))
        assert isinstance(reply, JobReply)
        filler.unlink()  # room again
        assert engine.recover() == [job]
        final = engine.jobs_sync.wait(job, WAIT)
    assert final.status is JobStatus.COMPLETED
    assert final.outputs == {"n": "x" * 200_000}


def test_a_write_refused_as_read_only_gets_an_error_reply_and_loses_nothing(tmp_path):
    store = tmp_path / "jobs.db"
    with _engine(store) as engine:
        assert engine.run("one", timeout=WAIT) == {}
        engine.state.store._db.execute("PRAGMA query_only=1")  # SQLite refuses every write
        reply = decode(engine.handle(msgpack.packb({"type": "create_job", "workflow_id": "one"})))
        assert isinstance(reply, ErrorReply) and reply.code == "store_error"
        assert "read-only" in reply.message and str(store) in reply.message
        with pytest.raises(StoreError, match="read-only"):
            engine.jobs_sync.create_job("one")
        assert [j.status for j in engine.jobs_sync.list_jobs()] == [JobStatus.COMPLETED]
        engine.state.store._db.execute("PRAGMA query_only=0")
        assert engine.run("one", timeout=WAIT) == {}  # writable again: it runs on


def test_a_store_on_a_read_only_file_system_is_refused_at_start_untouched(small_fs):
    store = small_fs / "jobs.db"
    with _engine(store) as engine:
        engine.run("one", timeout=WAIT)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    before = _digest(store)
    with pytest.raises(StoreError, match="Read-only file system"):
        Engine(store=store)
    assert _digest(store) == before


def test_a_store_file_deleted_under_a_running_engine_is_reported_not_lost_silently(tmp_path):
    store = tmp_path / "jobs.db"
    with _engine(store) as engine:
        GATE.clear()
        STARTED.clear()
        job = engine.jobs_sync.create_job("big", {"size": 1})
        engine.jobs_sync.start_job(job)
        try:
            assert STARTED.wait(WAIT)
            store.unlink()
        finally:
            GATE.set()
        with pytest.raises(StoreError, match="was deleted while this engine used it") as info:
            engine.jobs_sync.wait(job, WAIT)
        assert info.value.cause == "deleted"


def test_a_damaged_row_is_skipped_and_named_and_the_other_jobs_recover(tmp_path, caplog):
    store = tmp_path / "jobs.db"
    with _engine(store) as engine:
        jobs = [engine.jobs_sync.create_job("one") for _ in range(3)]
        for job in jobs:
            engine.jobs_sync.start_job(job)
            engine.jobs_sync.wait(job, WAIT)
        queued = engine.jobs_sync.create_job("one")
    db = sqlite3.connect(store)
    with db:
        db.execute(
            "UPDATE jobs SET status = 'QUEUED', state = ? WHERE job_id = ?",
            (b"\xc1not msgpack", jobs[1]),
        )
        db.execute("UPDATE jobs SET status = 'QUEUED' WHERE job_id = ?", (queued,))
    db.close()
    with _engine(store) as engine:
        listed = [j.job_id for j in engine.jobs_sync.list_jobs()]
        assert listed == [jobs[0], jobs[2], queued]
        assert engine.metrics().jobs["COMPLETED"] == 2
        assert engine.recover() == []  # the CREATED one stays; the damaged one is skipped
        assert jobs[1] in engine.state.store.damaged
        with pytest.raises(StoreCorrupt, match=jobs[1]):
            engine.jobs_sync.get_job(jobs[1])
    assert f"the state of job {jobs[1]} cannot be read" in caplog.text


@pytest.mark.parametrize(
    ("setup", "error", "fragment"),
    [
        ("CREATE TABLE notes (text TEXT)", StoreCorrupt, "not an actors_wf store"),
        ("PRAGMA user_version = 99", StoreError, "written by a newer actors_wf"),
    ],
)
def test_a_refused_file_is_left_byte_for_byte_as_it_was(tmp_path, setup, error, fragment):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute(setup)
    db.commit()
    db.close()
    before = _digest(path)
    with pytest.raises(error, match=fragment):
        Engine(store=path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_inspect_reads_a_store_without_changing_or_creating_anything(tmp_path, capsys):
    store = tmp_path / "jobs.db"
    with _engine(store) as engine:
        job = engine.jobs_sync.create_job("one")
    before = (_digest(store), sorted(p.name for p in tmp_path.iterdir()))
    assert main(["inspect", job, "--store", str(store)]) == 0
    assert "CREATED" in capsys.readouterr().out
    assert (_digest(store), sorted(p.name for p in tmp_path.iterdir())) == before
    missing = tmp_path / "no" / "such.db"
    for spec in (str(missing), f"sqlite:///{missing}"):
        assert main(["inspect", job, "--store", spec]) == 2
        assert "no store file" in capsys.readouterr().err
        assert not (tmp_path / "no").exists()


def test_store_files_are_for_their_owner_only(tmp_path):
    store = tmp_path / "jobs.db"
    with _engine(store) as engine:
        engine.run("one", timeout=WAIT)
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {
        name: 0o600
        for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm", "jobs.db-lock", "jobs.db-owner")
    }
