"""References between steps, and the dependency graph a job runs by.

A reference is a whole string value: ``$inputs.NAME``, ``$steps.ID.output`` or
``$steps.ID.output.FIELD[.FIELD...]``; ``$$`` at the start escapes a literal
dollar. References may sit inside lists and dicts of a step's inputs.
"""

from __future__ import annotations

import functools
from collections.abc import Container, Iterator, Mapping
from typing import Any

import attrs

from ._errors import did_you_mean
from ._graph import toposort
from ._spec import StepSpec, WorkflowSpec


@attrs.frozen
class Ref:
    """A parsed reference.

    Attributes:
        source: ``inputs`` or ``steps``.
        name: the input name or the step id.
        fields: keys to follow into a step's output.
    """

    source: str
    name: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.source == "inputs":
            return f"$inputs.{self.name}"
        return ".".join((f"$steps.{self.name}.output", *self.fields))


class RefSyntaxError(ValueError):
    """A string starts with ``$`` but is not a reference."""


@functools.lru_cache(maxsize=65536)
def parse_ref(text: str) -> Ref | None:
    """Parse a reference; ``None`` when ``text`` is a plain string.

    Raises:
        RefSyntaxError: it starts with ``$`` but has not the form of one.
    """
    if not text.startswith("$") or text.startswith("$$"):
        return None
    parts = text[1:].split(".")
    if parts[0] == "inputs" and len(parts) == 2 and parts[1]:
        return Ref("inputs", parts[1])
    if parts[0] == "steps" and len(parts) >= 3 and parts[1] and parts[2] == "output":
        fields = tuple(parts[3:])
        if all(fields):
            return Ref("steps", parts[1], fields)
    raise RefSyntaxError(
        f"{text!r} is not a reference; write $inputs.NAME, $steps.ID.output or "
        "$steps.ID.output.FIELD (start with $$ for a literal dollar)"
    )


def iter_refs(value: Any) -> Iterator[Ref]:
    """Yield every reference inside a (possibly nested) value."""
    if isinstance(value, str):
        if value[:1] == "$":
            ref = parse_ref(value)
            if ref is not None:
                yield ref
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_refs(item)


def resolve(value: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """Replace every reference inside ``value`` by the value it names.

    Raises:
        LookupError: a field named by a reference is missing from a step's output.
    """
    if isinstance(value, str):
        if value.startswith("$$"):
            return value[1:]
        ref = parse_ref(value)
        if ref is None:
            return value
        if ref.source == "inputs":
            return inputs.get(ref.name)
        if ref.name not in outputs:  # a FAILED (on_failure: continue) or SKIPPED step
            return None
        return _follow(ref, outputs[ref.name])
    if isinstance(value, list | tuple):
        return [resolve(v, inputs, outputs) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, inputs, outputs) for k, v in value.items()}
    return value


def _follow(ref: Ref, output: Any) -> Any:
    for i, key in enumerate(ref.fields):
        if not isinstance(output, dict) or key not in output:
            where = ".".join((f"$steps.{ref.name}.output", *ref.fields[:i]))
            keys = sorted(output) if isinstance(output, dict) else []
            raise LookupError(
                f"{ref}: {where} has no field {key!r}{did_you_mean(key, keys)}"
                + ("" if isinstance(output, dict) else f" (it is a {type(output).__name__})")
            )
        output = output[key]
    return output


@attrs.frozen
class Plan:
    """The dependency graph of a workflow, computed once per workflow version.

    Attributes:
        deps: step id to the ids it waits for.
        dependants: step id to the ids that wait for it.
        order: a topological order of the step ids.
    """

    deps: Mapping[str, frozenset[str]]
    dependants: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]
    specs: Mapping[str, StepSpec] = attrs.Factory(dict)
    bindings: Mapping[str, tuple[Binding, ...]] = attrs.Factory(dict)

    def inputs_of(
        self, step_id: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A step's inputs with their references resolved: :func:`resolve`, compiled once.

        Raises:
            LookupError: as :func:`resolve`.
        """
        result = {}
        for name, how, what in self.bindings[step_id]:
            if how == _OUTPUT:
                result[name] = outputs.get(what)  # None: it FAILED (continue) or was SKIPPED
            elif how == _INPUT:
                result[name] = inputs.get(what)
            elif how == _VALUE:
                result[name] = what
            else:
                result[name] = resolve(what, inputs, outputs)
        return result

    def step(self, step_id: str) -> StepSpec:
        """The spec of a step, in O(1)."""
        return self.specs[step_id]

    def ready(self, step_id: str, done: Container[str]) -> bool:
        """Whether every dependency of ``step_id`` is in ``done``."""
        return all(map(done.__contains__, self.deps[step_id]))


def compile_plan(spec: WorkflowSpec) -> Plan:
    """Compute the graph of a validated workflow.

    The rules (unique ids, known references, no cycle) are the validator's;
    this only computes, once per workflow version.

    Raises:
        ValueError: the spec breaks one of those rules: it was not validated.
    """
    ids = [s.id for s in spec.steps]
    deps = {s.id: frozenset(_step_deps(s)) for s in spec.steps}
    order, stuck = toposort(ids, deps)
    unknown = set().union(*deps.values()) - set(ids)
    if stuck or unknown or len(deps) != len(ids):
        raise ValueError(f"workflow {spec.id!r} was not validated (Validator.validate says why)")
    dependants: dict[str, list[str]] = {sid: [] for sid in ids}
    for sid in ids:
        for d in deps[sid]:
            dependants[d].append(sid)
    specs = {s.id: s for s in spec.steps}
    bindings = {s.id: tuple(_binding(k, v) for k, v in s.inputs.items()) for s in spec.steps}
    return Plan(deps, {k: tuple(v) for k, v in dependants.items()}, tuple(order), specs, bindings)


# How one input of a step gets its value, decided once per workflow: (name, how, what).
Binding = tuple[str, str, Any]
_VALUE, _INPUT, _OUTPUT, _RESOLVE = "value", "input", "output", "resolve"


def _binding(name: str, value: Any) -> Binding:
    if isinstance(value, str):
        if value.startswith("$$"):
            return name, _VALUE, value[1:]
        ref = parse_ref(value)
        if ref is None:
            return name, _VALUE, value
        if ref.source == "inputs":
            return name, _INPUT, ref.name
        if not ref.fields:
            return name, _OUTPUT, ref.name
    elif value is None or isinstance(value, int | float):  # bool is an int
        return name, _VALUE, value
    return name, _RESOLVE, value  # fields to follow, or a list or dict: a new one each time


def _step_deps(step: StepSpec) -> set[str]:
    """The steps a step waits for: its ``depends_on`` and the steps its inputs read."""
    found = set(step.depends_on)
    for value in step.inputs.values():
        found.update(ref.name for ref in iter_refs(value) if ref.source == "steps")
    return found
