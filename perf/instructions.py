"""Instructions per engine step, counted by valgrind: `python -m perf.instructions`.

Timings on a shared VM move by 1.5-2x from one minute to the next; the number
of instructions a step executes does not (runs agree within 1%). This counts
them for the 1,000-step chain and the 1,000-wide fan-out: a process runs one
job and another runs three, under ``valgrind --tool=cachegrind``, and the
difference is divided by the 2,000 steps between them, so start-up and
imports cancel out. It does not see the kernel (thread hand-offs), only the
engine's own work. Needs valgrind (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from actors_wf import COMPONENT, Engine

from .bench_foundation import linear, noop
from .bench_orchestration import fan_out

STEPS = 1000


def run_jobs(kind: str, jobs: int) -> None:
    """Run ``jobs`` jobs of the chain or the fan-out in this process."""
    spec = linear(STEPS) if kind == "chain" else fan_out(STEPS)
    with Engine(max_workers=8) as engine:
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(spec)
        for _ in range(jobs):
            engine.run(spec["id"], timeout=600)


def instructions(kind: str, jobs: int) -> int:
    """Instructions valgrind counts for a process that runs ``jobs`` jobs."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "perf.instructions",
            "--run",
            kind,
            str(jobs),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(found.group(1).replace(",", ""))


def main(args: list[str]) -> None:
    if args[:1] == ["--run"]:
        run_jobs(args[1], int(args[2]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    print("| workflow | instructions per step |\n|---|---|")
    for kind in ("chain", "fan-out"):
        per_step = (instructions(kind, 3) - instructions(kind, 1)) // (2 * STEPS)
        print(f"| {STEPS}-step {kind} | {per_step:,} |")


if __name__ == "__main__":
    main(sys.argv[1:])
