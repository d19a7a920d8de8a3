"""Steps on a real Dask LocalCluster beside thread and process steps."""

import gc
import logging
import os
import queue
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from actors_wf import (
    COMPONENT,
    DaskExecutor,
    Engine,
    EventKind,
    JobStatus,
    StateManager,
    StepStatus,
    WorkflowInvalid,
)
from actors_wf._state._sqlite import SQLiteStore
from tests.components import dask_steps
from tests.runtime.test_crash import read_until
from tests.support.dask_engine import engine as engine_on_store
from tests.support.polling import until

ROOT = Path(__file__).resolve().parents[2]
ENGINE_CODE = str(ROOT / "actors_wf" / "*")

pytest.importorskip("distributed")
WAIT = 60.0


@pytest.fixture(scope="module")
def dask():
    import dask as dask_config  # imported by distributed, which importorskip found

    # Dask keeps its last 1,000 messages per connection; a short log lets the
    # memory test see the engine's own figure from the second run on.
    with dask_config.config.set({"distributed.admin.low-level-log-length": 10}):
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
def own_dask(dask):
    """A cluster of this test's own, for a test that restarts or kills its workers.

    A restarted worker's nanny starts threads in this process; they end
    with this cluster, not with the module's (which has started Dask's
    process-wide threads).
    """
    import dask as dask_config

    executor = DaskExecutor.local(n_workers=2)
    yield executor
    # A test may have closed its scheduler: its workers' goodbyes then wait for no one.
    with dask_config.config.set({"distributed.comm.timeouts.connect": "1s"}):
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
        self.attempts = 0  # this engine's, not the module's

    def start(self, *args):
        self.attempts += 1
        self.executor.start(*args)

    @property
    def available(self) -> bool:
        return self.executor.available

    def close(self) -> None:
        pass


def _register(engine, name, fn, **settings):
    engine.registry.register(COMPONENT, name, {"isolation": "dask", **settings}, fn)


def _one_step(engine, component, **inputs):
    """A job of one step of ``component`` on ``inputs``, started; its id."""
    workflow = {
        "id": f"one-{component}",
        "steps": [{"id": "s", "component": component, "inputs": inputs}],
        "outputs": {"s": "$steps.s.output"},
    }
    engine.registry.register_workflow(workflow)
    return engine.jobs_sync.create_job(workflow["id"], {}, start=True)


def _started(dask, name: str) -> None:
    """Wait until a component on a worker has set the Dask Event ``name`` (it runs)."""
    from distributed import Event

    assert Event(name, client=dask.client).wait(WAIT), f"{name} never started"


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


def test_the_worker_that_ran_an_attempt_is_on_its_record_and_its_events(engine_on_dask):
    seen: queue.SimpleQueue = queue.SimpleQueue()
    engine_on_dask.subscribe(seen.put)
    job = _one_step(engine_on_dask, "d.where", x=1)
    state = engine_on_dask.jobs_sync.wait(job, WAIT)
    (attempt,) = state.steps["s"].attempts
    assert attempt.worker == state.outputs["s"]["worker"]
    assert attempt.worker in engine_on_dask_workers(engine_on_dask)
    ended = next(
        e
        for e in iter(lambda: seen.get(timeout=WAIT), None)
        if e.step_id == "s" and e.kind is EventKind.STEP_SUCCEEDED
    )
    assert ended.worker == attempt.worker
    figures = engine_on_dask.metrics()
    assert figures.executors["dask"].attempts == 1 and figures.executors["dask"].available
    assert 'actors_wf_executor_attempts_total{executor="dask"} 1' in figures.to_prometheus()


def test_a_component_on_a_worker_takes_ctx_and_hears_a_cancel(dask, tmp_path, caplog):
    marker = str(tmp_path / "waits")
    with Engine(executors={"dask": _Borrowed(dask)}, cancel_grace=30) as engine:
        _register(engine, "d.waits", dask_steps.waits)
        job = _one_step(engine, "d.waits", marker=marker)
        with caplog.at_level(logging.INFO, logger="actors_wf.component"):
            _started(dask, marker)
            engine.jobs_sync.cancel_job(job)
            state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.CANCELLED
    assert Path(marker + ".cancelled").exists()  # it stopped itself: no restart needed
    (traced,) = [r for r in caplog.records if r.getMessage().startswith("with its traceback")]
    assert "LookupError: a handled error, logged" in traced.getMessage()
    (record,) = [r for r in caplog.records if r.getMessage() == "waiting on waits"]
    assert (record.job_id, record.step_id, record.attempt) == (job, "s", 1)
    assert record.worker in set(dask.client.scheduler_info()["workers"])


def test_a_timeout_stops_a_dask_attempt_and_the_retry_runs(dask, tmp_path):
    marker = str(tmp_path / "slow")
    with Engine(executors={"dask": _Borrowed(dask)}, cancel_grace=30) as engine:
        retry = {"max_attempts": 2, "initial_interval": 0}
        _register(engine, "d.waits", dask_steps.waits, timeout=0.5, retry=retry)
        state = engine.jobs_sync.wait(_one_step(engine, "d.waits", marker=marker), WAIT)
    assert state.status is JobStatus.FAILED
    assert [a.error.type for a in state.steps["s"].attempts] == ["StepTimeout", "StepTimeout"]


def test_a_forced_cancel_restarts_the_worker_of_a_component_that_ignores_it(own_dask, tmp_path):
    dask, marker = own_dask, tmp_path / "stuck"
    with Engine(executors={"dask": _Borrowed(dask)}, cancel_grace=30) as engine:
        _register(engine, "d.stuck", dask_steps.stuck)
        job = _one_step(engine, "d.stuck", marker=str(marker))
        _started(dask, str(marker))
        pid = int(marker.read_text())
        engine.jobs_sync.cancel_job(job, force=True)
        state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.CANCELLED
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # its worker process is gone
    dask.client.wait_for_workers(2, timeout=WAIT)


def test_a_worker_killed_mid_attempt_is_worker_lost_and_the_retry_completes(own_dask, tmp_path):
    with Engine(executors={"dask": _Borrowed(own_dask)}) as engine:
        retry = {"max_attempts": 3, "initial_interval": 0}
        _register(engine, "d.dies", dask_steps.dies_once, retry=retry)
        job = _one_step(engine, "d.dies", marker=str(tmp_path / "died"))
        state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.COMPLETED
    first, *_, last = state.steps["s"].attempts
    assert first.error.type == "WorkerLost"
    assert last.error is None and state.outputs["s"] != int((tmp_path / "died").read_text())


def test_heartbeats_from_a_worker_keep_an_attempt_alive(engine_on_dask):
    _register(engine_on_dask, "d.beats", dask_steps.beats, heartbeat_timeout=0.5)
    state = engine_on_dask.jobs_sync.wait(_one_step(engine_on_dask, "d.beats", seconds=2.0), WAIT)
    assert state.outputs == {"s": "alive"}


def test_an_output_that_cannot_be_stored_is_the_same_error_as_in_a_thread(engine_on_dask):
    _register(engine_on_dask, "d.unstorable", dask_steps.unstorable)
    state = engine_on_dask.jobs_sync.wait(_one_step(engine_on_dask, "d.unstorable", x=3), WAIT)
    assert state.error.type == "ComponentOutputError"
    assert "return plain data" in state.error.message and "set" in state.error.message


def test_a_closed_executor_fails_the_attempt_instead_of_hanging(tmp_path):
    executor = DaskExecutor.local(n_workers=1, processes=False)
    executor.close()
    with Engine(executors={"dask": executor}) as engine:
        _register(engine, "d.where", dask_steps.where)
        state = engine.jobs_sync.wait(_one_step(engine, "d.where", x=1), WAIT)
        assert not engine.metrics().executors["dask"].available
    assert state.error.type == "ExecutorUnavailable"


def test_a_1000_wide_fan_out_on_two_workers_completes_and_the_engine_keeps_nothing(
    engine_on_dask,
):
    wide = {
        "id": "wide",
        "steps": [{"id": f"s{i}", "component": "d.far", "inputs": {"x": i}} for i in range(1000)],
        "outputs": {"last": "$steps.s999.output.y"},
    }
    _register(engine_on_dask, "d.far", dask_steps.local)
    engine_on_dask.registry.register_workflow(wide)
    executor = engine_on_dask._services.executors["dask"].executor
    jobs = engine_on_dask.jobs_sync

    def run_and_forget() -> int:
        """Run the fan-out, delete its job; what the engine's own code still holds.

        Allocations by the engine's code, wherever they are held: a key
        string a Dask structure still holds counts too.
        """
        assert engine_on_dask.run("wide", timeout=300) == {"last": 9990}
        assert jobs.purge(status="COMPLETED") == 1
        gc.collect()
        ours = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, ENGINE_CODE)])
        return sum(stat.size for stat in ours.statistics("filename"))

    tracemalloc.start()
    try:
        held = [run_and_forget() for _ in range(3)]
    finally:
        tracemalloc.stop()
    # The first run warms caches (the plan, Dask's function cache); after it, nothing grows.
    assert held[2] - held[1] < 64 * 2**10, f"the engine kept {held[2] - held[1]:,} more bytes"
    assert not executor._live and not executor._queue and not executor._ready


def test_an_engine_killed_mid_job_is_finished_on_the_same_cluster_without_rerunning(
    dask, tmp_path
):
    store, counter, hold = tmp_path / "jobs.db", tmp_path / "ran.txt", tmp_path / "hold"
    hold.write_text("held")
    scheduler = dask.client.scheduler.address
    paths = [str(counter), str(hold)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.dask_engine", str(store), scheduler, *paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        read_until(proc, "held b")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT)
        proc.stdout.close()
        proc.stderr.close()
    before = StateManager(SQLiteStore(store))
    (job,) = before.list_jobs()
    before.close()
    assert job.steps["a"].status is StepStatus.SUCCEEDED
    hold.unlink()  # b's first call, left running on its worker, may end now
    with engine_on_store(str(store), scheduler) as engine:
        assert engine.recover() == [job.job_id]
        final = engine.jobs_sync.wait(job.job_id, WAIT)
    assert final.status is JobStatus.COMPLETED, final.error
    runs = counter.read_text().split()
    assert runs.count("a") == 1, "a had succeeded before the kill and ran again"
    assert runs.count("c") == 1 and 1 <= runs.count("b") <= 2


def test_a_scheduler_that_goes_away_fails_the_running_attempt_and_shows_in_health(
    own_dask, tmp_path
):
    marker = str(tmp_path / "stuck")
    with Engine(executors={"dask": _Borrowed(own_dask)}) as engine:
        _register(engine, "d.stuck", dask_steps.stuck)
        _register(engine, "d.where", dask_steps.where)
        job = _one_step(engine, "d.stuck", marker=marker)
        _started(own_dask, marker)
        assert engine.metrics().executors["dask"].available
        own_dask._cluster.sync(own_dask._cluster.scheduler.close)
        state = engine.jobs_sync.wait(job, WAIT)
        assert not engine.metrics().executors["dask"].available
        exposition = engine.metrics().to_prometheus()
        meanwhile = engine.jobs_sync.wait(_one_step(engine, "d.where", x=1), WAIT)
    assert meanwhile.error.type == "ExecutorUnavailable"
    assert "not connected" in meanwhile.error.message
    assert state.status is JobStatus.FAILED
    assert state.error.type == "ExecutorUnavailable"
    assert "scheduler went away" in state.error.message
    assert 'actors_wf_executor_available{executor="dask"} 0' in exposition


def test_a_step_picks_its_executor_over_its_components_isolation(engine_on_dask):
    engine_on_dask.registry.register(COMPONENT, "d.here", None, dask_steps.where)
    engine_on_dask.registry.register_workflow(
        {
            "id": "picked",
            "steps": [
                {"id": "t", "component": "d.here", "inputs": {"x": 1}},
                {"id": "d", "component": "d.here", "inputs": {"x": 2}, "executor": "dask"},
                {"id": "p", "component": "d.here", "inputs": {"x": 3}, "executor": "process"},
            ],
            "outputs": {"t": "$steps.t.output", "d": "$steps.d.output", "p": "$steps.p.output"},
        }
    )
    out = engine_on_dask.run("picked", timeout=WAIT)
    assert out["t"]["pid"] == os.getpid() and out["t"]["worker"] is None
    assert out["d"]["worker"] in engine_on_dask_workers(engine_on_dask)
    assert out["p"]["pid"] != os.getpid() and out["p"]["worker"] is None
    ran = engine_on_dask.metrics().executors  # where they ran, not where d.here would
    assert (ran["thread"].attempts, ran["process"].attempts, ran["dask"].attempts) == (1, 1, 1)


def test_a_steps_unknown_executor_is_located_at_its_executor_key(engine_on_dask):
    engine_on_dask.registry.register(COMPONENT, "d.here", None, dask_steps.where)
    engine_on_dask.registry.register_workflow(
        {
            "id": "typo",
            "steps": [{"id": "s", "component": "d.here", "inputs": {"x": 1}, "executor": "dsak"}],
        }
    )
    with pytest.raises(WorkflowInvalid, match="WF218") as info:
        engine_on_dask.jobs_sync.create_job("typo", {})
    (problem,) = [p for p in info.value.result.problems if p.code == "WF218"]
    assert problem.path[-1] == "executor" and "did you mean 'dask'" in problem.hint


def test_a_resource_the_cluster_declares_is_held_on_the_worker(dask):
    gpus = DaskExecutor.local(n_workers=1, processes=False, resources={"gpu": 2})
    try:
        with Engine(executors={"dask": gpus}, resources={"gpu": 2, "db": 1}) as engine:
            _register(engine, "d.gpu", dask_steps.gpus_left, resources={"gpu": 1, "db": 1})
            state = engine.jobs_sync.wait(_one_step(engine, "d.gpu", x=1), WAIT)
    finally:
        gpus.close()
    assert state.outputs == {"s": {"x": 1, "free": 1}}  # db is the engine's own: not asked of Dask


def test_the_jobs_priority_orders_attempts_waiting_for_a_worker(tmp_path):
    one = DaskExecutor.local(n_workers=1)
    marker, hold, counter = str(tmp_path / "blocker"), tmp_path / "hold", tmp_path / "order"
    hold.write_text("held")
    try:
        with Engine(executors={"dask": _Borrowed(one)}) as engine:
            _register(engine, "d.blocks", dask_steps.blocks)
            _register(engine, "d.note", dask_steps.note)
            blocker = _one_step(
                engine, "d.blocks", marker=marker, hold=str(hold), counter=str(counter)
            )
            _started(one, marker)
            engine.registry.register_workflow(
                {
                    "id": "noted",
                    "inputs": {"name": {"type": "str"}},
                    "steps": [
                        {
                            "id": "s",
                            "component": "d.note",
                            "inputs": {"name": "$inputs.name", "counter": str(counter)},
                        }
                    ],
                }
            )
            low = engine.jobs_sync.create_job("noted", {"name": "low"}, priority="LOW", start=True)
            high = engine.jobs_sync.create_job(
                "noted", {"name": "high"}, priority="HIGH", start=True
            )
            _queued_on_dask(one, 3)
            hold.unlink()
            for job in (blocker, low, high):
                assert engine.jobs_sync.wait(job, WAIT).status is JobStatus.COMPLETED
    finally:
        one.close()
    assert counter.read_text().split() == ["blocker", "high", "low"]


def _queued_on_dask(dask, n: int) -> None:
    """Until the scheduler knows ``n`` tasks (the engine submits from its own threads)."""
    from distributed import Event

    waiter = Event("never-set-" + str(n), client=dask.client)
    for _ in range(500):
        if (
            len(dask.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))
            >= n
        ):
            return
        waiter.wait(0.01)  # a real wait on the scheduler, not a sleep
    raise AssertionError(f"the scheduler never held {n} tasks")


def test_a_dask_attempts_span_carries_its_worker(dask):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with Engine(executors={"dask": _Borrowed(dask)}, tracer=provider.get_tracer("t")) as engine:
        _register(engine, "d.where", dask_steps.where)
        state = engine.jobs_sync.wait(_one_step(engine, "d.where", x=1), WAIT)
    # Read once the engine has closed: every event, and so every span, has been handled.
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "step s"]
    assert span.attributes["actors_wf.worker"] == state.steps["s"].attempts[0].worker


def test_without_the_extra_the_class_imports_and_making_one_names_the_extra():
    script = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if not installed\n"
        "import actors_wf\n"
        "cls = actors_wf.DaskExecutor\n"
        "try:\n"
        "    cls.local()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT, cwd=ROOT
    )
    assert (
        done.stdout.strip() == "DaskExecutor needs the dask extra: pip install 'actors-wf[dask]'"
    )


def test_an_executor_is_available_again_once_its_scheduler_is_back(dask, tmp_path):
    """A scheduler restarted at its address: the client reconnects, and so do heartbeats."""
    import socket

    from distributed import LocalCluster

    with socket.socket() as probe:  # a free port, so the second scheduler can take it again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def cluster() -> LocalCluster:
        return LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            host="127.0.0.1",
            scheduler_port=port,
            dashboard_address=":0",
        )

    first = cluster()
    with Engine(executors={"dask": DaskExecutor(f"tcp://127.0.0.1:{port}")}) as engine:
        _register(engine, "d.beats", dask_steps.beats, heartbeat_timeout=0.5)
        _register(engine, "d.where", dask_steps.where)
        executor = engine.metrics().executors["dask"]
        assert executor.available
        first.close()
        assert until(lambda: not engine.metrics().executors["dask"].available, WAIT)
        second = cluster()
        try:
            assert until(lambda: engine.metrics().executors["dask"].available, WAIT)
            state = engine.jobs_sync.wait(_one_step(engine, "d.where", x=2), WAIT)
            beating = engine.jobs_sync.wait(_one_step(engine, "d.beats", seconds=1.5), WAIT)
        finally:
            second.close()
    assert state.error is None and state.outputs["s"]["y"] == 3
    assert beating.outputs == {"s": "alive"}  # the worker's beats still reach the engine
