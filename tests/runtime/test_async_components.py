"""`async def` components: awaited to their end; a cancel or a timeout cancels the task."""

import asyncio

from actors_wf import JobStatus, StepContext, testing
from tests.components.isolated import async_double

WAIT = 10.0


async def fetch(url: str, ctx: StepContext) -> dict:
    await asyncio.sleep(0)
    ctx.heartbeat()
    return {"url": url, "n": len(url)}


def count(page: dict) -> int:  # a sync step after an async one
    return page["n"]


async def forever() -> int:
    await asyncio.sleep(3600)
    return 1


MIXED = {
    "id": "mixed",
    "inputs": {"url": "str"},
    "steps": [
        {"id": "f", "component": "a.fetch", "inputs": {"url": "$inputs.url"}},
        {"id": "c", "component": "a.count", "inputs": {"page": "$steps.f.output"}},
        {"id": "d", "component": "a.double", "inputs": {"x": "$steps.c.output"}},
    ],
    "outputs": {"n": "$steps.d.output"},
}
SLOW = {"id": "slow", "steps": [{"id": "s", "component": "a.forever", "timeout": 5}]}
COMPONENTS = {
    "a.fetch": fetch,
    "a.count": count,
    "a.double": (async_double, {"isolation": "process"}),
    "a.forever": forever,
}


def test_async_and_sync_steps_mix_in_a_workflow_and_in_a_process():
    with testing.engine(COMPONENTS, [MIXED, SLOW]) as engine:
        assert engine.run("mixed", {"url": "abc"}, timeout=WAIT) == {"n": 6}
        entry = engine.registry.lookup("component", "a.fetch")
        assert entry.takes_context and entry.definition.inputs == {"url": "str"}


def test_a_timeout_cancels_the_task_at_once_with_no_grace_period():
    with testing.engine(COMPONENTS, [MIXED, SLOW], cancel_grace=600) as engine:
        job = engine.jobs_sync.create_job("slow", start=True)
        assert engine.clock.wait_pending(1, WAIT)  # the attempt's timeout is armed
        engine.clock.advance(5)
        state = testing.run_to_end(engine, job)  # the grace period (600 s) never passes
    assert state.status is JobStatus.FAILED
    assert state.steps["s"].attempts[0].error.type == "StepTimeout"


def test_cancel_job_cancels_a_running_async_step():
    with testing.engine(COMPONENTS, [MIXED, SLOW], cancel_grace=600) as engine:
        job = engine.jobs_sync.create_job("slow", start=True)
        assert engine.clock.wait_pending(1, WAIT)
        engine.jobs_sync.cancel_job(job)
        assert testing.run_to_end(engine, job).status is JobStatus.CANCELLED


def test_many_async_steps_await_at_once_on_one_loop_without_a_thread_each():
    """Twenty steps that can only finish together, on an engine of two worker threads."""
    arrived: list[str] = []
    together: list[asyncio.Event] = []

    async def meet(n: int) -> int:
        if not together:
            together.append(asyncio.Event())  # made on the engine's loop, by the first
        arrived.append(str(n))
        if len(arrived) == 20:
            together[0].set()
        await asyncio.wait_for(together[0].wait(), WAIT)
        return n

    fan = {
        "id": "fan",
        "steps": [{"id": f"s{n}", "component": "a.meet", "inputs": {"n": n}} for n in range(20)],
    }
    options = {"max_workers": 2, "max_concurrent_steps": 20}  # two threads, twenty slots
    with testing.engine({"a.meet": meet}, [fan], **options) as engine:
        job = engine.jobs_sync.create_job("fan", start=True)
        state = testing.run_to_end(engine, job, timeout=WAIT * 2)
    assert state.status is JobStatus.COMPLETED, state
    assert sorted(int(n) for n in arrived) == list(range(20))
