"""Deleting jobs: one at a time, by purge, by a retention policy; pages of jobs; counts."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import hypothesis.strategies as st
import msgpack
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actors_wf import (
    COMPONENT,
    Engine,
    InvalidTransition,
    JobNotFound,
    JobPage,
    JobState,
    JobStatus,
    ManualClock,
    Retention,
    StateManager,
    StepStatus,
)
from actors_wf._core._codec import decode, encode
from actors_wf._core._messages import Ack, DeleteJob, JobList, ListJobs, Purged, PurgeJobs
from actors_wf._core._status import JobEvent, StepEvent
from actors_wf._state._sqlite import SQLiteStore
from actors_wf._state._store import MemoryStore
from actors_wf._state._transitions import move_job, move_step
from tests.support.workflows import new_job

WAIT = 10.0
ONE = {"id": "one", "steps": [{"id": "a", "component": "t.one"}]}


@pytest.fixture(params=["memory", "sqlite"])
def manager(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateManager]:
    store = SQLiteStore(tmp_path / "jobs.db") if request.param == "sqlite" else None
    state = StateManager(store)
    yield state
    state.close()


def _job(manager: StateManager, job_id: str, end: JobEvent | None = JobEvent.COMPLETE) -> JobState:
    """A job with step ``a`` done (output ``job_id``), moved to its end by ``end``."""
    job = manager.save(new_job(job_id))
    job, *entries = _moves(job, [JobEvent.ENQUEUE, JobEvent.START])
    job, first = move_step(job, "a", StepEvent.READY)
    job, second = move_step(job, "a", StepEvent.START)
    job, third = move_step(job, "a", StepEvent.SUCCEED, output=f"out of {job_id}")
    job = manager.save(job, [*entries, first, second, third])
    if end is None:
        return job
    job, entry = move_job(job, end, finished_at=job.created_at)
    return manager.save(job, [entry])


def _moves(job: JobState, events: list[JobEvent]) -> list:
    entries = []
    for event in events:
        job, entry = move_job(job, event)
        entries.append(entry)
    return [job, *entries]


def test_delete_job_removes_a_finished_job_with_its_journal_and_refuses_the_rest(manager):
    _job(manager, "done")
    running = _job(manager, "running", end=None)
    manager.delete_job("done")
    with pytest.raises(JobNotFound):
        manager.get("done")
    assert manager.store.history("done") == []
    with pytest.raises(InvalidTransition, match="cancel_job, then delete"):
        manager.delete_job("running")
    with pytest.raises(JobNotFound):
        manager.delete_job("nobody")
    assert manager.get("running") == running
    assert manager.counts() == {"RUNNING": 1}


def test_purge_takes_finished_jobs_only_by_age_and_status(manager):
    _job(manager, "ok")
    _job(manager, "bad", end=JobEvent.FAIL)
    _job(manager, "busy", end=None)
    manager.save(new_job("new"))
    assert manager.purge(older_than=timedelta(hours=1)) == 0  # they ended just now
    assert manager.purge(status="FAILED") == 1
    with pytest.raises(ValueError, match="RUNNING is not finished"):
        manager.purge(status=["RUNNING"])
    assert manager.purge(older_than=0) == 1
    assert sorted(j.job_id for j in manager.list_jobs()) == ["busy", "new"]
    assert manager.counts() == {"RUNNING": 1, "CREATED": 1}


def test_a_job_id_used_again_after_a_purge_sees_nothing_of_the_old_job(manager):
    _job(manager, "j1")
    assert manager.purge(older_than=0) == 1
    fresh = manager.save(new_job("j1"))
    assert manager.get("j1").steps["a"].output is None
    assert manager.get("j1").steps["a"].status is StepStatus.PENDING
    assert manager.store.history("j1") == []
    assert manager.get("j1") == fresh


def test_pages_of_jobs_newest_first_with_a_cursor(manager):
    for i in range(25):
        manager.save(new_job(f"job{i:02}"))
    _job(manager, "finished")
    everything = [j.job_id for j in manager.list_jobs()]
    pages, before = [], None
    while True:
        page = manager.list_jobs(limit=10, before=before)
        assert isinstance(page, JobPage) and len(page) <= 10
        pages.append([j.job_id for j in page])
        before = page.cursor
        if before is None:
            break
    assert [len(p) for p in pages] == [10, 10, 6]
    assert [j for p in pages for j in p] == everything[::-1]
    created = manager.list_jobs("CREATED", limit=100)
    assert len(created) == 25 and created.cursor is None
    assert [j.job_id for j in manager.list_jobs("COMPLETED", "w", limit=5)] == ["finished"]
    with pytest.raises(ValueError, match="not a cursor"):
        manager.list_jobs(limit=5, before="yesterday")
    with pytest.raises(ValueError, match="at least 1"):
        manager.list_jobs(limit=0)
    assert manager.find_prefix("job1") == [f"job1{i}" for i in range(10)]


def test_the_memory_store_keeps_the_newest_finished_jobs_only():
    manager = StateManager(MemoryStore(max_finished=3))
    for i in range(6):
        _job(manager, f"j{i}")
    running = _job(manager, "running", end=None)
    assert sorted(j.job_id for j in manager.list_jobs()) == ["j3", "j4", "j5", "running"]
    assert manager.store.history("j0") == []
    assert manager.get("running") == running


def test_retention_runs_in_the_background_a_batch_at_a_time(tmp_path):
    clock = ManualClock()
    policy = Retention(max_finished=2, interval=10, batch=1)
    with Engine(store=tmp_path / "jobs.db", clock=clock, retention=policy) as engine:
        engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "a", "component": "t.one"}]}
        )
        jobs = [engine.jobs_sync.create_job("one") for _ in range(5)]
        for job in jobs:
            engine.jobs_sync.start_job(job)
            engine.jobs_sync.wait(job, WAIT)
        kept = engine.jobs_sync.create_job("one")  # CREATED: never deleted
        clock.advance(10)
        assert len(engine.jobs_sync.list_jobs("COMPLETED")) == 4  # one batch of one
        for _ in range(3):
            clock.advance(0.05)  # the next batches follow at once while there is more
        left = [j.job_id for j in engine.jobs_sync.list_jobs()]
        assert left == [*jobs[3:], kept]
        assert clock.pending == [pytest.approx(10 + 0.15 + 10)]  # done: next in an interval


def test_a_store_url_carries_a_retention_policy_and_messages_delete_and_purge(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}?max_finished=1"
    with Engine(store=url) as engine:
        assert engine.retention == Retention(max_finished=1)
        engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "a", "component": "t.one"}]}
        )
        jobs = [engine.jobs_sync.create_job("one") for _ in range(4)]
        for job in jobs:
            engine.jobs_sync.start_job(job)
            engine.jobs_sync.wait(job, WAIT)
        assert engine.apply_retention() == 3
        reply = decode(engine.handle(encode(ListJobs(limit=1))))
        assert isinstance(reply, JobList) and [j.job_id for j in reply.jobs] == [jobs[3]]
        assert reply.cursor is not None
        assert decode(engine.handle(encode(DeleteJob(jobs[3])))) == Ack(jobs[3], "DELETED")
        refused = msgpack.unpackb(engine.handle(encode(DeleteJob(jobs[3]))))
        assert refused["code"] == "job_not_found"
        assert decode(engine.handle(encode(PurgeJobs(older_than=0)))) == Purged(0)
    with pytest.raises(ValueError, match="max_age is seconds"):
        Retention.from_url("sqlite:///x.db?max_age=30d")


class Retained(RuleBasedStateMachine):
    """Runs, purges and restarts in any order: finished jobs go, the rest never do."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "jobs.db"
        self.manager = StateManager(SQLiteStore(self.path))
        self.model: dict[str, JobStatus] = {}
        self.next = 0

    def teardown(self) -> None:
        self.manager.close()
        self.tmp.cleanup()

    @rule(end=st.sampled_from([None, JobEvent.COMPLETE, JobEvent.FAIL]))
    def run_a_job(self, end: JobEvent | None) -> None:
        job_id = f"j{self.next}"
        self.next += 1
        self.model[job_id] = _job(self.manager, job_id, end).status

    @rule(status=st.sampled_from([None, "COMPLETED", "FAILED"]))
    def purge(self, status: str | None) -> None:
        gone = {
            j
            for j, s in self.model.items()
            if s.is_terminal and (status is None or s.value == status)
        }
        assert self.manager.purge(older_than=0, status=status) == len(gone)
        for job_id in gone:
            del self.model[job_id]

    @rule()
    def restart(self) -> None:
        self.manager.close()
        self.manager = StateManager(SQLiteStore(self.path))

    @invariant()
    def the_store_holds_the_model(self) -> None:
        jobs = {j.job_id: j.status for j in self.manager.list_jobs()}
        assert jobs == self.model
        counted: dict[str, int] = {}
        for status in self.model.values():
            counted[status.value] = counted.get(status.value, 0) + 1
        assert self.manager.counts() == counted
        for job_id in self.model:
            assert self.manager.get(job_id).steps["a"].output == f"out of {job_id}"


Retained.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
test_runs_purges_and_restarts = Retained.TestCase


def test_a_job_with_large_outputs_is_read_without_them_and_a_reply_too_large_is_refused(
    tmp_path, monkeypatch
):
    from actors_wf import _handle
    from actors_wf._core._messages import GetJob, JobReply

    with Engine(store=tmp_path / "jobs.db") as engine:
        engine.registry.register(COMPONENT, "t.big", None, lambda: "x" * 100_000)
        engine.registry.register_workflow(
            {
                "id": "big",
                "steps": [{"id": "a", "component": "t.big"}],
                "outputs": {"o": "$steps.a.output"},
            }
        )
        job = engine.jobs_sync.create_job("big")
        engine.jobs_sync.start_job(job)
        engine.jobs_sync.wait(job, WAIT)
        small = engine.jobs_sync.get_job(job, outputs=False)
        assert small.outputs is None and small.steps["a"].output is None
        assert small.steps["a"].status is StepStatus.SUCCEEDED
        assert len(engine.jobs_sync.get_job(job).steps["a"].output) == 100_000
        monkeypatch.setattr(_handle, "MAX_MESSAGE", 50_000)
        refused = msgpack.unpackb(engine.handle(encode(GetJob(job))))
        assert refused["code"] == "too_large" and "ask with outputs=false" in refused["message"]
        reply = decode(engine.handle(encode(GetJob(job, outputs=False))))
        assert isinstance(reply, JobReply) and reply.state.outputs is None
