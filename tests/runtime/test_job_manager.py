"""Lifecycle commands, priorities with aging, resources, and the bytes interface."""

import asyncio
import threading

import msgpack
import pytest

from actors_wf import (
    COMPONENT,
    Engine,
    InvalidTransition,
    JobNotFound,
    JobStatus,
    ManualClock,
    StepStatus,
    WorkflowInvalid,
)
from actors_wf._core._codec import decode, encode
from actors_wf._core._messages import (
    Ack,
    CreateJob,
    ErrorReply,
    GetJob,
    JobCreated,
    JobList,
    JobReply,
    ListJobs,
    StartJob,
    StepSucceeded,
)
from tests.support.workflows import one_input

WAIT = 10.0


class Gate:
    """A component that blocks until the test opens it; counts who entered."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Semaphore(0)
        self.calls: list[str] = []

    def __call__(self, ctx) -> str:
        self.calls.append(ctx.step_id)
        self.entered.release()
        assert self.open.wait(WAIT)
        return ctx.step_id


def two_steps(engine, gate):
    engine.registry.register(COMPONENT, "t.gate", None, gate, replace=True)
    engine.registry.register_workflow(
        {
            "id": "two",
            "steps": [
                {"id": "a", "component": "t.gate"},
                {"id": "b", "component": "t.gate", "depends_on": ["a"]},
            ],
            "outputs": {"b": "$steps.b.output"},
        },
        replace=True,
    )


def test_pause_lets_the_running_step_finish_and_starts_no_other(engine):
    gate = Gate()
    two_steps(engine, gate)
    jobs = engine.jobs_sync
    job = jobs.create_job("two")
    jobs.start_job(job)
    assert gate.entered.acquire(timeout=WAIT)
    assert jobs.pause_job(job) is JobStatus.PAUSING
    assert jobs.pause_job(job) is JobStatus.PAUSING  # twice is harmless
    gate.open.set()
    paused = _wait_status(engine, job, JobStatus.PAUSED)
    assert paused.steps["a"].status is StepStatus.SUCCEEDED
    assert paused.steps["b"].status is StepStatus.READY and gate.calls == ["a"]  # not started
    with pytest.raises(InvalidTransition) as info:
        jobs.start_job(job)
    assert "it can take: resume_job, cancel_job" in str(info.value)
    assert jobs.resume_job(job) is JobStatus.QUEUED
    state = jobs.wait(job, WAIT)
    assert state.status is JobStatus.COMPLETED and state.outputs == {"b": "b"}
    assert gate.calls == ["a", "b"]


def _wait_status(engine, job, status):
    seen = threading.Event()
    unsubscribe = engine.subscribe(
        lambda e: e.job_id == job and e.kind == f"job.{status.value.lower()}" and seen.set()
    )
    if engine.jobs_sync.get_job(job).status is not status:
        assert seen.wait(WAIT)
    unsubscribe()
    return engine.jobs_sync.get_job(job)


def test_a_pausing_job_whose_last_running_step_fails_into_a_retry_wait_is_paused():
    clock = ManualClock()
    with Engine(clock=clock) as eng:
        gate = Gate()
        tries: list[int] = []

        def fails_once(ctx) -> str:
            gate(ctx)
            tries.append(1)
            if len(tries) == 1:
                raise ConnectionError("first try fails")
            return "ok"

        retry = {"retry": {"max_attempts": 2, "initial_interval": 100}}
        eng.registry.register(COMPONENT, "t.once", retry, fails_once)
        eng.registry.register_workflow(
            {"id": "one", "steps": [{"id": "a", "component": "t.once"}]}
        )
        jobs = eng.jobs_sync
        job = jobs.create_job("one")
        jobs.start_job(job)
        assert gate.entered.acquire(timeout=WAIT)
        assert jobs.pause_job(job) is JobStatus.PAUSING
        gate.open.set()  # it fails; its retry waits: nothing runs any more
        paused = _wait_status(eng, job, JobStatus.PAUSED)
        assert paused.steps["a"].status is StepStatus.RETRY_WAIT
        assert jobs.resume_job(job) is JobStatus.QUEUED  # and it retries at once
        assert jobs.wait(job, WAIT).status is JobStatus.COMPLETED
        assert len(tries) == 2


def test_resume_while_still_pausing_goes_on_at_once(engine):
    gate = Gate()
    two_steps(engine, gate)

    async def main():
        job = await engine.jobs.create_job("two")
        await engine.jobs.start_job(job)
        await asyncio.to_thread(gate.entered.acquire, True, WAIT)
        assert await engine.jobs.pause_job(job) is JobStatus.PAUSING
        assert await engine.jobs.resume_job(job) is JobStatus.RUNNING
        gate.open.set()
        return await engine.jobs.wait(job, WAIT)

    assert asyncio.run(main()).status is JobStatus.COMPLETED


def test_pause_resume_and_cancel_of_queued_and_paused_jobs():
    with Engine(max_concurrent_jobs=1) as eng:
        gate = Gate()
        two_steps(eng, gate)
        jobs = eng.jobs_sync
        first, second = jobs.create_job("two"), jobs.create_job("two")
        jobs.start_job(first)
        jobs.start_job(second)
        assert jobs.get_job(second).status is JobStatus.QUEUED
        assert jobs.pause_job(second) is JobStatus.PAUSED
        assert jobs.resume_job(second) is JobStatus.QUEUED
        assert jobs.pause_job(second) is JobStatus.PAUSED
        assert jobs.cancel_job(second) is JobStatus.CANCELLED  # a paused job, at once
        cancelled = jobs.get_job(second)
        assert {s.status for s in cancelled.steps.values()} == {StepStatus.CANCELLED}
        gate.open.set()
        assert jobs.wait(first, WAIT).status is JobStatus.COMPLETED
        with pytest.raises(InvalidTransition, match="it can take: nothing"):
            jobs.resume_job(second)
        assert [j.job_id for j in jobs.list_jobs(status="CANCELLED")] == [second]
        assert [j.job_id for j in jobs.list_jobs(JobStatus.COMPLETED, "two")] == [first]
        assert jobs.list_jobs(workflow_id="nope") == []
        with pytest.raises(ValueError):
            jobs.list_jobs(status="DONE")


def test_retry_job_reruns_failed_steps_and_keeps_what_succeeded(engine):
    calls = []

    def first(x: int) -> int:
        calls.append("first")
        return x + 1

    def flaky(x: int) -> int:
        calls.append("flaky")
        if calls.count("flaky") == 1:
            raise ConnectionError("down")
        return x * 10

    engine.registry.register(COMPONENT, "t.first", None, first)
    engine.registry.register(COMPONENT, "t.flaky", None, flaky)
    engine.registry.register_workflow(
        {
            "id": "w",
            "steps": [
                {"id": "a", "component": "t.first", "inputs": {"x": 1}},
                {"id": "b", "component": "t.flaky", "inputs": {"x": "$steps.a.output"}},
                {"id": "c", "component": "t.first", "inputs": {"x": "$steps.b.output"}},
            ],
            "outputs": {"c": "$steps.c.output"},
        }
    )
    jobs = engine.jobs_sync
    job = jobs.create_job("w")
    jobs.start_job(job)
    assert jobs.wait(job, WAIT).status is JobStatus.FAILED
    with pytest.raises(InvalidTransition, match="it can take: retry_job"):
        jobs.cancel_job(job)
    assert jobs.retry_job(job) is JobStatus.QUEUED
    state = jobs.wait(job, WAIT)
    assert state.status is JobStatus.COMPLETED and state.outputs == {"c": 21}
    assert calls == ["first", "flaky", "flaky", "first"]  # a ran once
    assert [a.number for a in state.steps["b"].attempts] == [1, 2]
    assert state.error is None
    with pytest.raises(InvalidTransition, match="retry_job"):
        jobs.retry_job(job)


@pytest.fixture
def one_slot():
    """An engine running one job at a time, a job that holds the slot, and a
    workflow that notes the order jobs run in."""
    clock = ManualClock()
    with Engine(max_concurrent_jobs=1, clock=clock, priority_aging=0.1) as eng:
        gate = Gate()
        order: list[str] = []
        eng.registry.register(COMPONENT, "t.gate", None, gate)
        eng.registry.register(COMPONENT, "t.note", None, lambda tag: order.append(tag))
        eng.registry.register_workflow(
            {"id": "block", "steps": [{"id": "g", "component": "t.gate"}]}
        )
        eng.registry.register_workflow(
            {
                "id": "note",
                "inputs": {"tag": "str"},
                "steps": [{"id": "n", "component": "t.note", "inputs": {"tag": "$inputs.tag"}}],
            }
        )
        jobs = eng.jobs_sync
        blocker = jobs.create_job("block")
        jobs.start_job(blocker)
        assert gate.entered.acquire(timeout=WAIT)
        yield jobs, clock, gate, order


def queue_note(jobs, tag: str, priority) -> str:
    job = jobs.create_job("note", {"tag": tag}, priority)
    jobs.start_job(job)
    return job


def test_a_retry_sent_as_soon_as_the_failure_is_stored_is_taken(monkeypatch):
    """Before the manager hears of the end (a retry from a job.failed handler, say)."""
    from actors_wf import testing
    from actors_wf._runtime import _job_actor

    held: list[tuple[object, bytes]] = []
    tell = _job_actor.tell_quietly

    def holding(ref, message):  # the JobActor's JobFinished waits until the test lets it go
        if type(decode(message)).__name__ == "JobFinished":
            held.append((ref, message))
        else:
            tell(ref, message)

    monkeypatch.setattr(_job_actor, "tell_quietly", holding)
    flow = {"id": "w", "steps": [{"id": "s", "component": "t.boom", "inputs": {}}]}
    with testing.engine({"t.boom": lambda: 1 / 0}, [flow]) as engine:
        job = engine.jobs_sync.create_job("w", start=True)
        assert testing.run_to_end(engine, job).status is JobStatus.FAILED
        assert len(held) == 1  # stored FAILED; the manager has not heard yet
        assert engine.jobs_sync.retry_job(job) is JobStatus.QUEUED
        assert testing.run_to_end(engine, job).status is JobStatus.FAILED
        for ref, message in held:  # late: from actors of runs that are over
            tell(ref, message)
        assert engine.jobs_sync.retry_job(job) is JobStatus.QUEUED  # the slot is free
        assert testing.run_to_end(engine, job).status is JobStatus.FAILED


def test_priorities_order_the_queue_fifo_within_a_priority(one_slot):
    jobs, _, gate, order = one_slot
    ids = [
        queue_note(jobs, tag, priority)
        for tag, priority in (
            ("low", "LOW"),
            ("med1", "MEDIUM"),
            ("high", "HIGH"),
            ("med2", "MEDIUM"),
            ("ninety", 90),
        )
    ]
    gate.open.set()
    for job in ids:
        jobs.wait(job, WAIT)
    assert order == ["high", "ninety", "med1", "med2", "low"]


def test_a_waiting_low_job_ages_past_newer_medium_ones(one_slot):
    jobs, clock, gate, order = one_slot
    low = queue_note(jobs, "low", "LOW")
    clock.advance(401)  # LOW (10) + 0.1/s x 401 s > MEDIUM (50)
    medium = queue_note(jobs, "medium", "MEDIUM")
    gate.open.set()
    for job in (low, medium):
        jobs.wait(job, WAIT)
    assert order == ["low", "medium"]


def test_a_thousand_jobs_queued_at_once_all_complete():
    with Engine(max_concurrent_jobs=50) as eng:
        eng.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
        eng.registry.register_workflow(one_input("inc", "t.inc", "x", output="y"))

        async def main():
            ids = [await eng.jobs.create_job("inc", {"x": i}) for i in range(1000)]
            for job in ids:
                await eng.jobs.start_job(job)
            return await asyncio.gather(*(eng.jobs.wait(j, 120) for j in ids))

        states = asyncio.run(main())
    assert [s.outputs["y"] for s in states] == list(range(1, 1001))


def test_a_step_waits_ready_for_its_resource_and_gives_it_back():
    with Engine(resources={"db": 1}) as eng:
        gate = Gate()
        eng.registry.register(COMPONENT, "t.gate", {"resources": {"db": 1}}, gate)
        eng.registry.register_workflow(
            {
                "id": "pair",
                "steps": [{"id": "x", "component": "t.gate"}, {"id": "y", "component": "t.gate"}],
            }
        )
        jobs = eng.jobs_sync
        job = jobs.create_job("pair")
        jobs.start_job(job)
        assert gate.entered.acquire(timeout=WAIT)
        state = jobs.get_job(job)
        assert sorted(s.status.value for s in state.steps.values()) == ["READY", "RUNNING"]
        assert eng.resources.in_use["db"] == 1
        gate.open.set()
        assert jobs.wait(job, WAIT).status is JobStatus.COMPLETED
        assert eng.resources.in_use == {"db": 0, "steps": 0}
        eng.registry.register_workflow(
            {"id": "greedy", "steps": [{"id": "z", "component": "t.gate", "resources": {"db": 2}}]}
        )
        with pytest.raises(WorkflowInvalid, match="asks for 2 'db' but the engine has 1"):
            jobs.create_job("greedy")


# -- the bytes interface ----------------------------------------------------------


def test_handle_drives_a_job_with_bytes(engine):
    engine.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
    engine.registry.register_workflow(one_input("inc", "t.inc", "x", output="y"))
    created = decode(engine.handle(encode(CreateJob("inc", {"x": 41}))))
    assert isinstance(created, JobCreated)
    started = decode(engine.handle(encode(StartJob(created.job_id))))
    assert isinstance(started, Ack)
    engine.jobs_sync.wait(created.job_id, WAIT)
    job = decode(engine.handle(encode(GetJob(created.job_id))))
    assert isinstance(job, JobReply) and job.state.outputs == {"y": 42}
    listed = decode(engine.handle(encode(ListJobs(status="COMPLETED"))))
    assert isinstance(listed, JobList) and [j.job_id for j in listed.jobs] == [created.job_id]
    raw = msgpack.unpackb(engine.handle(msgpack.packb({"type": "get_job", "job_id": "zz"})))
    assert raw == {
        "type": "error",
        "code": "job_not_found",
        "message": "no job 'zz'",
        "data": None,
    }


@pytest.mark.parametrize(
    ("message", "code", "fragment"),
    [
        (b"\xc1", "bad_message", "not msgpack"),
        (msgpack.packb({"type": "launch_missiles"}), "bad_message", "unknown message type"),
        (msgpack.packb({"type": "start_job", "job_id": 7}), "bad_message", "expected str"),
        (msgpack.packb({"type": "create_job", "workflow_id": "nope"}), "not_found", "no workflow"),
        (
            msgpack.packb({"type": "create_job", "workflow_id": "inc", "inputs": {"x": 1.5}}),
            "invalid_inputs",
            "expected int, got float 1.5",
        ),
        (
            msgpack.packb(
                {
                    "type": "create_job",
                    "workflow_id": "inc",
                    "inputs": {"x": 1},
                    "priority": "URGENT",
                }
            ),
            "invalid",
            "priority must be",
        ),
        (msgpack.packb({"type": "list_jobs", "status": "DONE"}), "invalid", "DONE"),
        (msgpack.packb({"type": "cancel_job", "job_id": "zz"}), "job_not_found", "zz"),
        (encode(StepSucceeded("j", "s", 1, 1, 0.0, 0.0)), "not_a_command", "not a command"),
        (b"\x00" * (16 * 1024 * 1024 + 1), "too_large", "the limit is"),
    ],
)
def test_bad_bytes_get_an_error_reply_and_the_engine_runs_on(engine, message, code, fragment):
    engine.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
    engine.registry.register_workflow(one_input("inc", "t.inc", "x"))
    reply = decode(engine.handle(message))
    assert isinstance(reply, ErrorReply)
    assert reply.code == code and fragment in reply.message
    assert engine.run("inc", {"x": 1}, timeout=WAIT) == {}


def test_handle_after_close_replies_engine_closed():
    eng = Engine()
    eng.close()
    reply = decode(eng.handle(encode(ListJobs())))
    assert isinstance(reply, ErrorReply) and reply.code == "engine_closed"


def test_get_job_of_an_unknown_job(engine):
    with pytest.raises(JobNotFound):
        engine.jobs_sync.get_job("nope")


def test_create_with_start_is_one_commit_so_no_crash_leaves_a_created_job(tmp_path):
    with Engine(store=tmp_path / "jobs.db") as eng:
        eng.registry.register(COMPONENT, "t.one", None, lambda: 1)
        eng.registry.register_workflow({"id": "one", "steps": [{"id": "a", "component": "t.one"}]})
        reply = decode(eng.handle(encode(CreateJob("one", {}, start=True))))
        assert isinstance(reply, JobCreated)
        eng.jobs_sync.wait(reply.job_id, WAIT)
        first = eng.state.history(reply.job_id)[0]
    # The job's first stored version is already QUEUED: no version of it is CREATED.
    assert (first.version, first.from_status, first.to_status) == (1, "CREATED", "QUEUED")
