"""A running job has one writer, its JobActor: a user's update is applied by it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from actors_wf import COMPONENT, Engine, InvalidTransition, JobStatus, StepStatus
from tests.support.gate import Gate

WAIT = 10.0


@pytest.fixture(params=["memory", "sqlite"])
def gated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Gate]]:
    store = None if request.param == "memory" else tmp_path / "jobs.db"
    gate = Gate()
    with Engine(store=store) as engine:
        engine.registry.register(COMPONENT, "t.gate", None, gate)
        engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
        engine.registry.register_workflow(
            {
                "id": "abc",
                "steps": [
                    {"id": "a", "component": "t.gate"},
                    {"id": "b", "component": "t.one", "depends_on": ["a"]},
                    {"id": "c", "component": "t.one", "depends_on": ["b"]},
                    {"id": "d", "component": "t.one", "depends_on": ["a"]},
                ],
            }
        )
        yield engine, gate
        gate.open.set()


def _running(engine: Engine, gate: Gate) -> str:
    job = engine.jobs_sync.create_job("abc")
    engine.jobs_sync.start_job(job)
    assert gate.entered.wait(WAIT)
    return job


def test_skipping_a_pending_step_of_a_running_job_skips_what_needs_it(gated):
    engine, gate = gated
    job = _running(engine, gate)
    engine.state.update_state(job, {"steps.b.status": "SKIPPED"})
    gate.open.set()
    state = engine.jobs_sync.wait(job, WAIT)  # before: c waited for b forever
    assert state.status is JobStatus.COMPLETED
    statuses = {sid: s.status for sid, s in state.steps.items()}
    assert statuses == {
        "a": StepStatus.SUCCEEDED,
        "b": StepStatus.SKIPPED,
        "c": StepStatus.SKIPPED,
        "d": StepStatus.SUCCEEDED,
    }
    causes = [t.cause for t in engine.state.history(job) if t.step_id == "b"]
    assert "update_state" in causes


def test_updates_from_many_threads_are_all_kept_while_the_job_runs(gated):
    engine, gate = gated
    job = _running(engine, gate)
    before = engine.state.get(job).priority
    start = threading.Barrier(4)

    def bump() -> None:
        start.wait(WAIT)
        for _ in range(25):
            engine.state.update_state(job, lambda s: attrs.evolve(s, priority=s.priority + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    gate.open.set()
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert state.priority == before + 100  # no update lost, none applied twice


def test_a_running_jobs_status_and_running_steps_change_by_commands_only(gated):
    engine, gate = gated
    job = _running(engine, gate)
    before = engine.state.get(job).priority
    with pytest.raises(InvalidTransition, match="cancel_job"):
        engine.state.update_state(job, {"status": "FAILED"})
    with pytest.raises(InvalidTransition, match="step 'a'"):
        engine.state.update_state(job, {"steps.a.output": 5})
    with pytest.raises(InvalidTransition, match="step 'a'"):
        engine.state.update_state(job, [{"priority": 1}, {"steps.a.output": 5}], transaction=True)
    assert engine.state.get(job).priority == before  # all or none
    gate.open.set()
    assert engine.jobs_sync.wait(job, WAIT).status is JobStatus.COMPLETED


def test_a_transaction_on_a_running_job_is_applied_by_its_actor(gated):
    engine, gate = gated
    job = _running(engine, gate)
    with engine.state.transaction(job) as tx:
        tx.update({"priority": 7})
        tx.update({"steps.d.status": "SKIPPED"})
    gate.open.set()
    state = engine.jobs_sync.wait(job, WAIT)
    assert (state.priority, state.steps["d"].status) == (7, StepStatus.SKIPPED)


def test_an_update_racing_the_jobs_end_is_applied_or_refused_never_lost(tmp_path):
    with Engine(store=tmp_path / "jobs.db") as engine:
        engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "a", "component": "t.one"}]}
        )
        outcomes = set()
        for _ in range(100):
            job = engine.jobs_sync.create_job("one")
            engine.jobs_sync.start_job(job)
            try:
                engine.state.update_state(job, {"priority": 3})
                outcomes.add("applied")
            except InvalidTransition:
                outcomes.add("refused: finished")
            state = engine.jobs_sync.wait(job, WAIT)
            assert state.status is JobStatus.COMPLETED
        assert outcomes <= {"applied", "refused: finished"}
