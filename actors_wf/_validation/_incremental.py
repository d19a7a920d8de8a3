"""One validation run: a full one, or an incremental one that reuses an earlier result.

Given the previous result, a step is checked again only when its own
definition changed or it references a step that changed; the graph is
analysed again only when an edge changed. A hypothesis test proves the
result equals a full validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._core._spec import WorkflowSpec
from .._core._types import TypeExpr
from ._graph_checks import (
    duplicate_problems,
    duplicates,
    edges,
    graph_problems,
    readers,
    steps_field_problems,
    update_readers,
)
from ._problems import Problem, ValidationResult, sort_key
from ._semantic import ComponentSource, Scope, StepFacts, check_step, component_output
from ._source import Source
from ._steps import (
    ReadStep,
    fallback_inputs,
    inputs_part,
    prefix,
    raw_id,
    split,
    step_id,
    structure_step,
)
from ._structure import structure

_KEY_CODES = frozenset({"WF002", "WF102", "WF106"})


@attrs.frozen
class Cache:
    """What a later incremental validation may reuse. Not part of result equality."""

    header_raw: Any
    header: WorkflowSpec | None
    header_problems: tuple[Problem, ...]
    steps: dict[str, ReadStep]  # by step id (unique ids only)
    facts: dict[str, StepFacts]  # by step id
    generation: int | None
    order: tuple[str | None, ...] = ()  # every step's id by index
    step_list: tuple[ReadStep, ...] = ()  # by index
    per_index: tuple[tuple[Problem, ...], ...] = ()  # each step's problems, by index
    outputs: dict[str, TypeExpr] = attrs.Factory(dict)
    readers: dict[str, frozenset[str]] = attrs.Factory(dict)  # id -> ids that name it
    other: tuple[Problem, ...] = ()  # duplicate ids, the steps field
    graph: tuple[Problem, ...] = ()


class Run:
    """One validation: holds what the passes share."""

    def __init__(
        self,
        registry: ComponentSource | None,
        old: Cache | None,
        resources: Mapping[str, int] | None = None,
        executors: frozenset[str] | None = None,
    ) -> None:
        self.registry = registry
        self.resources = resources
        self.executors = executors
        self.generation = registry.generation if registry is not None else None
        # A registry change invalidates step checks but not the structure.
        self.old = old if old is not None and old.generation == self.generation else None
        self.old_structure = old

    def validate(self, data: Any, source: Source | None) -> ValidationResult:
        name = source.name if source is not None else _unread_name(data)
        text = quotable(source)
        found: list[Problem] = list(source.problems) if source is not None else []
        if not isinstance(data, Mapping | WorkflowSpec):
            kind = "nothing" if data is None else type(data).__name__
            hint = "start the document with id:, steps: and the other fields"
            if isinstance(data, str) and data.strip().endswith(SUFFIXES):
                hint = f"a str is workflow text; to read the file, pass Path({data.strip()!r})"
            found.append(Problem("WF003", (), f"expected a mapping at the top, got {kind}", hint))
            return ValidationResult(None, locate(found, source), name, text, cache=None)
        header_raw, raw_steps = split(data)
        cache = self._edit(header_raw, raw_steps) if self.old is not None else None
        if cache is None:
            cache = self._full(data, header_raw, raw_steps)
        found += cache.header_problems + cache.other + cache.graph
        for problems in cache.per_index:
            found += problems
        found = _none_registered(found, len(cache.step_list))
        header = cache.header
        records = [s.spec for s in cache.step_list if s.spec is not None]
        spec = None
        if header is not None and len(records) == len(cache.step_list):
            spec = attrs.evolve(header, steps=tuple(records))
        workflow_id = header.id if header is not None else raw_id(data)
        located = sorted(locate(found, source), key=sort_key)
        return ValidationResult(workflow_id, tuple(located), name, text, spec, cache)

    # -- a full validation (or one reusing unchanged steps by id) ---------------

    def _full(self, data: Any, header_raw: Any, raw_steps: Sequence[Any]) -> Cache:
        header, header_problems = self._header(header_raw, data)
        steps = self._steps(raw_steps)
        ids = [step_id(s) for s in steps]
        known = frozenset(i for i in ids if i is not None)
        doubled = duplicates(ids)
        unique = {
            i: s for i, s in zip(ids, steps, strict=True) if i is not None and i not in doubled
        }
        inputs = header.inputs if header is not None else fallback_inputs(header_raw)
        recheck = self._recheck(header_raw, unique, known | doubled)
        outputs = self._outputs(unique, recheck)
        own = header.id if header is not None else raw_id(header_raw) or ""
        scope = Scope(inputs, known, outputs, self.resources, own, self.executors)
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
        other = (*steps_field_problems(data), *duplicate_problems(ids, doubled))
        graph = graph_problems(header, ids, facts, scope, unique)
        return Cache(
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
            readers=readers(facts),
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

    def _steps(self, raw_steps: Sequence[Any]) -> list[ReadStep]:
        old = self.old_structure.steps if self.old_structure is not None else {}
        steps = []
        for raw in raw_steps:
            cached = old.get(raw_id(raw) or "")
            steps.append(
                cached if cached is not None and cached.same_raw(raw) else structure_step(raw)
            )
        return steps

    def _recheck(
        self, header_raw: Any, unique: Mapping[str, ReadStep], known: frozenset[str]
    ) -> set[str]:
        """Step ids whose checks must run again; all of them without a usable cache."""
        old = self.old
        if old is None or inputs_part(old.header_raw) != inputs_part(header_raw):
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

    def _outputs(self, unique: Mapping[str, ReadStep], recheck: set[str]) -> dict[str, TypeExpr]:
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

    def _edit(self, header_raw: Any, raw_steps: Sequence[Any]) -> Cache | None:
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
            steps[i] = structure_step(raw_steps[i])
            if step_id(steps[i]) != old.order[i]:
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
        inputs = header.inputs if header is not None else fallback_inputs(header_raw)
        known = frozenset(i for i in old.order if i is not None)
        own = header.id if header is not None else raw_id(header_raw) or ""
        scope = Scope(inputs, known, outputs, self.resources, own, self.executors)
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
            edges_moved = edges_moved or edges(before) != edges(fact)
        readers = old.readers
        graph = old.graph
        if edges_moved or changed:
            if edges_moved:
                readers = update_readers(old.readers, old.facts, facts, recheck)
            ordered = {sid: facts[sid] for sid in old.order if sid in facts}
            # A cycle is located at the reference closing it: editing a step on it moves that.
            on_cycles = {sid for p in old.graph if p.code == "WF210" for sid in p.related}
            if (
                edges_moved
                or not on_cycles.isdisjoint(changed)
                or any(outputs.get(s) != old.outputs.get(s) for s in changed)
            ):
                graph = graph_problems(header, list(old.order), ordered, scope, unique)
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


def _check(step: ReadStep, scope: Scope, registry: ComponentSource | None) -> StepFacts:
    assert step.partial is not None
    fact = check_step(step.partial, scope, registry)
    if "inputs" in step.dropped:  # its inputs were unreadable, not missing
        fact = attrs.evolve(fact, problems=tuple(p for p in fact.problems if p.code != "WF203"))
    return fact


def _step_problems(step: ReadStep, fact: StepFacts | None, index: int) -> tuple[Problem, ...]:
    problems = step.problems + fact.problems if fact is not None else step.problems
    return tuple(prefix(problems, index)) if problems else ()


def locate(problems: list[Problem], source: Source | None) -> tuple[Problem, ...]:
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


def quotable(source: Source | None) -> str | None:
    """The text a report may quote: never that of a file that is not a workflow file."""
    if source is None or not (source.name == "<text>" or source.name.endswith(SUFFIXES)):
        return None
    return source.text


SUFFIXES = (".yaml", ".yml", ".json")


def _unread_name(data: Any) -> str:
    return f"<workflow {data.id!r}>" if isinstance(data, WorkflowSpec) else "<dict>"


def _none_registered(found: list[Problem], steps: int) -> list[Problem]:
    """One problem, not one per step, when no component of the workflow is registered.

    That is never a typo in each step: the module that registers them was not imported.
    """
    unknown = [p for p in found if p.code == "WF201"]
    if len(unknown) < 2 or len(unknown) < steps or any(p.hint.startswith("did") for p in unknown):
        return found
    names = sorted({p.message.split("'")[1] for p in unknown})
    first = Problem(
        "WF201",
        unknown[0].path,
        f"none of the {len(names)} components this workflow uses is registered"
        f" ({', '.join(names)})",
        "import the module that registers them first (the CLI: -c MODULE, or"
        " --components-beside to import the .py file beside the workflow)",
    )
    return [first if p is unknown[0] else p for p in found if p.code != "WF201" or p is unknown[0]]
