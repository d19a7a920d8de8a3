"""JobLifecycleMachine: it runs a user's workflows, and it finds a planted bug, shrunk."""

import pytest
from hypothesis import settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from actors_wf import JobStatus, testing
from actors_wf.testing import faults
from tests.testing.components import COMPONENTS

ETL = {
    "id": "etl",
    "inputs": {"x": "int", "label": "str"},
    "steps": [
        {
            "id": "h",
            "component": "t.half",
            "inputs": {"x": "$inputs.x"},
            "retry": {"max_attempts": 2, "initial_interval": 1},
            "on_failure": "continue",
        },
        {
            "id": "l",
            "component": "t.label",
            "inputs": {"n": "$steps.h.output", "label": "$inputs.label"},
        },
        {"id": "c", "component": "t.concat", "inputs": {"a": "$inputs.label"}},
    ],
    "outputs": {"labelled": "$steps.l.output"},
}


class Jobs(testing.JobLifecycleMachine):
    components = COMPONENTS
    workflows = [ETL]


class JobsOnSQLite(Jobs):
    store = "sqlite"


TestJobs = Jobs.TestCase
TestJobsOnSQLite = JobsOnSQLite.TestCase
TestJobsOnSQLite.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)


def test_a_planted_bug_is_found_and_shrunk_to_a_few_rules():
    class NeverFailed(Jobs):
        @invariant()
        def no_job_ever_fails(self):  # false: t.half fails on odd numbers, and faults
            for job in self.states().values():
                assert job.status is not JobStatus.FAILED, "a job failed"

    # Derandomized: "a few rules" must not hang on one shrink's luck (once it left 4).
    quick = settings(
        max_examples=200, stateful_step_count=20, deadline=None, database=None, derandomize=True
    )
    with pytest.raises(AssertionError, match="a job failed") as info:
        run_state_machine_as_test(NeverFailed, settings=quick)
    example = "\n".join(getattr(info.value, "__notes__", []))  # the shrunk rules are there
    checks = ("state.no_", "state.statuses", "state.jobs_", "state.finished", "state.resources")
    rules = [
        line
        for line in example.splitlines()
        if line.startswith("state.")
        and not line.startswith((*checks, "state.teardown", "state._has_workflows"))
    ]
    assert 1 <= len(rules) <= 3, example  # e.g. a fault, a job created, started


def test_a_machine_without_workflows_says_so():
    class Empty(testing.JobLifecycleMachine):
        components = COMPONENTS

    with pytest.raises(ValueError, match="names no workflow"):
        run_state_machine_as_test(Empty, settings=settings(max_examples=1, database=None))


def test_a_pausing_job_whose_running_step_is_held_is_at_rest():
    """Found by TestJobs: a READY step of a pausing job waits for the resume, not for a slot."""
    machine = Jobs()
    try:
        for component in ("t.half", "t.concat"):
            held = faults.DelayOutcome(component, None, on_hold=machine._notify)
            machine._holds[component] = machine._stack.enter_context(held)
        job_id = machine.engine.jobs_sync.create_job("etl", {"x": 4, "label": ""}, start=True)
        machine.jobs.append(job_id)
        machine._settle()  # h and c run, held
        machine.engine.jobs_sync.pause_job(job_id)
        machine._holds.pop("t.half").__exit__(None, None, None)  # h ends: l is READY, not run
        machine._settle()
        job = machine.engine.jobs_sync.get_job(job_id)
        assert job.status is JobStatus.PAUSING
        assert [job.steps[s].status.value for s in "hlc"] == ["SUCCEEDED", "READY", "RUNNING"]
    finally:
        machine.teardown()
