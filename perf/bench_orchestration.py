"""Engine overhead per step, process isolation, and throughput under many jobs."""

from __future__ import annotations

import asyncio
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pykka

from actors_wf import COMPONENT, Engine

from ._harness import Row, sample, summarise
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


def raw_chain(n: int, pool: ThreadPoolExecutor) -> None:
    ref = Stepper.start(pool)
    x = 0
    for _ in range(n):
        x = ref.ask(x)
    ref.stop()


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
            raw = per_step(sample(lambda: raw_chain(n, pool), 5, warmup=1), n)
        chain = per_step(sample(lambda: engine.run(f"linear{n}", timeout=120), 5, warmup=1), n)
        rows.append(
            summarise(
                f"per step, {n}-step chain",
                chain,
                baseline=("pykka ask + pool per step", raw),
                bar="< 150 µs",
            )
        )
        fan = per_step(sample(lambda: engine.run(f"fan{n}", timeout=120), 5, warmup=1), n)
        rows.append(
            summarise(
                f"per step, {n}-wide fan-out",
                fan,
                baseline=("pykka ask + pool per step", raw),
                bar="< 150 µs",
            )
        )
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
