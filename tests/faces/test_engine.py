import asyncio
import threading

import pytest

from actors_wf import (
    COMPONENT,
    ComponentNotFound,
    Engine,
    EngineClosed,
    InvalidInputs,
    InvalidTransition,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobStatus,
    JobTimeout,
    StepStatus,
    WorkflowInvalid,
)
from tests.support.workflows import one_input

WAIT = 10.0


def chain(n: int) -> dict:
    steps = [{"id": "s0", "component": "math.inc", "inputs": {"x": "$inputs.x"}}]
    steps += [
        {"id": f"s{i}", "component": "math.inc", "inputs": {"x": f"$steps.s{i - 1}.output"}}
        for i in range(1, n)
    ]
    return {
        "id": f"chain{n}",
        "inputs": {"x": {"type": "int", "default": 0}},
        "steps": steps,
        "outputs": {"x": f"$steps.s{n - 1}.output"},
    }


DIAMOND = {
    "id": "diamond",
    "inputs": {"x": "int"},
    "steps": [
        {"id": "a", "component": "math.inc", "inputs": {"x": "$inputs.x"}},
        {"id": "b", "component": "math.inc", "inputs": {"x": "$steps.a.output"}},
        {"id": "c", "component": "math.add", "inputs": {"a": "$steps.a.output", "b": 10}},
        {
            "id": "d",
            "component": "math.add",
            "inputs": {"a": "$steps.b.output", "b": "$steps.c.output"},
        },
    ],
    "outputs": {"sum": "$steps.d.output", "left": "$steps.b.output"},
}


def test_linear_workflow_produces_its_output(engine):
    engine.registry.register_workflow(chain(5))
    assert engine.run("chain5", {"x": 10}, timeout=WAIT) == {"x": 15}
    assert engine.run("chain5", timeout=WAIT) == {"x": 5}  # default input


def test_diamond_workflow_joins_both_branches(engine):
    engine.registry.register_workflow(DIAMOND)
    # a = 2, b = 3, c = 12, d = 15
    assert engine.run("diamond", {"x": 1}, timeout=WAIT) == {"sum": 15, "left": 3}


def test_fan_out_of_50_parallel_steps(engine):
    started = threading.Barrier(10, timeout=WAIT)

    def wide(i: int) -> int:
        if i < 10:
            started.wait()  # proves at least 10 run at the same time
        return i * i

    engine.registry.register(COMPONENT, "math.sq", None, wide)
    steps = [{"id": f"p{i}", "component": "math.sq", "inputs": {"i": i}} for i in range(50)]
    steps.append(
        {
            "id": "total",
            "component": "math.total",
            "inputs": {"xs": [f"$steps.p{i}.output" for i in range(50)]},
        }
    )
    engine.registry.register(COMPONENT, "math.total", None, lambda xs: sum(xs))
    engine.registry.register_workflow(
        {"id": "fan", "steps": steps, "outputs": {"total": "$steps.total.output"}}
    )
    assert engine.run("fan", timeout=WAIT) == {"total": sum(i * i for i in range(50))}


def test_output_fields_and_depends_on_and_escapes(engine):
    order = []

    def first() -> dict:
        order.append("first")
        return {"user": {"name": "ada"}, "n": 2}

    def second(tag: str) -> str:
        order.append("second")
        return tag

    engine.registry.register(COMPONENT, "t.first", None, first)
    engine.registry.register(COMPONENT, "t.second", None, second)
    engine.registry.register_workflow(
        {
            "id": "fields",
            "steps": [
                {
                    "id": "b",
                    "component": "t.second",
                    "inputs": {"tag": "$$literal"},
                    "depends_on": ["a"],
                },
                {"id": "a", "component": "t.first"},
            ],
            "outputs": {"name": "$steps.a.output.user.name", "tag": "$steps.b.output", "k": 7},
        }
    )
    assert engine.run("fields", timeout=WAIT) == {"name": "ada", "tag": "$literal", "k": 7}
    assert order == ["first", "second"]


def test_failing_step_fails_the_job_with_the_error_recorded(engine):
    engine.registry.register_workflow(
        {
            "id": "bad",
            "steps": [
                {"id": "ok", "component": "math.inc", "inputs": {"x": 1}},
                {"id": "explode", "component": "math.boom", "inputs": {"x": "$steps.ok.output"}},
                {"id": "after", "component": "math.inc", "inputs": {"x": "$steps.explode.output"}},
            ],
        }
    )
    with pytest.raises(JobFailed) as info:
        engine.run("bad", timeout=WAIT)
    err = info.value
    assert (err.step_id, err.error_type, err.error_message) == ("explode", "ValueError", "boom 2")
    assert "raise ValueError" in err.traceback
    state = engine.jobs_sync.get_job(err.job_id)
    assert state.status is JobStatus.FAILED
    assert state.steps["ok"].status is StepStatus.SUCCEEDED
    assert state.steps["explode"].status is StepStatus.FAILED
    assert state.steps["explode"].attempts[0].error.type == "ValueError"
    assert state.steps["after"].status is StepStatus.CANCELLED
    # the engine keeps running
    engine.registry.register_workflow(chain(2))
    assert engine.run("chain2", timeout=WAIT) == {"x": 2}


def test_missing_output_field_and_unserialisable_output_fail_clearly(engine):
    engine.registry.register(COMPONENT, "t.obj", None, lambda: object())
    engine.registry.register(COMPONENT, "t.dict", None, lambda: {"a": 1})
    engine.registry.register_workflow({"id": "obj", "steps": [{"id": "o", "component": "t.obj"}]})
    engine.registry.register_workflow(
        {
            "id": "field",
            "steps": [
                {"id": "d", "component": "t.dict"},
                {"id": "use", "component": "math.inc", "inputs": {"x": "$steps.d.output.b"}},
            ],
        }
    )
    with pytest.raises(JobFailed, match="not carry as it is; return plain data") as info:
        engine.run("obj", timeout=WAIT)
    assert info.value.error_type == "ComponentOutputError"
    with pytest.raises(JobFailed, match="has no field 'b'") as info:
        engine.run("field", timeout=WAIT)
    assert info.value.step_id == "use"


def test_component_unregistered_after_creation_fails_the_job(engine):
    engine.registry.register(COMPONENT, "t.gone", None, lambda: 1)
    engine.registry.register_workflow(
        {"id": "gone", "steps": [{"id": "g", "component": "t.gone"}]}
    )

    async def main():
        job = await engine.jobs.create_job("gone")
        engine.registry.unregister(COMPONENT, "t.gone")
        await engine.jobs.start_job(job)
        return await engine.jobs.wait(job, WAIT)

    state = asyncio.run(main())
    assert state.status is JobStatus.FAILED
    assert "no component 't.gone'" in state.error.message
    with pytest.raises(WorkflowInvalid) as info:  # a new job is refused before it runs
        engine.run("gone", timeout=WAIT)
    assert [p.code for p in info.value.result.errors] == ["WF201"]


def test_two_jobs_at_once_stay_apart(engine):
    gate = threading.Event()

    def slow(x: int) -> int:
        assert gate.wait(WAIT)
        return x

    engine.registry.register(COMPONENT, "t.slow", None, slow)
    engine.registry.register_workflow(one_input("slow", "t.slow", "x", output="x"))

    async def main():
        a = await engine.jobs.create_job("slow", {"x": 1})
        b = await engine.jobs.create_job("slow", {"x": 2}, priority="HIGH")
        await engine.jobs.start_job(a)
        await engine.jobs.start_job(b)
        assert (await engine.jobs.get_job(a)).status in (JobStatus.QUEUED, JobStatus.RUNNING)
        gate.set()
        return await asyncio.gather(engine.jobs.wait(a, WAIT), engine.jobs.wait(b, WAIT))

    sa, sb = asyncio.run(main())
    assert (sa.outputs, sb.outputs) == ({"x": 1}, {"x": 2})
    assert sb.priority > sa.priority
    assert {j.job_id for j in engine.jobs_sync.list_jobs()} >= {sa.job_id, sb.job_id}


def test_async_commands_never_block_the_event_loop(engine):
    gate = threading.Event()
    engine.registry.register(COMPONENT, "t.gate", None, lambda: gate.wait(WAIT))
    engine.registry.register_workflow(
        {"id": "gated", "steps": [{"id": "g", "component": "t.gate"}]}
    )

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                if ticks == 20:
                    gate.set()  # the job can end only if the loop kept ticking
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        job = await engine.jobs.create_job("gated")
        await engine.jobs.start_job(job)
        state = await engine.jobs.wait(job, WAIT)
        task.cancel()
        return ticks, state

    ticks, state = asyncio.run(main())
    assert state.status is JobStatus.COMPLETED
    assert ticks >= 20


def test_cancel_a_running_job(engine):
    entered = threading.Event()

    def waits(ctx) -> None:
        entered.set()
        ctx.wait_cancelled(WAIT)
        ctx.check()

    engine.registry.register(COMPONENT, "t.waits", None, waits)
    engine.registry.register_workflow(
        {
            "id": "w",
            "steps": [
                {"id": "a", "component": "t.waits"},
                {"id": "b", "component": "math.inc", "inputs": {"x": 1}, "depends_on": ["a"]},
            ],
        }
    )

    async def main():
        job = await engine.jobs.create_job("w")
        await engine.jobs.start_job(job)
        assert entered.wait(WAIT)
        assert await engine.jobs.cancel_job(job) is JobStatus.CANCELLING
        state = await engine.jobs.wait(job, WAIT)
        assert await engine.jobs.cancel_job(job) is JobStatus.CANCELLED  # twice is harmless
        return state

    state = asyncio.run(main())
    assert state.status is JobStatus.CANCELLED
    assert state.steps["a"].status is StepStatus.CANCELLED
    assert state.steps["b"].status is StepStatus.CANCELLED


def test_cancel_a_created_job_and_refuse_to_cancel_a_finished_one(engine):
    engine.registry.register_workflow(chain(1))

    async def main():
        job = await engine.jobs.create_job("chain1")
        assert await engine.jobs.cancel_job(job) is JobStatus.CANCELLED
        with pytest.raises(InvalidTransition, match="CANCELLED"):
            await engine.jobs.start_job(job)
        done = await engine.jobs.create_job("chain1")
        await engine.jobs.start_job(done)
        await engine.jobs.wait(done, WAIT)
        with pytest.raises(InvalidTransition) as info:
            await engine.jobs.cancel_job(done)
        assert "COMPLETED" in str(info.value)
        with pytest.raises(InvalidTransition, match="it can take: nothing"):
            await engine.jobs.start_job(done)

    asyncio.run(main())


def test_cancelled_job_raises_job_cancelled_in_run(engine):
    def cancel_self(ctx) -> None:
        asyncio.run(engine.jobs.cancel_job(ctx.job_id))
        ctx.wait_cancelled(WAIT)

    engine.registry.register(COMPONENT, "t.cancel_self", None, cancel_self)
    engine.registry.register_workflow(
        {"id": "c", "steps": [{"id": "a", "component": "t.cancel_self"}]}
    )
    with pytest.raises(JobCancelled):
        engine.run("c", timeout=WAIT)


def test_bad_inputs_unknown_workflow_and_unknown_job(engine):
    engine.registry.register_workflow(DIAMOND)
    with pytest.raises(InvalidInputs) as info:
        engine.run("diamond", {"x": 3.7, "y": 1})
    text = str(info.value)
    assert "input 'x': expected int, got float 3.7" in text
    assert "unknown input 'y'" in text
    with pytest.raises(InvalidInputs, match="'x' \\(int\\) is required"):
        engine.run("diamond", {})
    with pytest.raises(InvalidInputs, match="expected int, got bool"):
        engine.run("diamond", {"x": True})
    with pytest.raises(ComponentNotFound, match="did you mean 'diamond'"):
        engine.run("diamnd", {"x": 1})
    with pytest.raises(JobNotFound):
        engine.jobs_sync.get_job("nope")
    with pytest.raises(ValueError, match="priority"):
        asyncio.run(engine.jobs.create_job("diamond", {"x": 1}, priority="URGENT"))
    with pytest.raises(JobNotFound):
        asyncio.run(engine.jobs.start_job("nope"))


def test_wait_times_out_with_a_timeout_error(engine):
    gate = threading.Event()
    engine.registry.register(COMPONENT, "t.gate", None, lambda: gate.wait(WAIT))
    engine.registry.register_workflow(
        {"id": "gated", "steps": [{"id": "g", "component": "t.gate"}]}
    )

    async def main():
        job = await engine.jobs.create_job("gated")
        await engine.jobs.start_job(job)
        with pytest.raises(JobTimeout) as info:
            await engine.jobs.wait(job, 0.01)
        assert isinstance(info.value, TimeoutError)
        gate.set()
        return await engine.jobs.wait(job, WAIT)

    assert asyncio.run(main()).status is JobStatus.COMPLETED
    with pytest.raises(JobTimeout):
        gate.clear()
        engine.run("gated", timeout=0.01)
    gate.set()


def test_max_concurrent_jobs_queues_the_rest():
    gate = threading.Event()
    running = []
    with Engine(max_concurrent_jobs=1) as eng:

        def step(i: int) -> int:
            running.append(i)
            assert gate.wait(WAIT)
            return i

        eng.registry.register(COMPONENT, "t.step", None, step)
        eng.registry.register_workflow(one_input("one", "t.step", "i"))

        async def main():
            jobs = [await eng.jobs.create_job("one", {"i": i}) for i in range(3)]
            for job in jobs:
                await eng.jobs.start_job(job)
            statuses = [(await eng.jobs.get_job(j)).status for j in jobs]
            gate.set()
            await asyncio.gather(*(eng.jobs.wait(j, WAIT) for j in jobs))
            return statuses

        statuses = asyncio.run(main())
    assert statuses.count(JobStatus.QUEUED) >= 2
    assert sorted(running) == [0, 1, 2]


def test_shutdown_with_jobs_still_running_leaves_no_thread_and_no_hang():
    entered = threading.Barrier(4, timeout=WAIT)

    def long(ctx) -> None:
        entered.wait()
        ctx.wait_cancelled(WAIT)

    eng = Engine()
    eng.registry.register(COMPONENT, "t.long", None, long)
    eng.registry.register_workflow(
        {"id": "long", "steps": [{"id": f"l{i}", "component": "t.long"} for i in range(3)]}
    )

    async def start():
        job = await eng.jobs.create_job("long")
        await eng.jobs.start_job(job)
        return job

    job = asyncio.run(start())
    entered.wait()
    waiter = eng.state.watch(job)
    eng.close()
    with pytest.raises(EngineClosed):
        waiter.result(WAIT)
    eng.close()  # twice is fine
    with pytest.raises(EngineClosed):
        eng.run("long")


def test_engine_close_refuses_new_async_commands():
    eng = Engine()
    eng.registry.register_workflow({"id": "w", "steps": [{"id": "a", "component": "x"}]})
    eng.close()
    with pytest.raises(EngineClosed):
        asyncio.run(eng.jobs.create_job("w"))


def test_events_reach_subscribers_in_order(engine):
    engine.registry.register_workflow(chain(2))
    seen = []
    done = threading.Event()

    def on_event(event):
        seen.append((event.kind, event.step_id))
        if event.kind == "job.completed":
            done.set()

    unsubscribe = engine.subscribe(on_event)
    engine.run("chain2", timeout=WAIT)
    assert done.wait(WAIT)
    unsubscribe()
    assert seen == [
        ("job.created", None),
        ("job.queued", None),
        ("job.started", None),
        ("step.started", "s0"),
        ("step.succeeded", "s0"),
        ("step.started", "s1"),
        ("step.succeeded", "s1"),
        ("job.completed", None),
    ]


def test_an_engine_bug_in_a_job_actor_fails_that_job_only(engine, monkeypatch):
    from actors_wf._runtime import _job_actor

    engine.registry.register_workflow(chain(2))

    def broken(self, candidates):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(_job_actor.JobActor, "_advance", broken)
    with pytest.raises(JobFailed, match="RuntimeError: engine bug"):
        engine.run("chain2", timeout=WAIT)
    monkeypatch.undo()
    assert engine.run("chain2", timeout=WAIT) == {"x": 2}


def test_a_user_update_to_a_running_job_is_kept_when_the_runtime_writes_next(engine):
    gate = threading.Event()
    entered = threading.Event()

    def waits() -> int:
        entered.set()
        assert gate.wait(WAIT)
        return 1

    engine.registry.register(COMPONENT, "t.waits", None, waits)
    engine.registry.register_workflow({"id": "w", "steps": [{"id": "a", "component": "t.waits"}]})

    async def main():
        job = await engine.jobs.create_job("w")
        await engine.jobs.start_job(job)
        assert entered.wait(WAIT)
        engine.state.update_state(job, {"priority": 99})  # applied by its JobActor
        gate.set()
        return await engine.jobs.wait(job, WAIT)

    state = asyncio.run(main())
    assert state.status is JobStatus.COMPLETED
    assert state.priority == 99  # the runtime wrote on from the user's update


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
def test_the_async_face_awaits_its_reads(tmp_path, durable):
    store = str(tmp_path / "jobs.db") if durable else None
    with Engine(store=store) as eng:
        eng.registry.register(COMPONENT, "t.same", None, lambda x: x)
        eng.registry.register_workflow(one_input("same", "t.same", "x", output="x"))

        async def main():
            job = await eng.jobs.create_job("same", {"x": 7}, start=True)
            await eng.jobs.wait(job, WAIT)
            state = await eng.jobs.get_job(job)
            bare = await eng.jobs.get_job(job, outputs=False)
            page = await eng.jobs.list_jobs(JobStatus.COMPLETED, limit=10)
            with pytest.raises(JobNotFound):
                await eng.jobs.get_job("nope")
            return job, state, bare, page

        job, state, bare, page = asyncio.run(main())
    assert state.outputs == {"x": 7} and bare.outputs is None
    assert [j.job_id for j in page] == [job]
