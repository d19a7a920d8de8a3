"""for_each at run time: items as steps, max_parallel, order, failures, cancel, pause, retry."""

import threading

import pytest

from actors_wf import COMPONENT, JobStatus, StepStatus

WAIT = 20.0


class Counting:
    """A component that counts how many of its calls run at once."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.calls: list[int] = []
        self.started = threading.Semaphore(0)
        self.hold = hold

    def __call__(self, x: int) -> int:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.calls.append(x)
        self.started.release()
        if self.hold is not None:
            assert self.hold.wait(WAIT)
        with self.lock:
            self.now -= 1
        if x < 0:
            raise ValueError(f"negative: {x}")
        return 2 * x


@pytest.fixture
def engine_options():
    return {"max_workers": 16}


def _map_workflow(wid="m", **step):
    spec = {
        "id": "each",
        "component": "t.count",
        "for_each": "$inputs.xs",
        "inputs": {"x": "$item"},
    }
    spec.update(step)
    return {
        "id": wid,
        "inputs": {"xs": "list[int]"},
        "steps": [spec],
        "outputs": {"all": "$steps.each.output"},
    }


def _run(engine, workflow, inputs):
    engine.registry.register_workflow(workflow, replace=True)
    job = engine.jobs_sync.create_job(workflow["id"], inputs, start=True)
    return engine.jobs_sync.wait(job, WAIT)


def test_a_thousand_items_run_at_most_max_parallel_at_once_and_come_back_in_order(engine):
    counting = Counting()
    engine.registry.register(COMPONENT, "t.count", None, counting)
    xs = list(range(1000))
    state = _run(engine, _map_workflow(max_parallel=8), {"xs": xs})
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"all": [2 * x for x in xs]}
    assert counting.peak <= 8
    assert sorted(counting.calls) == xs  # each item once
    assert state.steps["each[999]"].status is StepStatus.SUCCEEDED
    assert len(state.steps) == 1001


@pytest.mark.parametrize(
    ("mode", "status", "output"),
    [
        ("skip", JobStatus.COMPLETED, [2, 6]),
        (
            "collect",
            JobStatus.COMPLETED,
            [2, {"error": {"type": "ValueError", "message": "negative: -2"}}, 6],
        ),
        ("fail_job", JobStatus.FAILED, None),
    ],
)
def test_a_failed_item_is_left_out_collected_or_fails_the_job(engine, mode, status, output):
    engine.registry.register(COMPONENT, "t.count", None, Counting())
    state = _run(engine, _map_workflow(on_item_failure=mode), {"xs": [1, -2, 3]})
    assert state.status is status
    assert state.steps["each[1]"].status is StepStatus.FAILED
    if output is not None:
        assert state.outputs == {"all": output}
    else:
        assert state.error.type == "ValueError"
        assert state.error.message == "item 1 (each[1]): negative: -2"
        assert state.steps["each"].status is StepStatus.FAILED


def test_items_read_index_and_fields_and_a_map_reads_a_step_output(engine):
    engine.registry.register(
        COMPONENT,
        "t.rows",
        {"output": "list[{name: str}]"},
        lambda: [{"name": "a"}, {"name": "b"}],
    )
    engine.registry.register(COMPONENT, "t.label", None, lambda name, at: f"{at}:{name}")
    workflow = {
        "id": "rows",
        "steps": [
            {"id": "rows", "component": "t.rows"},
            {
                "id": "label",
                "component": "t.label",
                "for_each": "$steps.rows.output",
                "inputs": {"name": "$item.name", "at": "$index"},
            },
            {
                "id": "second",
                "component": "t.label",
                "inputs": {"name": "$steps.label.output[1]", "at": -1},
            },
        ],
        "outputs": {"labels": "$steps.label.output", "second": "$steps.second.output"},
    }
    state = _run(engine, workflow, {})
    assert state.outputs == {"labels": ["0:a", "1:b"], "second": "-1:1:b"}


def test_an_empty_list_is_an_empty_output(engine):
    engine.registry.register(COMPONENT, "t.count", None, Counting())
    state = _run(engine, _map_workflow(), {"xs": []})
    assert state.outputs == {"all": []}
    assert list(state.steps) == ["each"]


def test_a_list_that_is_not_one_at_run_time_fails_the_step_before_any_item(engine):
    engine.registry.register(COMPONENT, "t.loose", {"output": "any"}, lambda: {"not": "a list"})
    engine.registry.register(COMPONENT, "t.count", None, Counting())
    workflow = {
        "id": "loose",
        "steps": [
            {"id": "loose", "component": "t.loose"},
            {
                "id": "each",
                "component": "t.count",
                "for_each": "$steps.loose.output",
                "inputs": {"x": "$item"},
            },
        ],
    }
    state = _run(engine, workflow, {})
    assert state.status is JobStatus.FAILED
    assert state.error.type == "NotAList"
    assert "for_each: $steps.loose.output is a dict, not a list" in state.error.message


def test_a_failed_map_that_continues_stops_its_other_items_and_skips_what_needs_it(engine):
    hold = threading.Event()
    counting = Counting(hold)
    engine.registry.register(COMPONENT, "t.count", None, counting)
    engine.registry.register(COMPONENT, "t.boom", None, lambda x: 1 // 0)
    engine.registry.register(COMPONENT, "t.echo", None, lambda x: x)
    workflow = {
        "id": "half",
        "inputs": {"xs": "list[int]"},
        "steps": [
            {
                "id": "each",
                "component": "t.boom",
                "for_each": "$inputs.xs",
                "inputs": {"x": "$item"},
                "on_failure": "continue",
                "max_parallel": 1,
            },
            {"id": "after", "component": "t.echo", "inputs": {"x": "$steps.each.output"}},
            {"id": "other", "component": "t.echo", "inputs": {"x": 1}},
        ],
        "outputs": {"other": "$steps.other.output"},
    }
    state = _run(engine, workflow, {"xs": [1, 2, 3]})
    assert state.status is JobStatus.COMPLETED
    statuses = {sid: s.status for sid, s in state.steps.items()}
    assert statuses["each"] is StepStatus.FAILED
    assert statuses["each[0]"] is StepStatus.FAILED
    assert {statuses["each[1]"], statuses["each[2]"]} == {StepStatus.CANCELLED}
    assert statuses["after"] is StepStatus.SKIPPED


def _two_items_held(engine):
    """A map of six items, two at a time, its first two running and held."""
    hold = threading.Event()
    counting = Counting(hold)
    engine.registry.register(COMPONENT, "t.count", None, counting)
    engine.registry.register_workflow(_map_workflow(max_parallel=2))
    job = engine.jobs_sync.create_job("m", {"xs": list(range(6))}, start=True)
    for _ in range(2):
        assert counting.started.acquire(timeout=WAIT)
    return hold, counting, job


def test_cancel_mid_map_ends_every_item(engine):
    hold, _, job = _two_items_held(engine)
    engine.jobs_sync.cancel_job(job)
    hold.set()
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.CANCELLED
    assert all(s.status.is_terminal for s in state.steps.values())
    assert state.steps["each"].status is StepStatus.CANCELLED
    assert {state.steps[f"each[{i}]"].status for i in range(2, 6)} == {StepStatus.CANCELLED}


def test_pause_mid_map_then_resume_runs_only_what_is_left(engine):
    hold, counting, job = _two_items_held(engine)
    paused = threading.Event()
    unsubscribe = engine.subscribe(lambda e: e.kind == "job.paused" and paused.set())
    engine.jobs_sync.pause_job(job)
    hold.set()
    assert paused.wait(WAIT)
    unsubscribe()
    stopped = engine.jobs_sync.get_job(job)
    assert stopped.steps["each"].status is StepStatus.RUNNING  # a map rests RUNNING in a pause
    assert stopped.steps["each[5]"].status is StepStatus.PENDING
    assert engine.jobs_sync.resume_job(job) is JobStatus.QUEUED
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"all": [0, 2, 4, 6, 8, 10]}
    assert sorted(counting.calls) == list(range(6))


def test_a_retried_job_reruns_only_the_failed_items(engine):
    counting = Counting()
    engine.registry.register(COMPONENT, "t.count", None, counting)
    state = _run(engine, _map_workflow(max_parallel=1), {"xs": [1, 2, -3, 4]})
    assert state.status is JobStatus.FAILED
    ran_before = list(counting.calls)
    assert ran_before == [1, 2, -3]
    engine.registry.register(COMPONENT, "t.count", None, lambda x: abs(x) * 2, replace=True)
    engine.jobs_sync.retry_job(state.job_id)
    state = engine.jobs_sync.wait(state.job_id, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert state.outputs == {"all": [2, 4, 6, 8]}
    assert counting.calls == ran_before  # items 0 and 1 kept their outputs
