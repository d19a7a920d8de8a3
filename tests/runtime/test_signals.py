"""wait_for: a step waits for a signal, durably, holding no thread."""

import threading

import pytest

from actors_wf import (
    COMPONENT,
    Engine,
    JobStatus,
    ManualClock,
    SignalRefused,
    StepStatus,
)

WAIT = 10.0
APPROVE = {
    "id": "approve",
    "steps": [
        {"id": "prepare", "component": "t.echo", "inputs": {"x": "draft"}},
        {
            "id": "approval",
            "wait_for": {"signal": "approval", "timeout": "3d", "type": "{ok: bool, by: str}"},
            "depends_on": ["prepare"],
            "retry": {"max_attempts": 2, "initial_interval": "1h"},
        },
        {"id": "publish", "component": "t.echo", "inputs": {"x": "$steps.approval.output.by"}},
    ],
    "outputs": {"by": "$steps.publish.output"},
}


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def engine_options(clock):
    return {"clock": clock}


@pytest.fixture
def engine_setup():
    def setup(engine):
        engine.registry.register(COMPONENT, "t.echo", None, lambda x: x)
        engine.registry.register_workflow(APPROVE)

    return setup


def _waiting(engine, job, attempt=1):
    """The job's wait step WAITING (its step.started event comes once that is stored)."""
    started = threading.Event()

    def seen(event):
        if (event.job_id, event.kind, event.step_id, event.attempt) == (
            job,
            "step.started",
            "approval",
            attempt,
        ):
            started.set()

    unsubscribe = engine.subscribe(seen)
    try:
        steps = engine.jobs_sync.get_job(job).steps["approval"]
        if steps.status is not StepStatus.WAITING or len(steps.attempts) != attempt:
            assert started.wait(WAIT)
    finally:
        unsubscribe()
    state = engine.jobs_sync.get_job(job)
    assert state.steps["approval"].status is StepStatus.WAITING
    return state


def test_a_signal_during_the_wait_is_the_steps_output(engine):
    job = engine.jobs_sync.create_job("approve", {}, start=True)
    _waiting(engine, job)
    assert threading.active_count() < 100  # the wait holds no thread of its own
    assert engine.jobs_sync.signal(job, "approval", {"ok": True, "by": "ada"}) is JobStatus.RUNNING
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"by": "ada"}
    assert state.steps["approval"].output == {"ok": True, "by": "ada"}
    assert state.signals == {}


def test_a_signal_before_the_wait_is_kept_and_taken_when_the_step_comes(engine):
    job = engine.jobs_sync.create_job("approve", {})
    engine.jobs_sync.signal(job, "approval", {"ok": True, "by": "early"})
    assert engine.jobs_sync.get_job(job).signals == {"approval": [{"ok": True, "by": "early"}]}
    engine.jobs_sync.start_job(job)
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.outputs == {"by": "early"}


def test_a_signal_after_the_job_ended_is_refused(engine):
    job = engine.jobs_sync.create_job("approve", {}, start=True)
    _waiting(engine, job)
    engine.jobs_sync.signal(job, "approval", {"ok": True, "by": "ada"})
    engine.jobs_sync.wait(job, WAIT)
    with pytest.raises(SignalRefused, match=r"the job has ended \(COMPLETED\)"):
        engine.jobs_sync.signal(job, "approval", {"ok": True, "by": "late"})


def test_an_unknown_signal_or_a_payload_of_the_wrong_type_is_a_clear_error(engine):
    job = engine.jobs_sync.create_job("approve", {})
    with pytest.raises(SignalRefused, match=r"did you mean 'approval'\?"):
        engine.jobs_sync.signal(job, "aproval", {"ok": True, "by": "x"})
    with pytest.raises(SignalRefused, match=r"payload\['ok'\]: expected bool, got str"):
        engine.jobs_sync.signal(job, "approval", {"ok": "yes", "by": "x"})
    assert engine.jobs_sync.get_job(job).signals == {}  # nothing kept of either


def test_a_wait_times_out_on_the_clock_and_is_retried_by_its_policy(engine, clock):
    job = engine.jobs_sync.create_job("approve", {}, start=True)
    _waiting(engine, job)
    retrying = threading.Event()
    unsubscribe = engine.subscribe(lambda e: e.kind == "step.retrying" and retrying.set())
    clock.advance(3 * 86400 + 1)
    assert retrying.wait(WAIT)
    unsubscribe()
    clock.advance(3600)  # the backoff: it waits again, a second attempt
    _waiting(engine, job, attempt=2)
    clock.advance(3 * 86400 + 1)
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.FAILED
    assert state.error.type == "SignalTimeout"
    assert state.error.message == "no signal 'approval' within 259200 s"


def test_cancel_while_waiting_cancels_the_wait(engine):
    job = engine.jobs_sync.create_job("approve", {}, start=True)
    _waiting(engine, job)
    engine.jobs_sync.cancel_job(job)
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.CANCELLED
    assert state.steps["approval"].status is StepStatus.CANCELLED


def test_a_paused_job_keeps_waiting_and_takes_a_signal_sent_while_paused(engine):
    job = engine.jobs_sync.create_job("approve", {}, start=True)
    _waiting(engine, job)
    paused = threading.Event()
    unsubscribe = engine.subscribe(lambda e: e.kind == "job.paused" and paused.set())
    engine.jobs_sync.pause_job(job)
    assert paused.wait(WAIT)
    unsubscribe()
    assert engine.jobs_sync.get_job(job).steps["approval"].status is StepStatus.WAITING
    engine.jobs_sync.signal(job, "approval", {"ok": False, "by": "bob"})
    engine.jobs_sync.resume_job(job)
    assert engine.jobs_sync.wait(job, WAIT).outputs == {"by": "bob"}


def test_a_restarted_engine_keeps_the_wait_and_its_signal_still_arrives(tmp_path, clock):
    store = tmp_path / "jobs.db"
    with Engine(store=store, clock=clock) as first:
        first.registry.register(COMPONENT, "t.echo", None, lambda x: x)
        first.registry.register_workflow(APPROVE)
        job = first.jobs_sync.create_job("approve", {}, start=True)
        _waiting(first, job)
    with Engine(store=store, clock=ManualClock()) as second:
        second.registry.register(COMPONENT, "t.echo", None, lambda x: x)
        assert second.recover() == [job]
        assert second.jobs_sync.get_job(job).steps["approval"].status is StepStatus.WAITING
        second.jobs_sync.signal(job, "approval", {"ok": True, "by": "after restart"})
        state = second.jobs_sync.wait(job, WAIT)
    assert state.outputs == {"by": "after restart"}
    assert [a.number for a in state.steps["approval"].attempts] == [1]


def test_a_signal_goes_through_the_msgpack_interface_too(engine):
    from actors_wf._core._codec import decode, encode
    from actors_wf._core._messages import Ack, ErrorReply, SignalJob

    job = engine.jobs_sync.create_job("approve", {}, start=True)
    _waiting(engine, job)
    reply = decode(engine.handle(encode(SignalJob(job, "approval", {"ok": True, "by": "bytes"}))))
    assert isinstance(reply, Ack)
    assert engine.jobs_sync.wait(job, WAIT).outputs == {"by": "bytes"}
    refused = decode(engine.handle(encode(SignalJob(job, "nope", None))))
    assert isinstance(refused, ErrorReply) and refused.code == "signal_refused"


def test_a_wait_a_user_ends_by_an_update_takes_no_signal_later(engine):
    job = engine.jobs_sync.create_job("approve", {}, start=True)
    _waiting(engine, job)
    engine.state.update_state(
        job,
        {"steps.approval.status": "SUCCEEDED", "steps.approval.output": {"ok": 1, "by": "hand"}},
    )
    state = engine.jobs_sync.wait(job, WAIT)  # the update stands in for the signal
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"by": "hand"}
    with pytest.raises(SignalRefused, match="the job has ended"):
        engine.jobs_sync.signal(job, "approval", {"ok": True, "by": "late"})
