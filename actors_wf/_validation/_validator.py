"""The Validator: every problem of a workflow, at once, located; incrementally on edits.

A validation runs in three passes: read the structure (header, then each step
on its own, so one bad step does not hide the others), check each step
against the registry and the workflow, then check the whole graph (duplicate
ids, cycles, outputs, unused inputs and steps).

Incremental: given the previous result, a step is checked again only when its
own definition changed or it references a step that changed; the graph is
analysed again only when an edge changed. A hypothesis test proves the result
equals a full validation.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from .._core._cache import LRU
from .._core._errors import WorkflowInvalid
from .._core._graph import cycles, reaching, toposort
from .._core._spec import InputSpec, StepSpec, WorkflowSpec
from .._core._types import TypeExpr
from ._problems import Problem, ValidationResult, sort_key
from ._report import text_report
from ._semantic import (
    ComponentSource,
    Found,
    Scope,
    StepFacts,
    check_refs,
    check_step,
    component_output,
)
from ._source import DEFAULT_LIMITS, Source, WorkflowLimits, parse, read_file
from ._structure import structure

SpecInput = WorkflowSpec | Mapping[str, Any] | str | os.PathLike[str]
_KEY_CODES = frozenset({"WF002", "WF102", "WF106"})


@attrs.frozen
class _Step:
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


@attrs.frozen
class _Cache:
    """What a later incremental validation may reuse. Not part of result equality."""

    header_raw: Any
    header: WorkflowSpec | None
    header_problems: tuple[Problem, ...]
    steps: dict[str, _Step]  # by step id (unique ids only)
    facts: dict[str, StepFacts]  # by step id
    generation: int | None
    order: tuple[str | None, ...] = ()  # every step's id by index
    step_list: tuple[_Step, ...] = ()  # by index
    per_index: tuple[tuple[Problem, ...], ...] = ()  # each step's problems, by index
    outputs: dict[str, TypeExpr] = attrs.Factory(dict)
    readers: dict[str, frozenset[str]] = attrs.Factory(dict)  # id -> ids that name it
    other: tuple[Problem, ...] = ()  # duplicate ids, the steps field
    graph: tuple[Problem, ...] = ()


class Validator:
    """Validates workflow specs; ``engine.validator`` is one bound to the engine's registry.

    Args:
        registry: where components are looked up; without one, only the
            structure and the graph are checked.
    """

    def __init__(
        self,
        registry: ComponentSource | None = None,
        resources: Mapping[str, int] | None = None,
        limits: WorkflowLimits = DEFAULT_LIMITS,
    ) -> None:
        self.registry = registry
        self.resources = resources
        self.limits = limits
        # Bounded: ad-hoc workflows (execute_step makes one per call) must not pile up.
        self._checked: LRU[str, tuple[WorkflowSpec, int | None, ValidationResult]] = LRU(256)

    def check(self, spec: WorkflowSpec) -> ValidationResult:
        """Validate a registered workflow, cached per workflow version and registry state.

        A job of a known workflow pays one dict lookup for it.

        Raises:
            WorkflowInvalid: the workflow has errors.
        """
        generation = self.registry.generation if self.registry is not None else None
        cached = self._checked.get(spec.key)
        if cached is not None and cached[0] is spec and cached[1] == generation:
            result = cached[2]
        else:
            result = self.validate(spec)
            self._checked[spec.key] = (spec, generation, result)
        if not result.ok:
            raise WorkflowInvalid(result, text_report(result, color=False))
        return result

    def validate(
        self, spec: SpecInput, previous: ValidationResult | None = None
    ) -> ValidationResult:
        """Find every problem in a workflow.

        Args:
            spec: a path, YAML/JSON text, a dict or a :class:`WorkflowSpec`.
            previous: the result of validating an earlier version of the same
                workflow; only what changed is checked again.

        Returns:
            A :class:`ValidationResult`; ``result.ok`` when there is no error.
        """
        source, data = _read(spec, self.limits)
        if source is not None and source.problems and data is None:
            return ValidationResult(None, source.problems, source.name, _quotable(source))
        too_many = _too_many_steps(data, self.limits) if source is None else None
        if too_many is not None:
            return ValidationResult(None, (too_many,))
        old = previous.cache if previous is not None else None
        run = _Run(self.registry, old if isinstance(old, _Cache) else None, self.resources)
        with _collector_paused(data):
            return run.validate(data, source)

    def get_visual_report(
        self, result: ValidationResult, format: str = "text", *, color: bool | None = None
    ) -> str:
        """Render a result as ``text`` (source lines with carets) or ``html`` (with the DAG).

        Args:
            result: what :meth:`validate` returned.
            format: ``text`` or ``html``.
            color: ANSI colour in text; by default when stdout is a terminal.

        Raises:
            ValueError: an unknown format.
        """
        from ._report import render

        return render(result, format, color=color)


@contextlib.contextmanager
def _collector_paused(data: Any) -> Iterator[None]:
    """Pause the cyclic garbage collector while a large workflow is checked.

    Validation allocates many small records that all live on, so the
    collector's passes find nothing, at a cost that grows with the workflow
    (docs/performance.md). Nothing here makes reference cycles. Small workflows are left alone.
    """
    steps = data.get("steps") if isinstance(data, Mapping) else None
    if not isinstance(steps, list) or len(steps) < _PAUSE_GC_FROM or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_PAUSE_GC_FROM = 2000


def _read(spec: SpecInput, limits: WorkflowLimits) -> tuple[Source | None, Any]:
    """A str is YAML or JSON text, never a file name: a path is a :class:`~pathlib.Path`."""
    if isinstance(spec, WorkflowSpec | Mapping):
        return None, spec
    source = (
        read_file(spec, limits) if isinstance(spec, os.PathLike) else parse(spec, "<text>", limits)
    )
    return source, source.data


def _quotable(source: Source | None) -> str | None:
    """The text a report may quote: never that of a file that is not a workflow file."""
    if source is None or not (source.name == "<text>" or source.name.endswith(_SUFFIXES)):
        return None
    return source.text


_SUFFIXES = (".yaml", ".yml", ".json")


def _too_many_steps(data: Any, limits: WorkflowLimits) -> Problem | None:
    """A workflow given as a dict is held to the same ``max_steps`` as one read from text."""
    steps = data.get("steps") if isinstance(data, Mapping) else None
    if not isinstance(steps, list) or len(steps) <= limits.max_steps:
        return None
    return Problem(
        "WF004",
        ("steps",),
        f"the workflow has {len(steps):,} steps; the limit is {limits.max_steps:,} (max_steps)",
        "split the workflow, or raise WorkflowLimits.max_steps",
    )


class _Run:
    """One validation: holds what the passes share."""

    def __init__(
        self,
        registry: ComponentSource | None,
        old: _Cache | None,
        resources: Mapping[str, int] | None = None,
    ) -> None:
        self.registry = registry
        self.resources = resources
        self.generation = registry.generation if registry is not None else None
        # A registry change invalidates step checks but not the structure.
        self.old = old if old is not None and old.generation == self.generation else None
        self.old_structure = old

    def validate(self, data: Any, source: Source | None) -> ValidationResult:
        name = source.name if source is not None else "<dict>"
        text = _quotable(source)
        found: list[Problem] = list(source.problems) if source is not None else []
        if not isinstance(data, Mapping | WorkflowSpec):
            kind = "nothing" if data is None else type(data).__name__
            hint = "start the document with id:, steps: and the other fields"
            if isinstance(data, str) and data.strip().endswith(_SUFFIXES):
                hint = f"a str is workflow text; to read the file, pass Path({data.strip()!r})"
            found.append(Problem("WF003", (), f"expected a mapping at the top, got {kind}", hint))
            return ValidationResult(None, _locate(found, source), name, text, cache=None)
        header_raw, raw_steps = _split(data)
        cache = self._edit(header_raw, raw_steps) if self.old is not None else None
        if cache is None:
            cache = self._full(data, header_raw, raw_steps)
        found += cache.header_problems + cache.other + cache.graph
        for problems in cache.per_index:
            found += problems
        header = cache.header
        records = [s.spec for s in cache.step_list if s.spec is not None]
        spec = None
        if header is not None and len(records) == len(cache.step_list):
            spec = attrs.evolve(header, steps=tuple(records))
        workflow_id = header.id if header is not None else _raw_id(data)
        located = sorted(_locate(found, source), key=sort_key)
        return ValidationResult(workflow_id, tuple(located), name, text, spec, cache)

    # -- a full validation (or one reusing unchanged steps by id) ---------------

    def _full(self, data: Any, header_raw: Any, raw_steps: Sequence[Any]) -> _Cache:
        header, header_problems = self._header(header_raw, data)
        steps = self._steps(raw_steps)
        ids = [_step_id(s) for s in steps]
        known = frozenset(i for i in ids if i is not None)
        duplicates = _duplicates(ids)
        unique = {
            i: s for i, s in zip(ids, steps, strict=True) if i is not None and i not in duplicates
        }
        inputs = header.inputs if header is not None else _fallback_inputs(header_raw)
        recheck = self._recheck(header_raw, unique, known | duplicates)
        outputs = self._outputs(unique, recheck)
        scope = Scope(inputs, known, outputs, self.resources)
        facts: dict[str, StepFacts] = {}
        per_index: list[tuple[Problem, ...]] = []
        old_facts = self.old.facts if self.old is not None else {}
        for i, (sid, step) in enumerate(zip(ids, steps, strict=True)):
            fact = None
            if step.partial is not None and sid is not None:
                fact = old_facts.get(sid) if sid not in recheck and sid in unique else None
                if fact is None:
                    fact = _check(step, scope, self.registry)
                if sid in unique:
                    facts[sid] = fact
            per_index.append(_step_problems(step, fact, i))
        other = (*_steps_field_problems(data), *_duplicate_problems(ids, duplicates))
        graph = _graph_problems(header, ids, facts, scope)
        return _Cache(
            header_raw,
            header,
            tuple(header_problems),
            unique,
            facts,
            self.generation,
            order=tuple(ids),
            step_list=tuple(steps),
            per_index=tuple(per_index),
            outputs=outputs,
            readers=_readers(facts),
            other=other,
            graph=graph,
        )

    def _header(self, header_raw: Any, data: Any) -> tuple[WorkflowSpec | None, list[Problem]]:
        if isinstance(data, WorkflowSpec):
            return attrs.evolve(data, steps=()), []
        old = self.old_structure
        if old is not None and old.header_raw == header_raw:
            return old.header, list(old.header_problems)
        header, problems = structure({**header_raw, "steps": []}, WorkflowSpec, ())
        return header, problems

    def _steps(self, raw_steps: Sequence[Any]) -> list[_Step]:
        old = self.old_structure.steps if self.old_structure is not None else {}
        steps = []
        for raw in raw_steps:
            cached = old.get(_raw_id(raw) or "")
            steps.append(
                cached if cached is not None and cached.same_raw(raw) else _structure_step(raw)
            )
        return steps

    def _recheck(
        self, header_raw: Any, unique: Mapping[str, _Step], known: frozenset[str]
    ) -> set[str]:
        """Step ids whose checks must run again; all of them without a usable cache."""
        old = self.old
        if old is None or _inputs_part(old.header_raw) != _inputs_part(header_raw):
            return set(unique)
        changed = {sid for sid, s in unique.items() if old.steps.get(sid) is not s}
        changed |= set(old.steps) - set(unique)  # removed steps
        old_known = {sid for sid in old.order if sid is not None}
        changed |= old_known ^ known  # ids that appeared or went, duplicates included
        changed |= old_known - set(old.steps)  # ids that were duplicated
        recheck = set(changed)
        if changed:
            # "did you mean" hints name the closest step id: they change with the ids.
            recheck |= {
                sid
                for sid, f in old.facts.items()
                if any(p.code in ("WF205", "WF209") for p in f.problems)
            }
        for sid in changed:
            recheck |= old.readers.get(sid, frozenset())
        recheck |= {sid for sid in unique if sid not in old.facts}
        return recheck & set(unique)

    def _outputs(self, unique: Mapping[str, _Step], recheck: set[str]) -> dict[str, TypeExpr]:
        old = self.old.facts if self.old is not None else {}
        out: dict[str, TypeExpr] = {}
        for sid, step in unique.items():
            if step.partial is None:
                continue
            fact = old.get(sid)
            out[sid] = (
                fact.output
                if fact is not None and sid not in recheck
                else component_output(step.partial, self.registry)
            )
        return out

    # -- the fast path: same steps in the same places, some of them edited -------

    def _edit(self, header_raw: Any, raw_steps: Sequence[Any]) -> _Cache | None:
        """Re-check only edited steps and their readers; ``None`` when the edit is not simple.

        Simple means: the header is unchanged, the steps are the same number, and
        every edited step kept its id. Anything else goes the general way.
        """
        old = self.old
        assert old is not None
        olds = old.step_list
        if len(raw_steps) != len(olds) or header_raw != old.header_raw:
            return None
        if len(old.steps) != len(old.order):  # duplicate or missing ids: go the general way
            return None
        edited = [
            i for i, (r, s) in enumerate(zip(raw_steps, olds, strict=True)) if not s.same_raw(r)
        ]
        steps = list(olds)
        for i in edited:
            steps[i] = _structure_step(raw_steps[i])
            if _step_id(steps[i]) != old.order[i]:
                return None
        by_index = {sid: i for i, sid in enumerate(old.order) if sid in old.steps}
        unique = dict(old.steps)
        changed = set()
        for i in edited:
            sid = old.order[i]
            if sid in unique:
                unique[sid] = steps[i]
                changed.add(sid)
        recheck = set(changed)
        for sid in changed:
            recheck |= old.readers.get(sid, frozenset())
        outputs = dict(old.outputs)
        for sid in changed:
            partial = unique[sid].partial
            if partial is None:
                outputs.pop(sid, None)
            else:
                outputs[sid] = component_output(partial, self.registry)
        header = old.header
        inputs = header.inputs if header is not None else _fallback_inputs(header_raw)
        scope = Scope(
            inputs, frozenset(i for i in old.order if i is not None), outputs, self.resources
        )
        facts = dict(old.facts)
        per_index = list(old.per_index)
        edges_moved = False
        for i in edited:
            if old.order[i] not in old.steps:  # a duplicate id: checked, never cached
                fact = _check(steps[i], scope, self.registry) if steps[i].partial else None
                per_index[i] = _step_problems(steps[i], fact, i)
        for sid in recheck:
            i = by_index[sid]
            step = unique[sid]
            fact = _check(step, scope, self.registry) if step.partial is not None else None
            before = facts.pop(sid, None)
            if fact is not None:
                facts[sid] = fact
            per_index[i] = _step_problems(step, fact, i)
            edges_moved = edges_moved or _edges(before) != _edges(fact)
        readers = old.readers
        graph = old.graph
        if edges_moved or changed:
            if edges_moved:
                readers = _update_readers(old.readers, old.facts, facts, recheck)
            ordered = {sid: facts[sid] for sid in old.order if sid in facts}
            if edges_moved or any(outputs.get(s) != old.outputs.get(s) for s in changed):
                graph = _graph_problems(header, list(old.order), ordered, scope)
            facts = ordered
        return attrs.evolve(
            old,
            steps=unique,
            facts=facts,
            step_list=tuple(steps),
            per_index=tuple(per_index),
            outputs=outputs,
            readers=readers,
            graph=graph,
        )


def _check(step: _Step, scope: Scope, registry: ComponentSource | None) -> StepFacts:
    assert step.partial is not None
    fact = check_step(step.partial, scope, registry)
    if "inputs" in step.dropped:  # its inputs were unreadable, not missing
        fact = attrs.evolve(fact, problems=tuple(p for p in fact.problems if p.code != "WF203"))
    return fact


def _step_problems(step: _Step, fact: StepFacts | None, index: int) -> tuple[Problem, ...]:
    problems = step.problems + fact.problems if fact is not None else step.problems
    return tuple(_prefix(problems, index)) if problems else ()


def _edges(fact: StepFacts | None) -> Any:
    if fact is None:
        return None
    return (fact.deps, fact.data_deps, fact.uses_inputs, fact.meant, fact.mentions)


def _readers(facts: Mapping[str, StepFacts]) -> dict[str, frozenset[str]]:
    readers: dict[str, set[str]] = {}
    for sid, fact in facts.items():
        for name in fact.mentions:
            readers.setdefault(name, set()).add(sid)
    return {k: frozenset(v) for k, v in readers.items()}


def _update_readers(
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


def _graph_problems(
    header: WorkflowSpec | None,
    ids: list[str | None],
    facts: dict[str, StepFacts],
    scope: Scope,
) -> tuple[Problem, ...]:
    return (
        *_cycle_problems(ids, facts),
        *_output_and_usage_problems(header, ids, facts, scope),
    )


def _steps_field_problems(data: Any) -> list[Problem]:
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


def _fallback_inputs(header_raw: Any) -> dict[str, InputSpec]:
    """Input names of a header that did not structure, so references to them still resolve."""
    raw = header_raw.get("inputs")
    return {k: InputSpec() for k in raw if isinstance(k, str)} if isinstance(raw, Mapping) else {}


def _split(data: Mapping[str, Any] | WorkflowSpec) -> tuple[dict[str, Any], Sequence[Any]]:
    if isinstance(data, WorkflowSpec):
        return {"__spec__": attrs.evolve(data, steps=())}, list(data.steps)
    header = {k: v for k, v in data.items() if k != "steps"}
    steps = data.get("steps")
    return header, steps if isinstance(steps, list) else []


def _inputs_part(header_raw: Any) -> Any:
    if "__spec__" in header_raw:
        return header_raw["__spec__"].inputs
    return header_raw.get("inputs")


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


def _structure_step(raw: Any) -> _Step:
    if isinstance(raw, StepSpec):
        return _Step(raw, raw, (), raw)
    if not isinstance(raw, Mapping):
        got = type(raw).__name__
        problem = Problem(
            "WF103",
            (),
            f"expected a step (a mapping), got {got}",
            "write a step as '- id: ...' with component: and inputs:",
        )
        return _Step(raw, None, (problem,))
    spec, problems = structure(raw, StepSpec, ())
    if spec is not None:
        return _Step(raw, spec, (), spec, numbers=_spec_has_numbers(spec))
    faulty = {p.path[0] for p in problems if p.path}
    partial, _ = structure({k: v for k, v in raw.items() if k not in faulty}, StepSpec, ())
    return _Step(raw, None, tuple(problems), partial, frozenset(faulty))


def _spec_has_numbers(spec: StepSpec) -> bool:
    """Whether the raw step had number leaves, read off the record.

    Only ``retry``, ``timeout`` and input values can hold one: the rest are strings.
    """
    if spec.retry is not None or spec.timeout is not None:
        return True
    return any(not isinstance(v, str) and _has_numbers(v) for v in spec.inputs.values())


def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, StepSpec | WorkflowSpec):
        return raw.id
    value = raw.get("id") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) else None


def _step_id(step: _Step) -> str | None:
    return step.partial.id if step.partial is not None else _raw_id(step.raw)


def _prefix(problems: Sequence[Problem], index: int) -> list[Problem]:
    return [attrs.evolve(p, path=("steps", index, *p.path)) for p in problems]


def _duplicates(ids: list[str | None]) -> set[str]:
    seen: set[str] = set()
    dup: set[str] = set()
    for sid in ids:
        if sid is None:
            continue
        if sid in seen:
            dup.add(sid)
        seen.add(sid)
    return dup


def _duplicate_problems(ids: list[str | None], duplicates: set[str]) -> list[Problem]:
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


def _cycle_problems(ids: list[str | None], facts: Mapping[str, StepFacts]) -> list[Problem]:
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
        problems.append(
            Problem(
                "WF210",
                ("steps", position[cycle[0]]),
                f"steps form a cycle: {written}",
                f"remove the reference from {cycle[0]!r} to {last!r}, or another edge of it",
                related=tuple(cycle),
            )
        )
    return problems


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


def _locate(problems: list[Problem], source: Source | None) -> tuple[Problem, ...]:
    if source is None:
        return tuple(problems)
    out = []
    for p in problems:
        if p.line is None:
            where = source.locate(p.path, key=p.code in _KEY_CODES)
            if where is not None:
                p = attrs.evolve(p, line=where[0], column=where[1])
        out.append(p)
    return tuple(out)


def load_workflow(source: SpecInput, limits: WorkflowLimits = DEFAULT_LIMITS) -> WorkflowSpec:
    """Load a workflow from a record, a dict, YAML/JSON text (a str) or a file (a Path).

    The structure and the graph are checked (components are not: they may be
    registered later); warnings are ignored.

    Raises:
        WorkflowInvalid: with every error, located, and the text report.
    """
    result = Validator(limits=limits).validate(source)
    if not result.ok:
        raise WorkflowInvalid(result, text_report(result, color=False))
    if isinstance(source, WorkflowSpec):
        return source  # the same object: caches keyed on identity stay warm
    assert isinstance(result.spec, WorkflowSpec)
    return result.spec
