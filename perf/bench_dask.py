"""Steps on a Dask LocalCluster beside raw Dask doing the same calls (issue 20).

Bars: a trivial dask step's round trip at most 1.5x a raw
``client.submit(...).result()`` of the same function; a 1,000-wide fan-out of
dask steps at least 0.7x the throughput of ``client.map`` + ``gather``.
Both in alternating rounds on one cluster of two one-thread worker processes.
"""

from __future__ import annotations

from typing import Any

from actors_wf import COMPONENT, DaskExecutor, Engine

from ._harness import Row, interleaved, summarise

WIDE = 1000
ONE_ROUNDS = 30
FAN_ROUNDS = 3


def double(x: int) -> int:
    """The work of one step: next to nothing, so what is timed is the path."""
    return 2 * x


def fan(n: int) -> dict[str, Any]:
    steps = [{"id": f"s{i}", "component": "b.double", "inputs": {"x": i}} for i in range(n)]
    return {"id": f"fan{n}", "steps": steps}


def run() -> list[Row]:
    dask = DaskExecutor.local(n_workers=2)
    client = dask.client
    try:
        with Engine(executors={"dask": dask}, max_concurrent_steps=WIDE) as engine:
            engine.registry.register(COMPONENT, "b.double", {"isolation": "dask"}, double)
            engine.registry.register_workflow(fan(1))
            engine.registry.register_workflow(fan(WIDE))

            def raw_one() -> None:
                client.submit(double, 1, pure=False).result()

            def raw_map() -> None:
                client.gather(client.map(double, range(WIDE), pure=False))

            one, raw = interleaved(
                [lambda: engine.run("fan1", timeout=60), raw_one], ONE_ROUNDS, warmup=3
            )
            wide, mapped = interleaved(
                [lambda: engine.run(f"fan{WIDE}", timeout=600), raw_map], FAN_ROUNDS
            )
    finally:
        client.close()
    return [
        summarise("raw client.submit(...).result()", raw),
        summarise("a job of one dask step", one, baseline=("raw submit", raw), bar="1.5x"),
        summarise(f"raw client.map + gather, {WIDE:,} calls", mapped),
        summarise(
            f"a {WIDE:,}-wide fan-out of dask steps",
            wide,
            baseline=("raw map", mapped),
            bar="1/0.7 = 1.43x",
        ),
    ]
