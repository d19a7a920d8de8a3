"""Reading a workflow's steps one by one, so that one bad step hides nothing of the others.

A step that does not structure is kept with its problems and a ``partial``
record read without its faulty fields, for the later passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._core._spec import InputSpec, StepSpec, WorkflowSpec
from ._problems import Problem
from ._structure import structure


@attrs.frozen
class ReadStep:
    """One step as read: its raw form, its record (if it structured), its problems.

    ``partial`` is the step read without its faulty fields, so that a bad
    ``timeout`` does not hide the step's other mistakes from the later passes.
    """

    raw: Any
    spec: StepSpec | None
    problems: tuple[Problem, ...]  # structure problems, relative paths
    partial: StepSpec | None = None
    dropped: frozenset[str | int] = frozenset()
    numbers: bool = True  # has bool/int/float leaves, where 1 == True == 1.0 deceives

    def same_raw(self, raw: Any) -> bool:
        """Whether ``raw`` is what this step was read from, types included."""
        if raw is self.raw:
            return True
        # Without number leaves, == cannot mistake 1 for True: the C compare is exact.
        return bool(raw == self.raw) and (not self.numbers or _same(raw, self.raw))


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    """Deep equality that also requires equal types (``1``, ``True``, ``1.0`` differ)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        return len(a) == len(b) and all(_same(v, b.get(k, _MISSING)) for k, v in a.items())
    if kind is list or kind is tuple:
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _has_numbers(value: Any) -> bool:
    if isinstance(value, bool | int | float):
        return True
    if isinstance(value, dict):
        return any(_has_numbers(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_numbers(v) for v in value)
    return False


def structure_step(raw: Any) -> ReadStep:
    if isinstance(raw, StepSpec):
        return ReadStep(raw, raw, (), raw)
    if not isinstance(raw, Mapping):
        got = type(raw).__name__
        problem = Problem(
            "WF103",
            (),
            f"expected a step (a mapping), got {got}",
            "write a step as '- id: ...' with component: and inputs:",
        )
        return ReadStep(raw, None, (problem,))
    spec, problems = structure(raw, StepSpec, ())
    if spec is not None:
        return ReadStep(raw, spec, (), spec, numbers=_spec_has_numbers(spec))
    faulty = {p.path[0] for p in problems if p.path}
    partial, _ = structure({k: v for k, v in raw.items() if k not in faulty}, StepSpec, ())
    return ReadStep(raw, None, tuple(problems), partial, frozenset(faulty))


def _spec_has_numbers(spec: StepSpec) -> bool:
    """Whether the raw step had number leaves, read off the record.

    Only ``retry``, ``timeout`` and input values can hold one: the rest are strings.
    """
    if spec.retry is not None or spec.timeout is not None:
        return True
    return any(not isinstance(v, str) and _has_numbers(v) for v in spec.inputs.values())


def raw_id(raw: Any) -> str | None:
    if isinstance(raw, StepSpec | WorkflowSpec):
        return raw.id
    value = raw.get("id") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) else None


def step_id(step: ReadStep) -> str | None:
    return step.partial.id if step.partial is not None else raw_id(step.raw)


def prefix(problems: Sequence[Problem], index: int) -> list[Problem]:
    return [attrs.evolve(p, path=("steps", index, *p.path)) for p in problems]


def split(data: Mapping[str, Any] | WorkflowSpec) -> tuple[dict[str, Any], Sequence[Any]]:
    if isinstance(data, WorkflowSpec):
        return {"__spec__": attrs.evolve(data, steps=())}, list(data.steps)
    header = {k: v for k, v in data.items() if k != "steps"}
    steps = data.get("steps")
    return header, steps if isinstance(steps, list) else []


def inputs_part(header_raw: Any) -> Any:
    if "__spec__" in header_raw:
        return header_raw["__spec__"].inputs
    return header_raw.get("inputs")


def fallback_inputs(header_raw: Any) -> dict[str, InputSpec]:
    """Input names of a header that did not structure, so references to them still resolve."""
    raw = header_raw.get("inputs")
    return {k: InputSpec() for k in raw if isinstance(k, str)} if isinstance(raw, Mapping) else {}
