"""Resource slots: all or nothing, waiters told once, the giver not told about its own release."""

import threading

from actors_wf import COMPONENT, Engine, JobStatus, ManualClock, StepStatus
from actors_wf._runtime._resources import Resources

WAIT = 10.0


def test_take_all_or_nothing_and_give_back():
    slots = Resources({"steps": 2, "db": 1})
    assert slots.try_acquire({"steps": 1, "db": 1})
    assert not slots.try_acquire({"steps": 1, "db": 1})  # db is taken: nothing is taken
    assert slots.in_use == {"steps": 1, "db": 1}
    slots.release({"steps": 1, "db": 1})
    assert slots.in_use == {"steps": 0, "db": 0}


def test_a_release_tells_every_waiter_once_but_not_the_one_giving_back():
    slots = Resources({"steps": 1})
    told: list[str] = []
    slots.try_acquire({"steps": 1})
    slots.wait("job-a", lambda: told.append("a"))
    slots.wait("job-b", lambda: told.append("b"))
    slots.release({"steps": 1}, owner="job-a")
    assert told == ["b"]
    slots.release({}, owner=None)  # a is still registered: the next release tells it
    assert told == ["b", "a"]
    slots.release({})
    assert told == ["b", "a"]  # once per registration


def test_a_slot_freed_by_a_retrying_step_starts_another_step_of_the_job():
    clock = ManualClock()
    with Engine(max_concurrent_steps=1, clock=clock) as eng:
        tries: list[int] = []
        b_done = threading.Event()

        def flaky() -> str:
            tries.append(1)
            if len(tries) == 1:
                raise ConnectionError("first try fails")
            return "ok"

        eng.registry.register(
            COMPONENT, "t.flaky", {"retry": {"max_attempts": 2, "initial_interval": 100}}, flaky
        )
        eng.registry.register(COMPONENT, "t.ok", None, lambda: "b")
        eng.registry.register_workflow(
            {
                "id": "two",
                "steps": [{"id": "a", "component": "t.flaky"}, {"id": "b", "component": "t.ok"}],
            }
        )
        eng.subscribe(
            lambda e: b_done.set() if (e.kind, e.step_id) == ("step.succeeded", "b") else None
        )
        jobs = eng.jobs_sync
        job = jobs.create_job("two")
        jobs.start_job(job)
        # a failed and waits 100 s of the clock, which stands still: b ran in its slot.
        assert b_done.wait(WAIT)
        assert jobs.get_job(job).steps["a"].status is StepStatus.RETRY_WAIT
        assert clock.wait_pending(1)
        clock.advance(100)
        assert jobs.wait(job, WAIT).status is JobStatus.COMPLETED
        assert len(tries) == 2
