"""Many jobs at once: steps/s, job latency and CPU per step, beside a bare actor baseline.

``python -m perf throughput`` (or ``python -m perf.bench_throughput [--jobs N]``).
N jobs of five chained steps, C of them in flight at once (C = 1, 20, 200),
on the memory store, SQLite (``process``) and SQLite power-safe, each beside
a raw baseline run in the same rounds: a bare Pykka actor per job handing
its five calls one after another to a thread pool and back (the hops the
engine's design needs, with no engine work). The same C driver threads start
jobs and wait for them in both, so the driver's cost is on both sides.
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pykka

from actors_wf import COMPONENT, Engine

from .bench_foundation import linear, noop

JOBS = 2000
STEPS = 5
CONCURRENCY = (1, 20, 200)
ROUNDS = 4  # each round runs JOBS / ROUNDS jobs of every kind, in turn
WORKERS = 32  # the engine's default max_workers; the baseline's pool has as many


@attrs.frozen
class Figures:
    """One kind of run at one concurrency: what the table prints."""

    name: str
    concurrency: int
    steps_per_s: float
    p50: float
    p99: float
    cpu_per_step: float
    switches_per_step: float  # the process's voluntary context switches: threads woken


class _Chain(pykka.ThreadingActor):
    """The baseline's job: five calls handed to a thread pool one after another."""

    use_daemon_thread = True

    def __init__(self, pool: ThreadPoolExecutor, done: threading.Event) -> None:
        super().__init__()
        self.pool, self.done, self.left, self.value = pool, done, STEPS, 0

    def on_receive(self, message: Any) -> None:
        if message is not None:
            self.value, self.left = message, self.left - 1
        if self.left == 0:
            self.done.set()
            self.stop()
            return
        me = self.actor_ref
        call = self.pool.submit(noop, self.value)
        call.add_done_callback(lambda f: me.tell(f.result()))


def _drive(run_one: Callable[[], None], jobs: int, concurrency: int) -> tuple[float, list[float]]:
    """Run ``jobs`` jobs, ``concurrency`` at a time; the wall time and each job's latency."""
    latencies: list[float] = []
    left = [jobs]
    lock = threading.Lock()

    def driver() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            start = time.perf_counter()
            run_one()
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=driver) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies


class _Side:
    """One kind of run, accumulated over the rounds."""

    def __init__(self, name: str, run_one: Callable[[], None]) -> None:
        self.name, self.run_one = name, run_one
        self.wall = self.cpu = 0.0
        self.switches = 0
        self.latencies: list[float] = []

    def round(self, jobs: int, concurrency: int) -> None:
        cpu = time.process_time()
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        wall, latencies = _drive(self.run_one, jobs, concurrency)
        self.switches += resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - switches
        self.cpu += time.process_time() - cpu
        self.wall += wall
        self.latencies += latencies

    def figures(self, concurrency: int) -> Figures:
        steps = len(self.latencies) * STEPS
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return Figures(
            self.name,
            concurrency,
            steps / self.wall,
            statistics.median(ordered),
            p99,
            self.cpu / steps,
            self.switches / steps,
        )


def _raw(pool: ThreadPoolExecutor) -> Callable[[], None]:
    def run_one() -> None:
        done = threading.Event()
        _Chain.start(pool, done).tell(None)
        if not done.wait(60):
            raise TimeoutError("a baseline chain did not end within 60 s")

    return run_one


def _engine(store: str | None, slots: int | None = None) -> Engine:
    engine = Engine(
        store=store,
        max_concurrent_jobs=max(CONCURRENCY),
        max_workers=WORKERS,
        max_concurrent_steps=slots,
    )
    engine.registry.register(COMPONENT, "bench.noop", None, noop)
    engine.registry.register_workflow(linear(STEPS))
    return engine


def measure(
    jobs: int = JOBS, concurrency: tuple[int, ...] = CONCURRENCY, slots: int | None = None
) -> list[Figures]:
    """Every kind at every concurrency, in alternating rounds; figures in that order.

    ``slots``: the engines' ``max_concurrent_steps`` (default: theirs, 64).
    """
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(WORKERS) as pool:
        stores = {
            "memory": None,
            "sqlite": f"sqlite:///{Path(tmp) / 'process.db'}",
            "sqlite, power-safe": f"sqlite:///{Path(tmp) / 'power.db'}?durability=power",
        }
        engines = {name: _engine(store, slots) for name, store in stores.items()}
        try:
            workflow = f"linear{STEPS}"
            for engine in engines.values():  # warm each up: imports, caches, the file
                for _ in range(20):
                    engine.run(workflow, timeout=60)
            for c in concurrency:
                sides = [_Side("raw: actor + thread pool", _raw(pool))]
                for name, engine in engines.items():
                    run = engine.run
                    sides.append(_Side(name, lambda run=run: run(workflow, timeout=600)))
                for _ in range(ROUNDS):
                    for side in sides:
                        side.round(jobs // ROUNDS, c)
                figures += [side.figures(c) for side in sides]
        finally:
            for engine in engines.values():
                engine.close()
    return figures


def table(figures: list[Figures]) -> str:
    """The figures as a markdown table, each ratio against the raw baseline at its concurrency."""
    raw = {f.concurrency: f.steps_per_s for f in figures if f.name.startswith("raw")}
    memory = {f.concurrency: f.steps_per_s for f in figures if f.name == "memory"}
    lines = [
        "| at once | run | steps/s | vs raw | vs memory | job p50 | job p99 | CPU µs/step "
        "| switches/step |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        plain = f.name == "memory" or f.name.startswith("raw")
        vs_memory = "" if plain else f"{f.steps_per_s / memory[f.concurrency]:.2f}x"
        lines.append(
            f"| {f.concurrency} | {f.name} | {f.steps_per_s:,.0f} | "
            f"{f.steps_per_s / raw[f.concurrency]:.2f}x | {vs_memory} | "
            f"{f.p50 * 1e3:.2f} ms | {f.p99 * 1e3:.2f} ms | {f.cpu_per_step * 1e6:.0f} | "
            f"{f.switches_per_step:.1f} |"
        )
    return "\n".join(lines)


def run() -> str:
    """The table for ``python -m perf throughput``."""
    return f"{JOBS:,} jobs of {STEPS} chained steps per row.\n\n" + table(measure())


if __name__ == "__main__":
    args = sys.argv[1:]
    n = int(args[args.index("--jobs") + 1]) if "--jobs" in args else JOBS
    at_once = (
        tuple(int(c) for c in args[args.index("--at-once") + 1].split(","))
        if ("--at-once" in args)
        else CONCURRENCY
    )
    slots = int(args[args.index("--slots") + 1]) if "--slots" in args else None
    print(f"{n:,} jobs of {STEPS} chained steps per row.\n")
    print(table(measure(n, at_once, slots)))
