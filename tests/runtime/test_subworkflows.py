"""workflow: a step runs a child job; nested, cancelled, failed, paused, checked before it runs."""

import threading

import pytest

from actors_wf import COMPONENT, JobStatus, StepStatus, WorkflowInvalid

WAIT = 10.0
INNER = {
    "id": "inner",
    "inputs": {"x": "int"},
    "steps": [{"id": "work", "component": "t.work", "inputs": {"x": "$inputs.x"}}],
    "outputs": {"y": "$steps.work.output"},
}
MIDDLE = {
    "id": "middle",
    "inputs": {"x": "int"},
    "steps": [
        {"id": "run_inner", "workflow": "inner", "inputs": {"x": "$inputs.x"}},
        {"id": "plus", "component": "t.plus", "inputs": {"x": "$steps.run_inner.output.y"}},
    ],
    "outputs": {"z": "$steps.plus.output"},
}
OUTER = {
    "id": "outer",
    "inputs": {"x": "int"},
    "steps": [{"id": "run_middle", "workflow": "middle", "inputs": {"x": "$inputs.x"}}],
    "outputs": {"r": "$steps.run_middle.output.z"},
}


class Work:
    """Doubles its input; holds while ``hold`` is clear; fails on a negative one."""

    def __init__(self) -> None:
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def __call__(self, x: int) -> int:
        self.entered.set()
        assert self.hold.wait(WAIT)
        if x < 0:
            raise ValueError(f"negative: {x}")
        return 2 * x


@pytest.fixture
def work():
    return Work()


@pytest.fixture
def engine_options():
    return {"max_concurrent_jobs": 1}  # a parent's slot must not starve its children


@pytest.fixture
def engine_setup(work):
    def setup(engine):
        engine.registry.register(COMPONENT, "t.work", None, work)
        engine.registry.register(COMPONENT, "t.plus", None, lambda x: x + 1)
        for workflow in (INNER, MIDDLE, OUTER):
            engine.registry.register_workflow(workflow)

    return setup


def _family(engine, top):
    """The job and its descendants, by workflow id."""
    jobs = {j.job_id: j for j in engine.jobs_sync.list_jobs()}
    found, todo = {}, [top]
    while todo:
        job = jobs[todo.pop()]
        found[job.workflow_id] = job
        todo.extend(job.children.values())
    return found


def test_nested_three_deep_each_child_a_real_job_with_its_parent(engine):
    top = engine.jobs_sync.create_job("outer", {"x": 5}, start=True)
    state = engine.jobs_sync.wait(top, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"r": 11}
    family = _family(engine, top)
    assert set(family) == {"outer", "middle", "inner"}
    assert family["middle"].parent_job_id == top
    assert family["middle"].parent_step_id == "run_middle"
    assert family["inner"].parent_job_id == family["middle"].job_id
    assert state.steps["run_middle"].output == {"z": 11}
    assert all(j.status is JobStatus.COMPLETED for j in family.values())


def test_cancelling_the_top_cancels_every_child(engine, work):
    work.hold.clear()
    work.entered.clear()
    top = engine.jobs_sync.create_job("outer", {"x": 1}, start=True)
    assert work.entered.wait(WAIT)  # the innermost job's step runs, and will not stop
    engine.jobs_sync.cancel_job(top, force=True)  # so the cancel is forced, all the way down
    state = engine.jobs_sync.wait(top, WAIT)
    family = _family(engine, top)
    ended = {wid: engine.jobs_sync.wait(job.job_id, WAIT) for wid, job in family.items()}
    work.hold.set()  # the abandoned attempt's thread returns
    assert state.status is JobStatus.CANCELLED
    assert {wid: job.status for wid, job in ended.items()} == dict.fromkeys(
        ("outer", "middle", "inner"), JobStatus.CANCELLED
    )
    assert state.steps["run_middle"].status is StepStatus.CANCELLED
    assert ended["inner"].steps["work"].status is StepStatus.CANCELLED


def test_a_failing_child_fails_the_parents_step_with_its_error_and_job_id(engine):
    top = engine.jobs_sync.create_job("outer", {"x": -1}, start=True)
    state = engine.jobs_sync.wait(top, WAIT)
    assert state.status is JobStatus.FAILED
    family = _family(engine, top)
    middle, inner = family["middle"].job_id, family["inner"].job_id
    assert state.error.type == "ValueError"
    assert state.error.step_id == "run_middle"
    assert state.error.message == (
        f"child job {middle} failed at step 'run_inner': "
        f"child job {inner} failed at step 'work': negative: -1"
    )


def test_pausing_the_parent_pauses_its_child_and_resuming_resumes_both(engine, work):
    work.hold.clear()
    work.entered.clear()
    top = engine.jobs_sync.create_job("outer", {"x": 2}, start=True)
    assert work.entered.wait(WAIT)
    paused = threading.Event()
    unsubscribe = engine.subscribe(
        lambda e: e.kind == "job.paused" and e.job_id == top and paused.set()
    )
    engine.jobs_sync.pause_job(top)
    work.hold.set()
    assert paused.wait(WAIT)
    unsubscribe()
    assert engine.jobs_sync.get_job(top).steps["run_middle"].status is StepStatus.RUNNING
    engine.jobs_sync.resume_job(top)
    state = engine.jobs_sync.wait(top, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"r": 5}


def test_a_workflow_that_runs_itself_is_refused_with_the_chain(engine):
    engine.registry.register_workflow(
        {"id": "pong", "steps": [{"id": "q", "component": "t.plus", "inputs": {"x": 1}}]}
    )
    engine.registry.register_workflow({"id": "ping", "steps": [{"id": "p", "workflow": "pong"}]})
    engine.registry.register_workflow(
        {"id": "pong", "steps": [{"id": "q", "workflow": "ping"}]}, replace=True
    )
    with pytest.raises(WorkflowInvalid, match=r"WF217") as info:
        engine.jobs_sync.create_job("ping", {})
    assert "ping -> pong -> ping" in str(info.value)


def test_the_childs_inputs_are_checked_before_anything_runs(engine):
    engine.registry.register_workflow(
        {
            "id": "wrong",
            "steps": [
                {"id": "a", "workflow": "inner", "inputs": {"xx": 1}},
                {"id": "b", "workflow": "innr"},
            ],
        }
    )
    with pytest.raises(WorkflowInvalid) as info:
        engine.jobs_sync.create_job("wrong", {})
    report = str(info.value)
    assert "workflow 'inner' takes no input 'xx'" in report
    assert "input 'x' (int) of workflow 'inner' is not given" in report
    assert "no workflow 'innr' is registered" in report and "did you mean 'inner'?" in report
