"""`async def` components: 1,000 steps that each await 0.1 s, on the engine's one event loop."""

from __future__ import annotations

import asyncio
import time

from actors_wf import COMPONENT, Engine

from ._harness import Row, interleaved, summarise

STEPS = 1000


async def nap() -> int:
    """A step that waits on I/O for 0.1 s."""
    await asyncio.sleep(0.1)
    return 1


FAN = {"id": "naps", "steps": [{"id": f"s{n}", "component": "b.nap"} for n in range(STEPS)]}


def run() -> list[Row]:
    """The job, beside a plain asyncio.gather of the same sleeps, in alternating rounds."""
    with Engine(max_concurrent_steps=STEPS) as engine:
        engine.registry.register(COMPONENT, "b.nap", None, nap)
        engine.registry.register_workflow(FAN)

        def job() -> None:
            engine.run("naps", timeout=120)

        def gather() -> None:
            async def all_naps() -> None:
                await asyncio.gather(*(nap() for _ in range(STEPS)))

            asyncio.run(all_naps())

        rounds = interleaved([job, gather], 5)
    return [
        summarise(f"{STEPS:,} async steps, each awaiting 0.1 s (serial: {STEPS * 0.1:.0f} s)",
                  rounds[0], baseline=("asyncio.gather of the same", rounds[1])),
    ]  # fmt: skip


if __name__ == "__main__":
    start = time.perf_counter()
    for row in run():
        print(row)
    print(f"{time.perf_counter() - start:.1f}s")
