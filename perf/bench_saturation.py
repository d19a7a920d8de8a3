"""More jobs than step slots: does waiting for a slot cost the engine its speed?

``python -m perf saturation`` (or ``python -m perf.bench_saturation [--runs N]``).
1,000 jobs of five chained steps, 200 at once, on an engine with 40 step
slots (``max_concurrent_steps``), so most jobs wait for a slot; beside the
same drive on an engine with a slot for every job, run by turns. A release
that woke every waiting job (before 288be1b) sometimes collapsed the
saturated engine to a tenth of its speed for the rest of a run, at 140-160
context switches a step: the table shows each run's speed and switches, and
the worst run against the median of the unsaturated ones.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys

from actors_wf import COMPONENT, Engine

from .bench_foundation import linear, noop
from .bench_throughput import STEPS, WORKERS, _drive

JOBS = 1000
AT_ONCE = 200
SLOTS = 40
RUNS = 4


def _run(slots: int) -> tuple[float, float]:
    """One drive in a process of its own, as a daemon starts: steps/s and switches per step.

    (Drives one after another in one process never collapsed in 13 runs;
    in processes of their own, two runs in six did.)
    """
    done = subprocess.run(
        [sys.executable, "-m", "perf.bench_saturation", "--one", str(slots)],
        capture_output=True,
        text=True,
        check=True,
    )
    speed, switches = done.stdout.split()
    return float(speed), float(switches)


def _one(slots: int) -> tuple[float, float]:
    """One drive on a new engine: steps/s and voluntary context switches per step."""
    with Engine(
        max_concurrent_jobs=AT_ONCE, max_concurrent_steps=slots, max_workers=WORKERS
    ) as engine:
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(linear(STEPS))
        for _ in range(20):  # warm: imports, caches
            engine.run(f"linear{STEPS}", timeout=60)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        wall, _ = _drive(lambda: engine.run(f"linear{STEPS}", timeout=600), JOBS, AT_ONCE)
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before
    steps = JOBS * STEPS
    return steps / wall, switches / steps


def measure(runs: int = RUNS) -> list[tuple[str, float, float]]:
    """``runs`` drives of each kind, by turns: (kind, steps/s, switches per step)."""
    results = []
    for _ in range(runs):
        for kind, slots in ((f"{SLOTS} slots", SLOTS), ("a slot per job", AT_ONCE)):
            results.append((kind, *_run(slots)))
    return results


def table(results: list[tuple[str, float, float]]) -> str:
    """Each run, then the worst saturated run against the unsaturated median."""
    lines = ["| run | engine | steps/s | switches/step |", "|---|---|---|---|"]
    for n, (kind, speed, switches) in enumerate(results):
        lines.append(f"| {n // 2 + 1} | {kind} | {speed:,.0f} | {switches:.1f} |")
    saturated = [speed for kind, speed, _ in results if kind.endswith(" slots")]
    free = [speed for kind, speed, _ in results if not kind.endswith(" slots")]
    worst, median = min(saturated), statistics.median(free)
    lines.append(
        f"\nWorst saturated run {worst:,.0f} steps/s against the unsaturated median "
        f"{median:,.0f}: {worst / median:.2f}x (a collapse shows as ~0.1x)."
    )
    return "\n".join(lines)


def run() -> str:
    """The table for ``python -m perf saturation``."""
    return f"{JOBS:,} jobs of {STEPS} chained steps, {AT_ONCE} at once, per run.\n\n" + table(
        measure()
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--one"]:
        print(*_one(int(args[1])))
        sys.exit()
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else RUNS
    print(table(measure(runs)))
