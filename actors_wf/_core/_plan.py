"""References between steps, and the dependency graph a job runs by.

A reference is a whole string value: ``$inputs.NAME``, ``$steps.ID.output``,
either followed by fields and indexes (``.rows[0].name``, ``["a key"]``), and
in a ``for_each`` step ``$item`` and ``$index``; ``$$`` at the start escapes a
literal dollar. References may sit inside lists and dicts of a step's inputs.
"""

from __future__ import annotations

import functools
import json
import re
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
        source: ``inputs``, ``steps``, ``item`` (the element a ``for_each``
            step runs for) or ``index`` (its position).
        name: the input name or the step id (empty for ``item`` and ``index``).
        fields: what to follow into the value: a ``str`` is a key of a
            mapping, an ``int`` an index into a list.
    """

    source: str
    name: str
    fields: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        return self.base + path_text(self.fields)

    @property
    def base(self) -> str:
        """The reference without its fields: ``$steps.a.output``, ``$inputs.x``, ``$item``."""
        if self.source == "steps":
            return f"$steps.{self.name}.output"
        if self.source == "inputs":
            return f"$inputs.{self.name}"
        return f"${self.source}"


def path_text(fields: tuple[str | int, ...]) -> str:
    """``("items", 0, "a key")`` -> ``.items[0]["a key"]``."""
    out = []
    for f in fields:
        if isinstance(f, int):
            out.append(f"[{f}]")
        elif _PLAIN_KEY.fullmatch(f):
            out.append(f".{f}")
        else:
            out.append("[" + json.dumps(f) + "]")
    return "".join(out)


class RefSyntaxError(ValueError):
    """A string starts with ``$`` but is not a reference."""


_PLAIN_KEY = re.compile(r"[^.\[\]\s\"']+")
_NAME = r"[^.\[\]\s()=!<>,'\"]+"  # a step id, input name or field: no space, no operator
_HEAD = re.compile(rf"\$(?:inputs\.({_NAME})|steps\.({_NAME})\.output|(item)|(index))")
_ACCESSOR = re.compile(rf"\.({_NAME})|\[(-?\d+)\]|\[\"((?:[^\"\\]|\\.)*)\"\]|\['([^']*)'\]")
_SHAPES = (
    "write $inputs.NAME, $steps.ID.output or $steps.ID.output.FIELD, with [0] or "
    '["key"] to index (start with $$ for a literal dollar)'
)


def ref_end(text: str, at: int) -> int:
    """Where a reference that starts at ``text[at]`` (a ``$``) ends, for a text holding more."""
    head = _HEAD.match(text, at)
    if head is None:
        end = at + 1
        while end < len(text) and not text[end].isspace() and text[end] not in "()=!<>,":
            end += 1
        return end
    end = head.end()
    while (step := _ACCESSOR.match(text, end)) is not None:
        end = step.end()
    return end


def refs_in_text(text: str) -> Iterator[Ref]:
    """The references in a ``when:`` condition, quoted texts skipped (no parse needed).

    Raises:
        RefSyntaxError: a ``$`` that does not start a reference.
    """
    at, quote = 0, ""
    while at < len(text):
        char = text[at]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "$":
            end = ref_end(text, at)
            ref = parse_ref(text[at:end])
            if ref is not None:
                yield ref
            at = end
            continue
        at += 1


@functools.lru_cache(maxsize=65536)
def parse_ref(text: str) -> Ref | None:
    """Parse a reference; ``None`` when ``text`` is a plain string.

    ``$steps.a.output.rows[0].name``, ``$steps.a.output["a key"]``,
    ``$inputs.files[2]``; in a ``for_each`` step also ``$item``, ``$item.field``
    and ``$index``.

    Raises:
        RefSyntaxError: it starts with ``$`` but has not the form of one.
    """
    if not text.startswith("$") or text.startswith("$$"):
        return None
    head = _HEAD.match(text)
    if head is None:
        raise RefSyntaxError(f"{text!r} is not a reference; {_SHAPES}")
    fields: list[str | int] = []
    at = head.end()
    while at < len(text):
        step = _ACCESSOR.match(text, at)
        if step is None:
            rest, before = text[at:], text[:at]
            raise RefSyntaxError(
                f"{text!r} is not a reference: {rest!r} cannot follow {before!r}; {_SHAPES}"
            )
        key, index, quoted, single = step.groups()
        if index is not None:
            fields.append(int(index))
        elif quoted is not None:
            fields.append(json.loads(f'"{quoted}"'))
        else:
            fields.append(key if key is not None else single)
        at = step.end()
    inputs, step_id, item, _ = head.groups()
    if inputs is not None:
        return Ref("inputs", inputs, tuple(fields))
    if step_id is not None:
        return Ref("steps", step_id, tuple(fields))
    if item is not None:
        return Ref("item", "", tuple(fields))
    if fields:
        raise RefSyntaxError(f"{text!r} is not a reference: $index is a number, with no fields")
    return Ref("index", "")


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


def resolve(
    value: Any,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    item: Any = None,
    index: int | None = None,
) -> Any:
    """Replace every reference inside ``value`` by the value it names.

    ``item`` and ``index`` are what ``$item`` and ``$index`` name, in a step of a map.

    Raises:
        LookupError: a field or index a reference follows is not there.
    """
    if isinstance(value, str):
        if value.startswith("$$"):
            return value[1:]
        ref = parse_ref(value)
        if ref is None:
            return value
        return lookup(ref, inputs, outputs, item, index)
    if isinstance(value, list | tuple):
        return [resolve(v, inputs, outputs, item, index) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, inputs, outputs, item, index) for k, v in value.items()}
    return value


def lookup(
    ref: Ref,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    item: Any = None,
    index: int | None = None,
) -> Any:
    """The value one reference names.

    Raises:
        LookupError: as :func:`resolve`.
    """
    if ref.source == "inputs":
        start = inputs.get(ref.name)
    elif ref.source == "steps":
        if ref.name not in outputs:  # a FAILED (on_failure: continue) or SKIPPED step
            return None
        start = outputs[ref.name]
    elif ref.source == "item":
        start = item
    else:
        return index
    return _follow(ref, start) if ref.fields else start


def _follow(ref: Ref, value: Any) -> Any:
    for i, key in enumerate(ref.fields):
        where = ref.base + path_text(ref.fields[:i])
        if isinstance(key, int):
            if not isinstance(value, list | tuple):
                raise LookupError(f"{ref}: {where} is a {type(value).__name__}, not a list")
            if not -len(value) <= key < len(value):
                raise LookupError(f"{ref}: {where} has {len(value)} items, no [{key}]")
        elif not isinstance(value, dict) or key not in value:
            keys = sorted(value) if isinstance(value, dict) else []
            raise LookupError(
                f"{ref}: {where} has no field {key!r}{did_you_mean(key, keys)}"
                + ("" if isinstance(value, dict) else f" (it is a {type(value).__name__})")
            )
        value = value[key]
    return value


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
    tolerates: Mapping[str, frozenset[str]] = attrs.Factory(dict)
    waits: frozenset[str] = frozenset()  # the wait_for steps
    subs: frozenset[str] = frozenset()  # the steps that run a workflow
    # Steps that decide at run time (when, for_each, wait_for, workflow): the
    # JobActor looks at these closer; every other step costs one set test.
    dynamic: frozenset[str] = frozenset()

    def inputs_of(
        self,
        step_id: str,
        inputs: Mapping[str, Any],
        outputs: Mapping[str, Any],
        item: Any = None,
        index: int | None = None,
    ) -> dict[str, Any]:
        """A step's inputs with their references resolved: :func:`resolve`, compiled once.

        ``item`` and ``index``: what ``$item`` and ``$index`` name, for an item of a map.

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
            elif how == _DEFAULTED:
                value, default, needs = what
                missed = any(n not in outputs for n in needs)
                result[name] = default if missed else resolve(value, inputs, outputs, item, index)
            else:
                result[name] = resolve(what, inputs, outputs, item, index)
        return result

    def step(self, step_id: str) -> StepSpec:
        """The spec of a step, in O(1)."""
        return self.specs[step_id]

    def ready(self, step_id: str, done: Container[str], missed: Container[str] = ()) -> bool:
        """Whether every dependency of ``step_id`` is in ``done``.

        Or, for one it has ``defaults`` for, in ``missed`` (SKIPPED, or FAILED
        with ``on_failure: continue``).
        """
        if missed:
            tolerated = self.tolerates.get(step_id)
            if tolerated:
                deps = self.deps[step_id]
                return all(d in done or (d in tolerated and d in missed) for d in deps)
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
    bindings = {s.id: tuple(_bindings(s)) for s in spec.steps}
    tolerates = {s.id: _tolerated(s) for s in spec.steps if s.defaults}
    return Plan(
        deps,
        {k: tuple(v) for k, v in dependants.items()},
        tuple(order),
        specs,
        bindings,
        {k: v for k, v in tolerates.items() if v},
        frozenset(s.id for s in spec.steps if s.wait_for is not None),
        frozenset(s.id for s in spec.steps if s.workflow is not None),
        frozenset(
            s.id
            for s in spec.steps
            if s.when is not None
            or s.for_each is not None
            or s.wait_for is not None
            or s.workflow is not None
        ),
    )


def _bindings(step: StepSpec) -> Iterator[Binding]:
    for name, value in step.inputs.items():
        if name in step.defaults:
            needs = frozenset(r.name for r in iter_refs(value) if r.source == "steps")
            yield name, _DEFAULTED, (value, step.defaults[name], needs)
        else:
            yield _binding(name, value)


def _tolerated(step: StepSpec) -> frozenset[str]:
    """The steps whose miss ``step`` runs on: every input reading them has a default."""
    read: dict[str, bool] = {}
    for name, value in step.inputs.items():
        for ref in iter_refs(value):
            if ref.source == "steps":
                read[ref.name] = read.get(ref.name, True) and name in step.defaults
    others = _deps_besides_inputs(step)
    return frozenset(d for d, all_defaulted in read.items() if all_defaulted and d not in others)


# How one input of a step gets its value, decided once per workflow: (name, how, what).
Binding = tuple[str, str, Any]
_VALUE, _INPUT, _OUTPUT, _RESOLVE = "value", "input", "output", "resolve"
_DEFAULTED = "defaulted"


def _binding(name: str, value: Any) -> Binding:
    if isinstance(value, str):
        if value.startswith("$$"):
            return name, _VALUE, value[1:]
        ref = parse_ref(value)
        if ref is None:
            return name, _VALUE, value
        if ref.source == "inputs" and not ref.fields:
            return name, _INPUT, ref.name
        if ref.source == "steps" and not ref.fields:
            return name, _OUTPUT, ref.name
    elif value is None or isinstance(value, int | float):  # bool is an int
        return name, _VALUE, value
    return name, _RESOLVE, value  # fields to follow, or a list or dict: a new one each time


def _step_deps(step: StepSpec) -> set[str]:
    """The steps a step waits for: its ``depends_on`` and the steps it reads.

    It reads them in its inputs, its ``for_each`` list and its ``when`` condition.
    """
    found = _deps_besides_inputs(step)
    for value in step.inputs.values():
        found.update(ref.name for ref in iter_refs(value) if ref.source == "steps")
    return found


def _deps_besides_inputs(step: StepSpec) -> set[str]:
    """``depends_on`` and what ``for_each`` and ``when`` read: no default stands in for those."""
    found = set(step.depends_on)
    if step.for_each is not None:
        found.update(r.name for r in iter_refs(step.for_each) if r.source == "steps")
    if step.when is not None:
        found.update(r.name for r in refs_in_text(step.when) if r.source == "steps")
    return found
