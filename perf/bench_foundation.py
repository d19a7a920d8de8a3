"""Registry lookups and end-to-end jobs, beside a raw Pykka baseline."""

from __future__ import annotations

from typing import Any

import pykka

from actors_wf import COMPONENT, Engine

from ._harness import Row, sample, summarise

RUNS = 300


def noop(x: int = 0) -> int:
    return x + 1


def linear(n: int) -> dict[str, Any]:
    steps = [{"id": "s0", "component": "bench.noop", "inputs": {"x": 0}}]
    for i in range(1, n):
        steps.append(
            {"id": f"s{i}", "component": "bench.noop", "inputs": {"x": f"$steps.s{i - 1}.output"}}
        )
    return {"id": f"linear{n}", "steps": steps, "outputs": {"x": f"$steps.s{n - 1}.output"}}


def diamond() -> dict[str, Any]:
    return {
        "id": "diamond",
        "steps": [
            {"id": "a", "component": "bench.noop", "inputs": {"x": 0}},
            {"id": "b", "component": "bench.noop", "inputs": {"x": "$steps.a.output"}},
            {"id": "c", "component": "bench.noop", "inputs": {"x": "$steps.a.output"}},
            {
                "id": "d",
                "component": "bench.noop",
                "inputs": {"x": "$steps.b.output"},
                "depends_on": ["c"],
            },
        ],
        "outputs": {"x": "$steps.d.output"},
    }


class Echo(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return message


def raw_linear(n: int) -> None:
    """n+1 actors (a job and its steps): start, ask once each in sequence, stop."""
    refs = [Echo.start() for _ in range(n + 1)]
    for ref in refs:
        ref.ask(1)
    for ref in refs:
        ref.stop()


def raw_diamond() -> None:
    """5 actors (a job and 4 steps), asked in the diamond's order, b and c together."""
    refs = [Echo.start() for _ in range(5)]
    refs[0].ask(1)
    refs[1].ask(1)
    fb, fc = refs[2].ask(1, block=False), refs[3].ask(1, block=False)
    fb.get(), fc.get()
    refs[4].ask(1)
    for ref in refs:
        ref.stop()


def run() -> list[Row]:
    rows = []
    with Engine() as engine:
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(linear(5))
        engine.registry.register_workflow(diamond())
        lookup = engine.registry.lookup
        d = {("component", "bench.noop"): 1}
        cached = sample(lambda: lookup(COMPONENT, "bench.noop"), 20_000, warmup=100)
        dict_get = sample(lambda: d.get(("component", "bench.noop")), 20_000, warmup=100)
        rows.append(
            summarise(
                "registry lookup, cached", cached, baseline=("dict.get", dict_get), bar="< 5 µs"
            )
        )

        def uncached() -> None:
            engine.registry._cache.clear()
            lookup(COMPONENT, "bench.noop")

        echo = Echo.start()
        actor_lookup = sample(uncached, 2000)
        raw_ask = sample(lambda: echo.ask(1), 2000)
        echo.stop()
        rows.append(
            summarise(
                "registry lookup, through the actor", actor_lookup, baseline=("pykka ask", raw_ask)
            )
        )

        lin = sample(lambda: engine.run("linear5", timeout=10), RUNS)
        raw = sample(lambda: raw_linear(5), RUNS)
        rows.append(
            summarise(
                "5-step linear job, end to end",
                lin,
                baseline=("6 actors by hand", raw),
                bar="< 5 ms, < 3x",
            )
        )
        dia = sample(lambda: engine.run("diamond", timeout=10), RUNS)
        raw = sample(raw_diamond, RUNS)
        rows.append(
            summarise("4-step diamond job, end to end", dia, baseline=("5 actors by hand", raw))
        )
    return rows
