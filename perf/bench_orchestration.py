"""Engine overhead per step, process isolation, and throughput under many jobs."""

from __future__ import annotations

import asyncio
import queue
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgpack
import pykka

from actors_wf import COMPONENT, Engine

from ._harness import Row, interleaved, sample, summarise
from .bench_foundation import linear, noop


def fan_out(n: int) -> dict[str, Any]:
    steps = [{"id": f"p{i}", "component": "bench.noop", "inputs": {"x": i}} for i in range(n)]
    return {"id": f"fan{n}", "steps": steps}


class Stepper(pykka.ThreadingActor):
    """The raw baseline of one step: an actor hands a call to a worker and gets it back."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        super().__init__()
        self.pool = pool

    def on_receive(self, message: Any) -> Any:
        return self.pool.submit(noop, message).result()


class _Inbox(pykka.ThreadingActor):
    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        return queue.SimpleQueue()  # as the engine's actors


class _FloorStep(_Inbox):
    """A step actor that does nothing but hand the call over and report it."""

    def __init__(self, pool: ThreadPoolExecutor, job: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.pool, self.job = pool, job

    def on_receive(self, message: Any) -> None:
        run = msgpack.unpackb(message)
        if run["t"] != "run":
            return
        me, job = self.actor_ref, self.job

        def deliver(future: Any) -> None:
            job.tell(future.result())
            me.tell(msgpack.packb({"t": "ended"}))

        self.pool.submit(
            lambda: msgpack.packb({"t": "ok", "s": noop(run["s"])})
        ).add_done_callback(deliver)


class _FloorJob(_Inbox):
    """A job actor that starts the next step when one reports, and nothing else."""

    def __init__(self, n: int, done: threading.Event) -> None:
        super().__init__()
        self.n, self.done = n, done
        self.step: pykka.ActorRef[Any] | None = None

    def on_receive(self, message: Any) -> None:
        if isinstance(message, pykka.ActorRef):
            self.step = message
            return
        result = msgpack.unpackb(message)
        if result["s"] >= self.n:
            self.done.set()
        elif self.step is not None:
            self.step.tell(msgpack.packb({"t": "run", "s": result["s"] + 1}))


def topology_floor(n: int, pool: ThreadPoolExecutor) -> None:
    """The engine's hops per step with none of its work: job actor -> step actor ->
    worker thread -> job actor (and step actor), each message msgpack bytes."""
    done = threading.Event()
    job = _FloorJob.start(n, done)
    step = _FloorStep.start(pool, job)
    job.tell(step)
    job.tell(msgpack.packb({"t": "ok", "s": 0}))
    done.wait(60)
    step.stop()
    job.stop()


def raw_chain(n: int, pool: ThreadPoolExecutor) -> None:
    ref = Stepper.start(pool)
    x = 0
    for _ in range(n):
        x = ref.ask(x)
    ref.stop()


ROUNDS = 7


def per_step(times: list[float], n: int) -> list[float]:
    return [t / n for t in times]


def run() -> list[Row]:
    rows = []
    n = 1000
    with Engine(max_workers=8) as engine:
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(linear(n))
        engine.registry.register_workflow(fan_out(n))
        with ThreadPoolExecutor(1) as pool:
            # In rounds (raw, floor, chain, fan-out), so the baseline sees the
            # same machine as the engine: this VM's speed drifts by up to 2x.
            raw, floor, chain, fan = (
                per_step(times, n)
                for times in interleaved(
                    [
                        lambda: raw_chain(n, pool),
                        lambda: topology_floor(n, pool),
                        lambda: engine.run(f"linear{n}", timeout=120),
                        lambda: engine.run(f"fan{n}", timeout=120),
                    ],
                    ROUNDS,
                )
            )
        base = ("pykka ask + pool per step", raw)
        floor_row = "floor: the engine's 3 hops per step, no work"
        rows.append(summarise(floor_row, floor, baseline=base))
        for name, times in ((f"{n}-step chain", chain), (f"{n}-wide fan-out", fan)):
            rows.append(summarise(f"per step, {name}", times, baseline=base, bar="< 150 µs"))
        rows.append(_throughput(engine))
        engine.registry.register(COMPONENT, "bench.proc", {"isolation": "process"}, noop)
        proc_chain = linear(5)
        proc_chain["id"] = "proc5"
        for step in proc_chain["steps"]:
            step["component"] = "bench.proc"
        engine.registry.register_workflow(proc_chain)
        cold = time.perf_counter()
        engine.run("proc5", timeout=60)
        first = (time.perf_counter() - cold) / 5
        proc = per_step(sample(lambda: engine.run("proc5", timeout=60), 50, warmup=2), 5)
        rows.append(
            summarise(
                "per step, process isolation (warm workers)",
                proc,
                baseline=("first job, cold start", [first]),
                bar="< 30 ms",
            )
        )
    return rows


def _throughput(engine: Engine) -> Row:
    """100 jobs of the 5-step workflow at once; steps per second over the whole run."""
    engine.registry.register_workflow(linear(5), replace=True)

    async def burst() -> float:
        start = time.perf_counter()
        ids = [await engine.jobs.create_job("linear5") for _ in range(100)]
        for job in ids:
            await engine.jobs.start_job(job)
        await asyncio.gather(*(engine.jobs.wait(j, 120) for j in ids))
        return time.perf_counter() - start

    runs = [asyncio.run(burst()) for _ in range(3)]
    rate = 500 / statistics.median(runs)
    return summarise(f"100 concurrent 5-step jobs: {rate:,.0f} steps/s", [r / 500 for r in runs])
