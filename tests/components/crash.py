"""Components of the crash test: each step writes a line to a side-effect file.

A step prints when it starts and when its side effect is on disk, so the test
can kill the process at a chosen point by reading its output.
"""

import os
import sys
import threading

from actors_wf import component


@component("crash.step")
def step(n: int, ctx) -> int:
    _say(f"start {ctx.step_id}")
    with open(os.environ["AWF_COUNTER"], "a") as side_effects:
        side_effects.write(f"{ctx.step_id}\n")
        side_effects.flush()
        os.fsync(side_effects.fileno())
    _say(f"done {ctx.step_id}")
    return n + 1


def _say(line: str) -> None:
    """Print a point of the run; at the test's kill point, stay there until killed.

    Without the hold, a fast engine could finish the job between the line and
    the kill, and the test would kill a process with nothing left to recover.
    """
    sys.stdout.write(f"{line}\n")  # one write: lines of parallel items never interleave
    sys.stdout.flush()
    if line == os.environ.get("AWF_HOLD_AT"):
        threading.Event().wait()


def chain(length: int = 20) -> dict:
    steps = [{"id": "s0", "component": "crash.step", "inputs": {"n": 0}}]
    steps += [
        {"id": f"s{i}", "component": "crash.step", "inputs": {"n": f"$steps.s{i - 1}.output"}}
        for i in range(1, length)
    ]
    return {"id": "crash_chain", "steps": steps, "outputs": {"n": f"$steps.s{length - 1}.output"}}


def fan(items: int = 30) -> dict:
    """A map of ``items`` crash steps, four at a time."""
    step = {
        "id": "each",
        "component": "crash.step",
        "for_each": "$inputs.ns",
        "inputs": {"n": "$item"},
        "max_parallel": 4,
    }
    return {
        "id": "crash_map",
        "inputs": {"ns": "list[int]"},
        "steps": [step],
        "outputs": {"ns": "$steps.each.output"},
    }
