"""Resource slots: all or nothing, waiters told once, the giver not told about its own release."""

import threading

from prometheus_client.parser import text_string_to_metric_families

from actors_wf import COMPONENT, Engine, JobStatus, ManualClock, StepStatus
from actors_wf._runtime._resources import Resources
from tests.support.gate import Gate
from tests.support.polling import until

WAIT = 10.0


def _release(slots: Resources, need: dict[str, int]) -> None:
    """Give ``need`` back and offer it at once, as a JobActor does after its message."""
    slots.give_back(need)
    slots.offer()


def test_take_all_or_nothing_and_give_back():
    slots = Resources({"steps": 2, "db": 1})
    assert slots.try_acquire({"steps": 1, "db": 1})
    assert not slots.try_acquire({"steps": 1, "db": 1})  # db is taken: nothing is taken
    assert slots.in_use == {"steps": 1, "db": 1}
    _release(slots, {"steps": 1, "db": 1})
    assert slots.in_use == {"steps": 0, "db": 0}


def _waiting(slots: Resources, told: list[str], *names: str, need=None) -> None:
    for name in names:
        slots.wait(f"job-{name}", lambda name=name: told.append(name), need or {"steps": 1})


def test_a_release_tells_the_oldest_waiter_it_fits_once():
    slots = Resources({"steps": 1})
    told: list[str] = []
    slots.try_acquire({"steps": 1})
    _waiting(slots, told, "a", "b", "c")
    assert told == []  # full: registering tells nobody
    _release(slots, {"steps": 1})
    assert told == ["a"]  # one slot fits one waiter
    assert slots.try_acquire({"steps": 1}, "job-a")
    _release(slots, {"steps": 1})
    assert told == ["a", "b"]
    _release(slots, {})
    assert told == ["a", "b"]  # once per registration; the slot is b's until b tries


def test_room_given_back_and_taken_again_by_the_giver_wakes_nobody():
    slots = Resources({"steps": 1})
    told: list[str] = []
    slots.try_acquire({"steps": 1})
    assert not slots.others_wait("job-a")
    _waiting(slots, told, "b")
    assert slots.others_wait("job-a") and not slots.others_wait("job-b")
    slots.give_back({"steps": 1})  # a chain's step ended: its next step takes the slot
    assert slots.try_acquire({"steps": 1})
    slots.offer()
    assert told == []
    slots.give_back({"steps": 1})  # its last step ended: the slot is offered
    slots.offer()
    assert told == ["b"]


def test_a_release_tells_as_many_waiters_as_its_room_fits():
    slots = Resources({"steps": 3})
    told: list[str] = []
    slots.try_acquire({"steps": 3})
    _waiting(slots, told, "a", "b", "c")
    _release(slots, {"steps": 2})
    assert told == ["a", "b"]


def test_room_told_of_is_the_waiters_until_it_tries():
    slots = Resources({"steps": 2})
    told: list[str] = []
    slots.try_acquire({"steps": 2})
    _waiting(slots, told, "a", "b")
    _release(slots, {"steps": 1})
    assert told == ["a"]
    assert not slots.try_acquire({"steps": 1}, "job-x")  # promised to a: not another job's
    _release(slots, {"steps": 1})
    assert told == ["a", "b"]  # the second slot goes to b, not to a again
    assert slots.try_acquire({"steps": 1}, "job-b")
    assert slots.try_acquire({"steps": 1}, "job-a")
    assert slots.in_use == {"steps": 2}


def test_a_waiter_whose_need_does_not_fit_is_passed_over_for_one_that_fits():
    slots = Resources({"steps": 2, "db": 1})
    told: list[str] = []
    assert slots.try_acquire({"steps": 2, "db": 1})
    _waiting(slots, told, "a", need={"steps": 1, "db": 1})
    _waiting(slots, told, "b")
    _release(slots, {"steps": 1})  # no db: a still cannot run, b can
    assert told == ["b"]
    _release(slots, {"db": 1})
    assert told == ["b"]  # a needs a slot too, and the free one is b's
    assert slots.try_acquire({"steps": 1}, "job-b")
    _release(slots, {"steps": 1})
    assert told == ["b", "a"]


def test_room_a_told_waiter_does_not_use_is_offered_to_the_next():
    slots = Resources({"steps": 1, "db": 1})
    told: list[str] = []
    assert slots.try_acquire({"steps": 1})
    _waiting(slots, told, "a", "b")
    _release(slots, {"steps": 1})
    assert told == ["a"]
    slots.forget("job-a")  # a's job paused meanwhile: it takes nothing
    assert told == ["a", "b"]
    assert slots.try_acquire({"steps": 1}, "job-b")
    assert slots.try_acquire({"db": 1})
    _waiting(slots, told, "c", "d")
    _release(slots, {"steps": 1})
    assert told == ["a", "b", "c"]
    # c's next step needs the db too, which is taken: it registers that need,
    # and the slot it cannot use goes to the next waiter.
    slots.wait("job-c", lambda: told.append("c again"), {"steps": 1, "db": 1})
    assert told == ["a", "b", "c", "d"]


def test_registering_again_keeps_the_place_and_room_freed_meanwhile_is_not_missed():
    slots = Resources({"steps": 1})
    told: list[str] = []
    assert slots.try_acquire({"steps": 1})
    _waiting(slots, told, "a", "b")
    slots.wait("job-a", lambda: told.append("never"), {"steps": 1})  # a looked again: its place
    _release(slots, {"steps": 1})
    assert told == ["a"]
    assert slots.try_acquire({"steps": 1}, "job-a")
    # b tried, found no room, and the slot came back before b registered again:
    # b is told at once.
    slots.give_back({"steps": 1})
    _waiting(slots, told, "b")
    assert told == ["a", "b"]


def test_jobs_that_wait_for_slots_and_a_resource_all_complete():
    with Engine(max_concurrent_steps=2, resources={"db": 1}) as eng:
        eng.registry.register(COMPONENT, "t.plain", None, lambda: 1)
        eng.registry.register(COMPONENT, "t.db", {"resources": {"db": 1}}, lambda: 2)
        eng.registry.register_workflow(
            {
                "id": "mixed",
                "steps": [
                    {"id": "a", "component": "t.plain"},
                    {"id": "b", "component": "t.db"},
                    {"id": "c", "component": "t.plain"},
                    {"id": "d", "component": "t.db", "depends_on": ["c"]},
                ],
            }
        )
        jobs = [eng.jobs_sync.create_job("mixed", start=True) for _ in range(60)]
        ended = [eng.jobs_sync.wait(job, WAIT) for job in jobs]
        assert {state.status for state in ended} == {JobStatus.COMPLETED}
        assert eng.resources.in_use == {"steps": 0, "db": 0}


def test_metrics_show_what_running_steps_hold_and_how_many_jobs_wait():
    gate = Gate()
    with Engine(max_concurrent_steps=1, resources={"db": 2}) as eng:
        eng.registry.register(COMPONENT, "t.hold", {"resources": {"db": 1}}, gate)
        eng.registry.register_workflow({"id": "h", "steps": [{"id": "s", "component": "t.hold"}]})
        first = eng.jobs_sync.create_job("h", start=True)
        assert gate.entered.wait(WAIT)
        second = eng.jobs_sync.create_job("h", start=True)
        assert until(lambda: eng.metrics().jobs_waiting_for_resources == 1, WAIT)
        held = eng.metrics()
        gate.open.set()
        ended = [eng.jobs_sync.wait(job, WAIT).status for job in (first, second)]
        after = eng.metrics()
    assert held.resources_in_use == {"steps": 1, "db": 1}
    assert held.resources_capacity == {"steps": 1, "db": 2}
    parsed = {
        (sample.name, sample.labels.get("resource")): sample.value
        for family in text_string_to_metric_families(held.to_prometheus())
        if family.name.startswith(("actors_wf_resource", "actors_wf_jobs_waiting"))
        for sample in family.samples
    }
    assert parsed == {
        ("actors_wf_resource_in_use", "db"): 1,
        ("actors_wf_resource_in_use", "steps"): 1,
        ("actors_wf_resource_capacity", "db"): 2,
        ("actors_wf_resource_capacity", "steps"): 1,
        ("actors_wf_jobs_waiting_for_resources", None): 1,
    }
    assert ended == [JobStatus.COMPLETED, JobStatus.COMPLETED]
    assert after.jobs_waiting_for_resources == 0
    assert after.resources_in_use == {"steps": 0, "db": 0}


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
