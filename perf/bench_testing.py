"""The test kit: examples per second of the shipped state machine on a 5-step workflow.

The machine runs on the memory store and on SQLite; beside it, in the same
rounds, the same rules with the engine replaced by the oracle (a job is one
``reference_run``; pause, cancel and the rest are no-ops): what hypothesis
and the components cost without the engine. ``derandomize`` makes every
round draw the same examples.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from actors_wf import testing
from actors_wf.testing.strategies import inputs_for

from ._harness import Row, interleaved, summarise

EXAMPLES = 20
STEPS_PER_EXAMPLE = 20


def half(x: int) -> int:
    """Fails on odd numbers."""
    if x % 2:
        raise ValueError(f"{x} is odd")
    return x // 2


def add(a: int, b: int) -> int:
    """a + b."""
    return a + b


COMPONENTS = {"b.half": half, "b.add": add}
FIVE = {
    "id": "five",
    "inputs": {"x": "int"},
    "steps": [
        {"id": "h", "component": "b.half", "inputs": {"x": "$inputs.x"}, "on_failure": "continue"},
        {"id": "a", "component": "b.add", "inputs": {"a": "$inputs.x", "b": 1}},
        {"id": "b", "component": "b.add", "inputs": {"a": "$steps.a.output", "b": 2}},
        {"id": "c", "component": "b.add", "inputs": {"a": "$steps.a.output", "b": 3}},
        {"id": "d", "component": "b.add",
         "inputs": {"a": "$steps.b.output", "b": "$steps.c.output"}},
    ],
    "outputs": {"d": "$steps.d.output"},
}  # fmt: skip


class OnMemory(testing.JobLifecycleMachine):
    components = COMPONENTS
    workflows = [FIVE]


class OnSQLite(OnMemory):
    store = "sqlite"


class OnOracle(RuleBasedStateMachine):
    """The machine's rules and draws, a job run by the oracle: the floor under the engine's."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[dict[str, Any]] = []

    @rule(data=st.data(), start=st.booleans())
    def create(self, data: st.DataObject, start: bool) -> None:
        data.draw(st.sampled_from(["five"]), label="workflow")
        inputs = data.draw(inputs_for(FIVE), label="inputs")
        if len(self.jobs) < 4:
            self.jobs.append(inputs)
            if start:
                testing.reference_run(FIVE, inputs, COMPONENTS)

    def _job(self, data: st.DataObject) -> None:
        data.draw(st.integers(0, 3), label="job")

    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        self._job(data)
        if self.jobs:
            testing.reference_run(FIVE, self.jobs[0], COMPONENTS)

    @rule(data=st.data())
    def pause(self, data: st.DataObject) -> None:
        self._job(data)

    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        self._job(data)

    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        self._job(data)

    @rule(data=st.data(), force=st.booleans())
    def cancel(self, data: st.DataObject, force: bool) -> None:
        self._job(data)

    @rule()
    def purge(self) -> None:
        self.jobs.clear()

    @rule(data=st.data())
    def fail_next_attempt(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(sorted(COMPONENTS)), label="component")

    @rule(data=st.data())
    def hold(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(sorted(COMPONENTS)), label="component")

    @rule()
    def release(self) -> None:
        pass

    @rule(seconds=st.sampled_from([0.5, 2.0, 30.0, 600.0]))
    def advance_clock(self, seconds: float) -> None:
        pass


def _examples(machine: type[RuleBasedStateMachine]) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            database=None,
            derandomize=True,
        ),
    )


def run() -> list[Row]:
    """Rounds of EXAMPLES examples on each; seconds per example."""
    rounds = interleaved(
        [lambda: _examples(OnMemory), lambda: _examples(OnSQLite), lambda: _examples(OnOracle)],
        5,
    )
    memory, sqlite, oracle = ([t / EXAMPLES for t in times] for times in rounds)
    per = f"{STEPS_PER_EXAMPLE} rules"
    return [
        summarise(f"JobLifecycleMachine, memory: {1 / _median(memory):.0f} examples/s ({per})",
                  memory, baseline=("the oracle's machine", oracle)),
        summarise(f"JobLifecycleMachine, SQLite: {1 / _median(sqlite):.0f} examples/s ({per})",
                  sqlite, baseline=("the oracle's machine", oracle)),
        summarise(f"the oracle's machine: {1 / _median(oracle):.0f} examples/s", oracle),
    ]  # fmt: skip


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


if __name__ == "__main__":
    start = time.perf_counter()
    for row in run():
        print(row)
    print(f"{time.perf_counter() - start:.1f}s")
