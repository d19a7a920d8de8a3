"""Faults by component id: each changes what the engine sees, and is undone on exit."""

import threading

import pytest

from actors_wf import EventKind, JobStatus, StepStatus, testing
from actors_wf.testing import faults

WAIT = 10.0


def fetch(url: str) -> str:
    return f"<{url}>"


def load(page: str) -> int:
    return len(page)


COMPONENTS = {"etl.fetch": fetch, "etl.load": load}
ETL = {
    "id": "etl",
    "inputs": {"url": "str"},
    "steps": [
        {
            "id": "fetch",
            "component": "etl.fetch",
            "inputs": {"url": "$inputs.url"},
            "retry": {"max_attempts": 3, "initial_interval": 1},
            "timeout": 30,
        },
        {"id": "load", "component": "etl.load", "inputs": {"page": "$steps.fetch.output"}},
    ],
    "outputs": {"n": "$steps.load.output"},
}
TWO = {  # two branches that may end in any order
    "id": "two",
    "steps": [
        {"id": "a", "component": "etl.fetch", "inputs": {"url": "a"}},
        {"id": "b", "component": "etl.load", "inputs": {"page": "bb"}},
    ],
}


@pytest.fixture
def actors_wf_components():
    return COMPONENTS


@pytest.fixture
def actors_wf_workflows():
    return [ETL, TWO]


@pytest.fixture
def actors_wf_options():
    return {"ids": "sequential", "cancel_grace": 1}


@pytest.fixture
def engine(actors_wf_engine):  # the kit's own fixture, as a user's suite has it
    return actors_wf_engine


def _start(engine, workflow="etl", inputs=None):
    job = engine.jobs_sync.create_job(workflow, inputs if inputs is not None else {"url": "x"})
    engine.jobs_sync.start_job(job)
    return job


def test_fail_twice_then_the_retry_policy_lets_the_third_attempt_through(engine):
    with faults.fail("etl.fetch", times=2, error=ConnectionError) as fault:
        job = testing.run_to_end(engine, _start(engine)).job_id
    assert fault.applied == 2
    state = testing.assert_job(engine, job, status="COMPLETED", outputs={"n": 3})
    errors = [a.error.type for a in state.steps["fetch"].attempts if a.error]
    assert errors == ["ConnectionError", "ConnectionError"]
    assert engine.clock.now() == 3.0  # backoffs of 1 s and 2 s, on the manual clock
    testing.assert_replays(engine, job)


def test_a_fault_is_undone_when_its_block_ends_and_touches_no_other_component(engine):
    with faults.fail("etl.load", error=KeyError("gone")):
        job = testing.run_to_end(engine, _start(engine))
        assert job.status is JobStatus.FAILED and job.error.type == "KeyError"
        assert job.steps["fetch"].status is StepStatus.SUCCEEDED
    assert engine.run("etl", {"url": "x"}, timeout=WAIT) == {"n": 3}


def test_fail_takes_an_instance_and_a_bad_times_is_refused():
    with pytest.raises(ValueError, match="times must be 1 or more"):
        faults.fail("x", times=0)


def test_hang_until_the_timeout_on_the_manual_clock(engine):
    with faults.hang("etl.fetch", times=1) as fault:
        job = _start(engine)
        assert fault.wait(1, WAIT)
        assert engine.clock.wait_pending(1, WAIT)  # the attempt's timeout is armed
        engine.clock.advance(30)  # it times out; the retry (1 s later) runs for real
        state = testing.run_to_end(engine, job)
    assert state.status is JobStatus.COMPLETED
    assert state.steps["fetch"].attempts[0].error.type == "StepTimeout"


def test_hang_until_cancelled(engine):
    with faults.hang("etl.fetch") as fault:
        job = _start(engine)
        assert fault.wait(1, WAIT)
        engine.jobs_sync.cancel_job(job)
        assert testing.run_to_end(engine, job).status is JobStatus.CANCELLED


def test_crash_kills_a_real_worker_process_and_the_retry_runs(engine):
    with faults.crash("etl.fetch", times=1):
        state = testing.run_to_end(engine, _start(engine))
    assert state.status is JobStatus.COMPLETED
    error = state.steps["fetch"].attempts[0].error
    assert error.type == "ProcessCrashed" and "SIGKILL" in error.message


def test_slow_starts_the_attempt_only_once_the_clock_has_moved(engine):
    with faults.slow("etl.fetch", seconds=20, times=1) as fault:
        job = _start(engine)
        assert fault.wait(1, WAIT)
        engine.clock.advance(19)
        assert engine.jobs_sync.get_job(job).steps["fetch"].status is StepStatus.RUNNING
        engine.clock.advance(1)
        assert testing.run_to_end(engine, job).outputs == {"n": 3}


def test_slow_past_the_timeout_times_out_and_a_cancel_ends_the_wait(engine):
    with faults.slow("etl.fetch", seconds=60) as fault:
        job = _start(engine)
        assert fault.wait(1, WAIT)
        engine.jobs_sync.cancel_job(job)
        assert testing.run_to_end(engine, job).status is JobStatus.CANCELLED


def test_delay_outcome_makes_the_steps_end_in_the_order_the_test_chooses(engine):
    ended: list[str] = []
    changed = threading.Condition()

    def seen(event):
        if event.kind is EventKind.STEP_SUCCEEDED:
            with changed:
                ended.append(event.step_id)
                changed.notify_all()

    engine.subscribe(seen)
    with faults.delay_outcome("etl.fetch") as held:
        job = _start(engine, "two", {})
        assert held.wait_held(1, WAIT)
        assert held.release(job_id="another job") == 0
        with changed:  # "b" ends while the outcome of "a" is held
            assert changed.wait_for(lambda: ended == ["b"], WAIT)
        assert held.release() == 1
    with changed:
        assert changed.wait_for(lambda: ended == ["b", "a"], WAIT)
    assert testing.run_to_end(engine, job).status is JobStatus.COMPLETED
