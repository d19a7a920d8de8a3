"""Validation of large random DAGs: full, incremental, and how cost grows with size."""

from __future__ import annotations

import copy
import random
from typing import Any

from actors_wf import COMPONENT, Engine, WorkflowSpec
from actors_wf._core._codec import converter

from ._harness import Row, sample, summarise


def f(a: int = 0, b: int = 0, c: int = 0) -> int:
    return a + b + c


def random_dag(n: int, seed: int = 1) -> dict[str, Any]:
    """A valid random DAG: each step reads one to three earlier ones (fan-in), a
    step may be read by several (fan-out), and every output is used."""
    rng = random.Random(seed)
    unread: list[int] = []
    steps = []
    for i in range(n):
        inputs: dict[str, Any] = {}
        for name in ("a", "b", "c")[: rng.randint(1, 3)] if i else ():
            source = unread.pop(0) if unread else rng.randrange(max(0, i - 50), i)
            inputs[name] = f"$steps.s{source}.output"
        if not inputs:
            inputs["a"] = i
        unread.append(i)
        steps.append({"id": f"s{i}", "component": "bench.f", "inputs": inputs})
    outputs = {f"o{j}": f"$steps.s{j}.output" for j in unread}
    return {"id": f"dag{n}", "steps": steps, "outputs": outputs}


def run() -> list[Row]:
    rows = []
    with Engine() as engine:
        engine.registry.register(COMPONENT, "bench.f", None, f)
        validator = engine.validator
        for n, runs in ((100, 200), (1000, 50), (10_000, 7)):
            spec = random_dag(n)
            full = sample(lambda s=spec: validator.validate(s), runs, warmup=2)
            base = sample(lambda s=spec: converter.structure(s, WorkflowSpec), runs, warmup=2)
            bar = {1000: "< 50 ms", 10_000: "< 500 ms"}.get(n, "")
            rows.append(
                summarise(
                    f"full validation, {n} steps",
                    full,
                    baseline=("cattrs structure only", base),
                    bar=bar,
                )
            )
        for n in (1000, 10_000):
            spec = random_dag(n)
            previous = validator.validate(spec)
            full = sample(lambda e=spec: validator.validate(e), 10, warmup=1)
            for kind, edit in (("a value", _edit_value), ("an edge", _edit_edge)):
                edited = edit(spec, n // 2)

                def incremental(e: dict[str, Any] = edited, p: Any = previous) -> None:
                    validator.validate(e, previous=p)

                inc = sample(incremental, 200 if n == 1000 else 20, warmup=3)
                bar = "< 2 ms" if n == 1000 else ""
                rows.append(
                    summarise(
                        f"edit {kind} of one step, {n} steps",
                        inc,
                        baseline=("full validation", full),
                        bar=bar,
                    )
                )
    return rows


def _edit_value(spec: dict[str, Any], i: int) -> dict[str, Any]:
    """Change a step's retry policy: its checks run again, the graph stays."""
    edited = copy.deepcopy(spec)
    edited["steps"][i]["retry"] = {"max_attempts": 3}
    return edited


def _edit_edge(spec: dict[str, Any], i: int) -> dict[str, Any]:
    """Point one input at another step: the graph is analysed again."""
    edited = copy.deepcopy(spec)
    inputs = edited["steps"][i]["inputs"]
    inputs[next(iter(inputs))] = f"$steps.s{i - 1}.output"
    return edited
