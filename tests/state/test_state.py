import threading
import time

import attrs
import pytest

from actors_wf import (
    EngineClosed,
    JobNotFound,
    JobState,
    JobStatus,
    StaleWrite,
    StateManager,
    WorkflowSpec,
)
from actors_wf._core._spec import StepSpec


def job(job_id="j1", status=JobStatus.CREATED) -> JobState:
    spec = WorkflowSpec(id="w", steps=(StepSpec("a", "c"),))
    return JobState(
        job_id=job_id,
        workflow=spec,
        status=status,
        inputs={},
        priority=0,
        steps={},
        created_at=time.time(),
    )


def test_save_bumps_the_version_and_refuses_stale_writes():
    state = StateManager()
    first = state.save(job())
    assert first.version == 1
    second = state.save(attrs.evolve(first, status=JobStatus.QUEUED))
    assert second.version == 2
    with pytest.raises(StaleWrite, match="based on version 1 refused, the stored version is 2"):
        state.save(attrs.evolve(first, status=JobStatus.CANCELLED))
    with pytest.raises(StaleWrite):
        state.save(job())  # a new job with an id that exists
    assert state.get("j1") == second
    assert state.list_jobs() == [second]


def test_concurrent_writers_never_lose_an_update():
    state = StateManager()
    state.save(attrs.evolve(job(), inputs={"n": 0}))
    barrier = threading.Barrier(4)

    def writer():
        barrier.wait()
        done = 0
        while done < 50:
            current = state.get("j1")
            try:
                state.save(attrs.evolve(current, inputs={"n": current.inputs["n"] + 1}))
                done += 1
            except StaleWrite:
                pass

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.get("j1").inputs == {"n": 200}


def test_watch_resolves_on_terminal_status_and_close_fails_the_rest():
    state = StateManager()
    a = state.save(job("a"))
    state.save(job("b"))
    fa, fb = state.watch("a"), state.watch("b")
    assert not fa.done()
    done = state.save(attrs.evolve(a, status=JobStatus.COMPLETED))
    assert fa.result(0) == done
    assert state.watch("a").result(0) == done  # already terminal
    fb2 = state.watch("b")
    fb2.cancel()  # one waiter giving up does not affect another
    state.close()
    with pytest.raises(EngineClosed):
        fb.result(0)
    with pytest.raises(EngineClosed):
        state.watch("b").result(0)
    with pytest.raises(JobNotFound):
        state.watch("zz")
    assert state.find("zz") is None
