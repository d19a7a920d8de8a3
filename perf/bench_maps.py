"""A map over N items beside a workflow of N ordinary steps doing the same work.

Issue 19's bar: a map must not cost more per item than the same number of
ordinary steps. Both run the same trivial component, in alternating rounds,
on the memory store and on SQLite (where each item is journaled as a step is).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from actors_wf import COMPONENT, Engine

from ._harness import Row, interleaved, summarise

ITEMS = 10_000
ROUNDS = 3


def double(x: int) -> int:
    """The work of one item: next to nothing, so what is timed is the engine."""
    return 2 * x


def fan_out(n: int) -> dict[str, Any]:
    """N independent ordinary steps."""
    steps = [{"id": f"s{i}", "component": "b.double", "inputs": {"x": i}} for i in range(n)]
    return {"id": "fan", "steps": steps}


def mapped(n: int) -> dict[str, Any]:
    """One for_each step over N items."""
    step = {
        "id": "each",
        "component": "b.double",
        "for_each": "$inputs.xs",
        "inputs": {"x": "$item"},
    }
    return {"id": "map", "inputs": {"xs": "list[int]"}, "steps": [step]}


def run() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for store in (None, str(Path(folder) / "jobs.db")):
            with Engine(store=store, max_concurrent_steps=64) as engine:
                engine.registry.register(COMPONENT, "b.double", None, double)
                engine.registry.register_workflow(fan_out(ITEMS))
                engine.registry.register_workflow(mapped(ITEMS))
                inputs = {"xs": list(range(ITEMS))}
                fan, each = interleaved(
                    [
                        functools.partial(engine.run, "fan", timeout=600),
                        functools.partial(engine.run, "map", inputs, timeout=600),
                    ],
                    ROUNDS,
                )
            where = "memory" if store is None else "SQLite"
            rows.append(summarise(f"{ITEMS:,} ordinary steps ({where})", fan))
            rows.append(
                summarise(
                    f"a map of {ITEMS:,} items ({where})",
                    each,
                    baseline=(f"{ITEMS:,} steps", fan),
                    bar="1x",
                )
            )
    return rows
