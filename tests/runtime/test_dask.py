"""Steps on a real Dask LocalCluster beside thread and process steps (issue 20, a first slice)."""

import os

import pytest

from actors_wf import COMPONENT, DaskExecutor, Engine, JobStatus, WorkflowInvalid
from tests.components import dask_steps

pytest.importorskip("distributed")
WAIT = 60.0


@pytest.fixture(scope="module")
def dask():
    executor = DaskExecutor.local(n_workers=2)
    # Dask starts two process-wide thread pools on first use (Dask-Offload,
    # Dask-Callback-Thread) that live as long as the process: start them here,
    # before any test counts the threads it leaves.
    done = []
    future = executor.client.submit(dask_steps.local, 1, pure=False)
    future.add_done_callback(done.append)
    assert future.result(timeout=WAIT) == {"y": 10, "pid": future.result()["pid"]}
    yield executor
    executor.close()


@pytest.fixture
def engine_on_dask(dask):
    with Engine(executors={"dask": _Borrowed(dask)}) as engine:
        engine.registry.register(COMPONENT, "d.where", {"isolation": "dask"}, dask_steps.where)
        engine.registry.register(COMPONENT, "d.local", None, dask_steps.local)
        engine.registry.register(COMPONENT, "d.proc", {"isolation": "process"}, dask_steps.local)
        engine.registry.register(COMPONENT, "d.boom", {"isolation": "dask"}, dask_steps.boom)
        engine.registry.register(
            COMPONENT,
            "d.flaky",
            {"isolation": "dask", "retry": {"max_attempts": 2, "initial_interval": 0}},
            dask_steps.flaky,
        )
        yield engine


class _Borrowed:
    """The module's executor, lent to one engine: its close leaves the cluster up."""

    def __init__(self, executor: DaskExecutor) -> None:
        self.executor = executor

    def start(self, *args):
        self.executor.start(*args)

    def close(self) -> None:
        pass


def test_thread_process_and_dask_steps_mix_and_the_dask_ones_run_on_workers(engine_on_dask):
    engine_on_dask.registry.register_workflow(
        {
            "id": "mixed",
            "steps": [
                {"id": "t", "component": "d.local", "inputs": {"x": 1}},
                {"id": "p", "component": "d.proc", "inputs": {"x": 2}},
                {"id": "d", "component": "d.where", "inputs": {"x": "$steps.t.output.y"}},
            ],
            "outputs": {"t": "$steps.t.output", "p": "$steps.p.output", "d": "$steps.d.output"},
        }
    )
    out = engine_on_dask.run("mixed", timeout=WAIT)
    assert out["t"] == {"y": 10, "pid": os.getpid()}
    assert out["p"]["y"] == 20 and out["p"]["pid"] != os.getpid()
    assert out["d"]["y"] == 11
    assert out["d"]["worker"] in engine_on_dask_workers(engine_on_dask)
    assert out["d"]["pid"] != os.getpid()


def engine_on_dask_workers(engine):
    executor = engine._services.executors["dask"].executor
    return set(executor.client.scheduler_info()["workers"])


def test_a_failure_on_a_worker_is_the_steps_error(engine_on_dask):
    engine_on_dask.registry.register_workflow(
        {"id": "bad", "steps": [{"id": "b", "component": "d.boom", "inputs": {"x": 3}}]}
    )
    job = engine_on_dask.jobs_sync.create_job("bad", {}, start=True)
    state = engine_on_dask.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.FAILED
    assert (state.error.type, state.error.message) == ("ValueError", "no 3")
    assert "boom" in state.error.traceback


def test_the_step_retry_policy_decides_not_dask(engine_on_dask, tmp_path):
    engine_on_dask.registry.register_workflow(
        {
            "id": "again",
            "steps": [
                {
                    "id": "f",
                    "component": "d.flaky",
                    "inputs": {"x": 7, "marker": str(tmp_path / "m")},
                }
            ],
            "outputs": {"f": "$steps.f.output"},
        }
    )
    job = engine_on_dask.jobs_sync.create_job("again", {}, start=True)
    state = engine_on_dask.jobs_sync.wait(job, WAIT)
    assert state.outputs == {"f": 7}
    assert [a.error.type if a.error else None for a in state.steps["f"].attempts] == [
        "ConnectionError",
        None,
    ]


def test_an_unknown_executor_name_is_a_located_validation_error(tmp_path):
    with Engine() as engine:
        engine.registry.register(COMPONENT, "d.where", {"isolation": "dsak"}, dask_steps.where)
        engine.registry.register_workflow(
            {"id": "w", "steps": [{"id": "a", "component": "d.where", "inputs": {"x": 1}}]}
        )
        with pytest.raises(WorkflowInvalid, match="WF218") as info:
            engine.jobs_sync.create_job("w", {})
    assert "runs on executor 'dsak'" in str(info.value)
    assert "it has: process, thread" in str(info.value)


def test_making_one_without_an_address_or_client_is_a_clear_error():
    with pytest.raises(TypeError, match="a scheduler address or client="):
        DaskExecutor()
