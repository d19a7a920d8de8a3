"""Caches are bounded: a daemon that runs a year of jobs does not grow with them."""

from actors_wf import COMPONENT, Engine
from actors_wf._runtime import _services
from actors_wf._state import _sqlite

WAIT = 30.0


def inc(x: int) -> int:
    return x + 1


def test_ad_hoc_steps_do_not_pile_up_plans_or_validation_results():
    with Engine() as engine:
        engine.registry.register(COMPONENT, "t.inc", None, inc)
        for n in range(300):  # each execute_step is a workflow of its own
            step = {"id": "s", "component": "t.inc", "inputs": {"x": n}}
            assert engine.orchestrator.execute_step(step, timeout=WAIT) == n + 1
        assert len(_services._PLANS) <= _services._PLANS.size == 256
        assert len(engine.validator._checked) <= 256


def test_the_sqlite_store_keeps_a_bounded_number_of_states_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(_sqlite, "STATES_KEPT", 10)
    with Engine(store=tmp_path / "jobs.db") as engine:
        engine.registry.register(COMPONENT, "t.inc", None, inc)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "s", "component": "t.inc", "inputs": {"x": 1}}]}
        )
        jobs = [engine.jobs_sync.create_job("one") for _ in range(30)]
        for job in jobs:
            engine.jobs_sync.start_job(job)
            engine.jobs_sync.wait(job, WAIT)
        store = engine.state.store
        assert len(store._states) <= 10
        # What fell out is read again from the file.
        assert [engine.jobs_sync.get_job(j).steps["s"].output for j in jobs] == [2] * 30


def test_per_job_locks_are_a_fixed_set():
    with Engine() as engine:
        engine.registry.register(COMPONENT, "t.inc", None, inc)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "s", "component": "t.inc", "inputs": {"x": 1}}]}
        )
        before = len(engine.state._job_locks)
        for _ in range(100):
            job = engine.jobs_sync.create_job("one")
            engine.state.update_state(job, {"priority": 3})
        assert len(engine.state._job_locks) == before
