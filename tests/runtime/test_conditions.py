"""when: at run time: a false condition skips the step and what needs it; defaults run on."""

import pytest

from actors_wf import COMPONENT, JobStatus, StepStatus, WorkflowInvalid

WAIT = 10.0


@pytest.fixture
def engine_setup():
    def setup(engine):
        engine.registry.register(COMPONENT, "t.echo", None, lambda x: x)
        engine.registry.register(COMPONENT, "t.any", {"output": "any"}, lambda x: x)

    return setup


def _steps(state):
    return {sid: s.status for sid, s in state.steps.items()}


def _run(engine, workflow, inputs):
    engine.registry.register_workflow(workflow, replace=True)
    job = engine.jobs_sync.create_job(workflow["id"], inputs, start=True)
    return engine.jobs_sync.wait(job, WAIT)


BRANCHY = {
    "id": "branchy",
    "inputs": {"n": "int"},
    "steps": [
        {"id": "count", "component": "t.echo", "inputs": {"x": "$inputs.n"}},
        {
            "id": "big",
            "component": "t.echo",
            "inputs": {"x": "big"},
            "when": "$steps.count.output > 10",
        },
        {"id": "needs_big", "component": "t.echo", "inputs": {"x": "$steps.big.output"}},
        {"id": "after_needs", "component": "t.echo", "inputs": {"x": "$steps.needs_big.output"}},
        {"id": "ordered", "component": "t.echo", "inputs": {"x": 1}, "depends_on": ["big"]},
        {
            "id": "either",
            "component": "t.echo",
            "inputs": {"x": "$steps.big.output"},
            "defaults": {"x": "small"},
        },
    ],
    "outputs": {"either": "$steps.either.output", "big": "$steps.big.output"},
}


def test_a_false_condition_skips_the_step_and_what_needs_it_but_not_a_defaulted_input(engine):
    state = _run(engine, BRANCHY, {"n": 3})
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"either": "small", "big": None}
    assert _steps(state) == {
        "count": StepStatus.SUCCEEDED,
        "big": StepStatus.SKIPPED,
        "needs_big": StepStatus.SKIPPED,
        "after_needs": StepStatus.SKIPPED,
        "ordered": StepStatus.SKIPPED,
        "either": StepStatus.SUCCEEDED,
    }
    history = engine.state.history(state.job_id)
    assert any("is false" in t.cause for t in history if t.step_id == "big")


def test_a_true_condition_runs_everything_and_the_default_is_not_used(engine):
    state = _run(engine, BRANCHY, {"n": 30})
    assert state.outputs == {"either": "big", "big": "big"}
    assert set(_steps(state).values()) == {StepStatus.SUCCEEDED}


def _unreadable(on_failure):
    return {
        "id": "unreadable",
        "steps": [
            {"id": "loose", "component": "t.any", "inputs": {"x": "text"}},
            {
                "id": "check",
                "component": "t.echo",
                "inputs": {"x": 1},
                "when": "$steps.loose.output > 3",
                "on_failure": on_failure,
            },
            {"id": "later", "component": "t.echo", "inputs": {"x": "$steps.check.output"}},
        ],
    }


def test_a_condition_that_cannot_be_read_fails_its_step_and_the_job(engine):
    state = _run(engine, _unreadable("fail_job"), {})
    assert state.status is JobStatus.FAILED
    assert state.error.type == "ConditionFailed"
    assert "compares two numbers or two texts, got a text and a number" in state.error.message
    assert state.steps["check"].status is StepStatus.FAILED
    assert state.steps["later"].status is StepStatus.CANCELLED


def test_with_on_failure_continue_an_unreadable_condition_skips_on(engine):
    state = _run(engine, _unreadable("continue"), {})
    assert state.status is JobStatus.COMPLETED
    assert _steps(state)["check"] is StepStatus.FAILED
    assert _steps(state)["later"] is StepStatus.SKIPPED


def test_a_retried_job_evaluates_its_conditions_again(engine):
    flag = {"ok": False}

    def gate(x):
        if not flag["ok"]:
            raise RuntimeError("not yet")
        return x

    engine.registry.register(COMPONENT, "t.gate", None, gate)
    workflow = {
        "id": "again",
        "inputs": {"n": "int"},
        "steps": [
            {"id": "first", "component": "t.gate", "inputs": {"x": "$inputs.n"}},
            {"id": "big", "component": "t.echo", "inputs": {"x": 1}, "when": "$inputs.n > 1"},
        ],
    }
    state = _run(engine, workflow, {"n": 5})
    assert state.status is JobStatus.FAILED
    flag["ok"] = True
    engine.jobs_sync.retry_job(state.job_id)
    state = engine.jobs_sync.wait(state.job_id, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert _steps(state) == {"first": StepStatus.SUCCEEDED, "big": StepStatus.SUCCEEDED}


def test_a_condition_of_the_wrong_type_is_refused_before_the_job(engine):
    workflow = dict(BRANCHY, id="typed")
    workflow["steps"] = [dict(s) for s in BRANCHY["steps"]]
    workflow["steps"][1]["when"] = "$inputs.n == 'ten'"
    with pytest.raises(WorkflowInvalid, match="WF213"):
        engine.registry.register_workflow(workflow)
