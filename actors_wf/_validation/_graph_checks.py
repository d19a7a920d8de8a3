"""Checks of the whole graph: duplicate ids, the steps field, cycles, unused inputs and steps.

They run once the steps are checked one by one, on what those checks found
(each step's ``StepFacts``), and again on an edit only when an edge moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core._graph import cycles, reaching, toposort
from .._core._spec import StepSpec, WorkflowSpec
from ._problems import WARNING, Path, Problem
from ._semantic import Found, Scope, StepFacts, check_refs
from ._steps import ReadStep


def edges(fact: StepFacts | None) -> Any:
    if fact is None:
        return None
    return (fact.deps, fact.data_deps, fact.uses_inputs, fact.meant, fact.mentions)


def readers(facts: Mapping[str, StepFacts]) -> dict[str, frozenset[str]]:
    readers: dict[str, set[str]] = {}
    for sid, fact in facts.items():
        for name in fact.mentions:
            readers.setdefault(name, set()).add(sid)
    return {k: frozenset(v) for k, v in readers.items()}


def update_readers(
    readers: dict[str, frozenset[str]],
    before: Mapping[str, StepFacts],
    after: Mapping[str, StepFacts],
    rechecked: set[str],
) -> dict[str, frozenset[str]]:
    """The readers index after some steps were checked again: O(their mentions)."""
    out = dict(readers)
    for sid in rechecked:
        old = before[sid].mentions if sid in before else frozenset()
        new = after[sid].mentions if sid in after else frozenset()
        for name in old - new:
            rest = out[name] - {sid}
            if rest:
                out[name] = rest
            else:
                del out[name]
        for name in new - old:
            out[name] = out.get(name, frozenset()) | {sid}
    return out


def graph_problems(
    header: WorkflowSpec | None,
    ids: list[str | None],
    facts: dict[str, StepFacts],
    scope: Scope,
    steps: Mapping[str, ReadStep],
) -> tuple[Problem, ...]:
    usage = _output_and_usage_problems(header, ids, facts, scope)
    named = [sid for sid in ids if sid is not None]
    if len(set(named)) != len(named):  # a doubled step's uses are not known: no guesses
        usage = [p for p in usage if p.severity != WARNING]
    return (
        *_cycle_problems(ids, facts, steps),
        *usage,
    )


def steps_field_problems(data: Any) -> list[Problem]:
    if isinstance(data, WorkflowSpec):
        return []
    if "steps" not in data:
        return [
            Problem(
                "WF101",
                ("steps",),
                "required field 'steps' is missing",
                "add 'steps:' with a list of steps",
            )
        ]
    if not isinstance(data["steps"], list):
        got = type(data["steps"]).__name__
        return [
            Problem(
                "WF103",
                ("steps",),
                f"expected a list, got {got}",
                "write steps as a list: '- id: ...'",
            )
        ]
    return []


def duplicates(ids: list[str | None]) -> set[str]:
    seen: set[str] = set()
    dup: set[str] = set()
    for sid in ids:
        if sid is None:
            continue
        if sid in seen:
            dup.add(sid)
        seen.add(sid)
    return dup


def duplicate_problems(ids: list[str | None], duplicates: set[str]) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for i, sid in enumerate(ids):
        if sid is None:
            continue
        if sid in first:
            problems.append(
                Problem(
                    "WF106",
                    ("steps", i, "id"),
                    f"step id {sid!r} is used already by steps[{first[sid]}]",
                    f"rename one of them, e.g. {sid}_{i}",
                )
            )
        else:
            first[sid] = i
    return problems


def _cycle_problems(
    ids: list[str | None], facts: Mapping[str, StepFacts], steps: Mapping[str, ReadStep]
) -> list[Problem]:
    order = [sid for sid in ids if sid is not None and sid in facts]
    if _acyclic(order, facts):
        return []
    feeds: dict[str, list[str]] = {sid: [] for sid in order}
    for sid in order:
        for dep in facts[sid].deps:
            if dep in feeds:
                feeds[dep].append(sid)
    position = {sid: i for i, sid in enumerate(ids) if sid is not None}
    problems = []
    for cycle in cycles(order, feeds):
        written = " -> ".join([*cycle, cycle[0]])
        last = cycle[-1]
        # The edge that closes it: the earliest step names the last, a step below it.
        read = steps.get(cycle[0])
        named = _where_named(read.partial, last) if read is not None and read.partial else ()
        problems.append(
            Problem(
                "WF210",
                ("steps", position[cycle[0]], *named),
                f"steps form a cycle: {written}",
                f"remove the reference from {cycle[0]!r} to {last!r}, or another edge of it",
                related=tuple(cycle),
            )
        )
    return problems


def _where_named(step: StepSpec, dep: str) -> Path:
    """Where in a step another step is named: an input's reference, else depends_on."""
    for name, value in step.inputs.items():
        inner = _ref_path(value, dep)
        if inner is not None:
            return ("inputs", name, *inner)
    if dep in step.depends_on:
        return ("depends_on", step.depends_on.index(dep))
    return ()


def _ref_path(value: Any, dep: str) -> Path | None:
    if isinstance(value, str):
        return () if value.startswith(f"$steps.{dep}.") else None
    if isinstance(value, dict):
        items: Any = value.items()
    else:
        items = enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        inner = _ref_path(item, dep)
        if inner is not None:
            return (key, *inner)
    return None


def _acyclic(order: list[str], facts: Mapping[str, StepFacts]) -> bool:
    """Cheap (Kahn's order), so the cycle search runs only when there is a cycle."""
    return not toposort(order, {sid: facts[sid].deps for sid in order})[1]


def _output_and_usage_problems(
    header: WorkflowSpec | None,
    ids: list[str | None],
    facts: Mapping[str, StepFacts],
    scope: Scope,
) -> list[Problem]:
    if header is None:
        return []
    found = Found()
    for name, value in header.outputs.items():
        check_refs(value, ("outputs", name), scope, found)
    problems, out_deps, uses = found.problems, found.data_deps | found.meant, found.uses
    for fact in facts.values():
        uses |= fact.uses_inputs | fact.meant
    for name in header.inputs:
        if name not in uses:
            problems.append(
                Problem(
                    "WF301",
                    ("inputs", name),
                    f"input {name!r} is never used",
                    f"use it as $inputs.{name}, or remove it",
                )
            )
    if header.outputs:
        problems += _unused_steps(ids, facts, out_deps)
    return problems


def _unused_steps(
    ids: list[str | None], facts: Mapping[str, StepFacts], out_deps: set[str]
) -> list[Problem]:
    used: set[str] = set()
    for fact in facts.values():
        used |= fact.deps | fact.meant
    useful = reaching(out_deps, {sid: f.deps | f.meant for sid, f in facts.items()})
    problems = []
    for i, sid in enumerate(ids):
        if sid is None or sid not in facts:
            continue
        if sid not in used and sid not in out_deps:
            problems.append(
                Problem(
                    "WF302",
                    ("steps", i),
                    f"the output of step {sid!r} is never used",
                    f"name $steps.{sid}.output under outputs or in a later step, "
                    "or remove the step",
                )
            )
        elif sid not in useful:
            problems.append(
                Problem(
                    "WF303",
                    ("steps", i),
                    f"nothing step {sid!r} feeds reaches the workflow's outputs",
                    "add an output that uses the last step it feeds, or remove them",
                )
            )
    return problems
