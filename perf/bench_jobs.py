"""1,000 jobs at once: wall time, jobs/s, memory, and get_job latency under the load."""

from __future__ import annotations

import asyncio
import resource
import threading
import time

from actors_wf import COMPONENT, Engine

from ._harness import Row, summarise
from .bench_foundation import linear, noop

JOBS = 1000


def run() -> list[Row]:
    with Engine(max_concurrent_jobs=50) as engine:
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(linear(5))
        first = engine.jobs_sync.create_job("linear5")
        probes: list[float] = []
        done = threading.Event()

        def probe() -> None:
            # A monitoring client: reads a job's state every millisecond during the load.
            while not done.wait(0.001):
                start = time.perf_counter()
                engine.jobs_sync.get_job(first)
                probes.append(time.perf_counter() - start)

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        prober = threading.Thread(target=probe)
        prober.start()
        wall = asyncio.run(_burst(engine))
        done.set()
        prober.join()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        summarise(
            f"{JOBS} 5-step jobs, 50 at a time: {wall:.2f} s, {JOBS / wall:,.0f} jobs/s, "
            f"peak RSS {rss:.0f} MiB (+{rss - before:.0f} MiB)",
            [wall / JOBS],
        ),
        summarise("get_job while the load runs", probes, bar="< 1 ms"),
    ]


async def _burst(engine: Engine) -> float:
    start = time.perf_counter()
    ids = [await engine.jobs.create_job("linear5") for _ in range(JOBS)]
    for job in ids:
        await engine.jobs.start_job(job)
    await asyncio.gather(*(engine.jobs.wait(j, 600) for j in ids))
    return time.perf_counter() - start
