"""Components of the crash test: each step writes a line to a side-effect file.

A step prints when it starts and when its side effect is on disk, so the test
can kill the process at a chosen point by reading its output.
"""

import os

from actors_wf import component


@component("crash.step")
def step(n: int, ctx) -> int:
    print(f"start {ctx.step_id}", flush=True)
    with open(os.environ["AWF_COUNTER"], "a") as side_effects:
        side_effects.write(f"{ctx.step_id}\n")
        side_effects.flush()
        os.fsync(side_effects.fileno())
    print(f"done {ctx.step_id}", flush=True)
    return n + 1


def chain(length: int = 20) -> dict:
    steps = [{"id": "s0", "component": "crash.step", "inputs": {"n": 0}}]
    steps += [
        {"id": f"s{i}", "component": "crash.step", "inputs": {"n": f"$steps.s{i - 1}.output"}}
        for i in range(1, length)
    ]
    return {"id": "crash_chain", "steps": steps, "outputs": {"n": f"$steps.s{length - 1}.output"}}
