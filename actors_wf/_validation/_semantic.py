"""Semantic checks: what a workflow means against the registry and itself.

Step checks return problems with paths relative to the step, so that a cached
result stays right when the step moves; the validator adds ``steps[i]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs

from .._core._conditions import ConditionError, check_types, parse_condition
from .._core._errors import closest
from .._core._plan import Ref, RefSyntaxError, iter_refs, parse_ref, path_text
from .._core._spec import InputSpec, StepSpec, WorkflowSpec
from .._core._types import ANY, TypeExpr, parse_type
from ._near_refs import looks_like_reference, meant_reference
from ._problems import Path, Problem

COMPONENT = "component"
WORKFLOW = "workflow"
_INT = parse_type("int")


class ComponentSource(Protocol):
    """What the validator needs of a registry (the ``Registry`` facade fits)."""

    @property
    def generation(self) -> int:
        """Changes whenever an entry changes."""

    def lookup(self, component_type: str, component_id: str) -> Any:
        """An entry with ``definition``, ``required_inputs``, ``takes_any_input``."""


@attrs.frozen
class StepFacts:
    """What one step's check learned, for the checks of other steps and the graph.

    Attributes:
        problems: its problems, paths relative to the step.
        deps: step ids it reads from or waits for (known ids only).
        data_deps: step ids whose output it reads.
        output: its component's output type (``any`` when unknown).
        uses_inputs: workflow input names it reads.
        meant: names a misspelt reference probably meant (the hint's
            suggestion); they count as used, so one typo is one problem.
        mentions: every step id it names, known or not: when one of those
            steps changes, this step is checked again.
    """

    problems: tuple[Problem, ...]
    deps: frozenset[str]
    data_deps: frozenset[str]
    output: TypeExpr
    uses_inputs: frozenset[str]
    meant: frozenset[str] = frozenset()
    mentions: frozenset[str] = frozenset()


@attrs.define
class Found:
    """What checking references collects (mutable, for one check)."""

    problems: list[Problem] = attrs.Factory(list)
    data_deps: set[str] = attrs.Factory(set)
    uses: set[str] = attrs.Factory(set)
    meant: set[str] = attrs.Factory(set)
    mentions: set[str] = attrs.Factory(set)


@attrs.frozen
class Scope:
    """What a step's references may name.

    Attributes:
        inputs: declared workflow inputs.
        ids: every step id in the workflow.
        outputs: step id -> its output type (``any`` when unknown).
    """

    inputs: Mapping[str, InputSpec]
    ids: frozenset[str]
    outputs: Mapping[str, TypeExpr]
    resources: Mapping[str, int] | None = None
    workflow_id: str = ""  # the workflow's own id: a step may not run it again inside it
    executors: frozenset[str] | None = None  # where attempts may run (None: not checked)


def component_output(step: StepSpec, registry: ComponentSource | None) -> TypeExpr:
    """The type of a step's output: its component's declared one (``any`` when unknown).

    A ``for_each`` step's output is the list of its items' outputs; with
    ``on_item_failure: collect`` an item may be an error record instead.
    """
    kind = ANY
    if step.wait_for is not None:
        return _parse_or_any(step.wait_for.type)
    if step.workflow is not None:
        child = _child_spec(step.workflow, registry)
        if child is None:
            return ANY
        return TypeExpr("record", fields=tuple((name, ANY) for name in child.outputs))
    if registry is not None:
        with contextlib.suppress(LookupError):  # an unknown component: WF201 says so
            kind = _parse_or_any(registry.lookup(COMPONENT, step.component).definition.output)
    if step.for_each is None:
        return kind
    return TypeExpr("list", ANY if step.on_item_failure == "collect" else kind)


def _parse_or_any(name: str | None) -> TypeExpr:
    try:
        return parse_type(name) if name else ANY
    except ValueError:
        return ANY


def check_step(step: StepSpec, scope: Scope, registry: ComponentSource | None) -> StepFacts:
    """Every problem of one step, with what the rest of the validation needs."""
    found = Found()
    problems = found.problems
    entry = _component(step, registry, problems)
    declared: dict[str, str] = dict(entry.definition.inputs or {}) if entry is not None else {}
    misspelt: set[str] = set()
    if step.workflow is not None:
        child = _child_spec(step.workflow, registry)
        if child is not None:
            declared = {name: spec.type for name, spec in child.inputs.items()}
    item = check_for_each(step, scope, found) if step.for_each is not None else None
    if step.when is not None:
        check_when(step.when, scope, found)
    for name, value in step.inputs.items():
        where: Path = ("inputs", name)
        if entry is not None and name not in declared and not entry.takes_any_input:
            problems.append(_unknown_input(step, name, declared))
            misspelt.update(closest(name, set(declared) - set(step.inputs), n=1))
        slot = _parse_or_any(declared.get(name))
        refs = check_refs(value, where, scope, found, item)
        if refs is None:
            continue
        if not refs:
            if slot.kind != "any" and slot.problem(value) is not None:
                literal = slot.problem(value, f"input {name!r}") or ""
                problems.append(_wrong_literal(step, name, literal, slot))
        elif isinstance(value, str):
            _check_feed(step, name, refs[0], slot, scope, problems, item)
    if step.workflow is not None:
        declared = _check_workflow(step, scope, registry, found)
    _check_defaults(step, declared, problems)
    _check_kind(step, problems)
    if entry is not None:
        # A misspelt input is one mistake: its WF202 names the right one already.
        _missing_inputs(step, entry, declared, problems, misspelt)
    deps = set(found.data_deps)
    found.mentions.update(step.depends_on)
    for j, dep in enumerate(step.depends_on):
        if dep in scope.ids:
            deps.add(dep)
        else:
            problems.append(_unknown_dependency(j, dep, scope))
    _check_resources(step, entry, scope, problems)
    _check_executor(step, entry, scope, problems)
    output = component_output(step, registry)
    return StepFacts(
        tuple(problems),
        frozenset(deps),
        frozenset(found.data_deps),
        output,
        frozenset(found.uses),
        frozenset(found.meant),
        frozenset(found.mentions),
    )


def _check_executor(step: StepSpec, entry: Any, scope: Scope, problems: list[Problem]) -> None:
    """The step's ``executor``, else its component's ``isolation``, names an executor it has."""
    if scope.executors is None:
        return
    if step.executor is not None:
        name, where, what = step.executor, ("executor",), f"step {step.id!r}"
    elif entry is not None:
        name = getattr(entry.definition, "isolation", "thread")
        where, what = ("component",), f"component {step.component!r}"
    else:
        return
    if name in scope.executors:
        return
    near = closest(name, scope.executors, n=1)
    has = ", ".join(sorted(scope.executors))
    hint = f"did you mean {near[0]!r}? " if near else ""
    problems.append(
        Problem(
            "WF218",
            where,
            f"{what} runs on executor {name!r}, which this engine lacks",
            f"{hint}it has: {has}; give one with Engine(executors={{{name!r}: ...}})",
        )
    )


def _check_resources(step: StepSpec, entry: Any, scope: Scope, problems: list[Problem]) -> None:
    if scope.resources is None:
        return
    declared = getattr(entry.definition, "resources", {}) if entry is not None else {}
    need = step.resources or declared
    where: Path = ("resources",) if step.resources else ("component",)
    for name, amount in need.items():
        have = scope.resources.get(name)
        if have is None:
            known = ", ".join(sorted(n for n in scope.resources if n != "steps")) or "none"
            problems.append(
                Problem(
                    "WF211",
                    (*where, name) if step.resources else where,
                    f"resource {name!r} does not exist in this engine",
                    f"declare it: Engine(resources={{{name!r}: N}}); known: {known}",
                )
            )
        elif amount > have:
            problems.append(
                Problem(
                    "WF211",
                    (*where, name) if step.resources else where,
                    f"asks for {amount} {name!r} but the engine has {have}; "
                    "the step could never start",
                    f"ask for at most {have}, or give the engine more",
                )
            )


def _component(step: StepSpec, registry: ComponentSource | None, problems: list[Problem]) -> Any:
    if registry is None or step.wait_for is not None or step.workflow or not step.component:
        return None  # a missing component is WF101 (see _check_kind)
    try:
        return registry.lookup(COMPONENT, step.component)
    except LookupError as exc:
        near = getattr(exc, "suggestions", [])
        hint = (
            f"did you mean {near[0]!r}?"
            if near
            else "register it with @component or registry.register before running"
        )
        problems.append(
            Problem(
                "WF201", ("component",), f"no component {step.component!r} is registered", hint
            )
        )
        return None


def _unknown_input(step: StepSpec, name: str, declared: Mapping[str, str]) -> Problem:
    near = closest(name, declared, n=1)
    takes = ", ".join(f"{n}: {t}" for n, t in declared.items()) or "no inputs"
    hint = f"did you mean {near[0]!r}? it takes {takes}" if near else f"it takes {takes}"
    return Problem(
        "WF202", ("inputs", name), f"component {step.component!r} takes no input {name!r}", hint
    )


def _missing_inputs(
    step: StepSpec,
    entry: Any,
    declared: Mapping[str, str],
    problems: list[Problem],
    misspelt: set[str],
) -> None:
    missing = sorted(set(entry.required_inputs) - set(step.inputs) - misspelt)
    for name in missing:
        kind = declared.get(name, "any")
        problems.append(
            Problem(
                "WF203",
                ("inputs",),
                f"component {step.component!r} needs input {name!r} ({kind}), which is not given",
                f"add {name}: <{kind}> under inputs (a value or a $reference)",
            )
        )


def _wrong_literal(step: StepSpec, name: str, problem: str, slot: TypeExpr) -> Problem:
    return Problem(
        "WF208",
        ("inputs", name),
        f"{problem.split(': ', 1)[-1]} for input {name!r} of {step.component!r}",
        f"write a {slot} value",
    )


def _unknown_dependency(j: int, dep: str, scope: Scope) -> Problem:
    near = closest(dep, scope.ids, n=1)
    hint = f"did you mean {near[0]!r}?" if near else f"step ids: {', '.join(sorted(scope.ids))}"
    return Problem("WF209", ("depends_on", j), f"depends_on names no step {dep!r}", hint)


def check_refs(
    value: Any, where: Path, scope: Scope, found: Found, item: TypeExpr | None = None
) -> list[Ref] | None:
    """Check every reference in a value; ``None`` when one is malformed.

    ``item`` is the type of ``$item`` in a ``for_each`` step (``None`` elsewhere).
    """
    try:
        if isinstance(value, str):  # the common case, without a generator
            ref = parse_ref(value) if value[:1] == "$" else None
            refs = [ref] if ref is not None else []
        else:
            refs = list(iter_refs(value))
    except RefSyntaxError as exc:
        found.problems.append(_not_a_reference(str(exc).split("; ")[0], value, where, found))
        return None
    if isinstance(value, str) and value.startswith(_BARE):
        _bare_reference(value, where, scope, found)
    for ref in refs:
        check_ref(ref, where, scope, found, item)
    return refs


def check_ref(
    ref: Ref, where: Path, scope: Scope, found: Found, item: TypeExpr | None = None
) -> TypeExpr:
    """Check one reference; the type it yields (``any`` where unknown or wrong)."""
    if ref.source == "inputs":
        return _check_input_ref(ref, where, scope, found)
    if ref.source == "steps":
        return _check_step_ref(ref, where, scope, found)
    if item is None:
        found.problems.append(
            Problem(
                "WF108",
                where,
                f"{ref} names the item of a map, but this is not a for_each step",
                "use $item and $index only in the inputs of a step with for_each:",
            )
        )
        return ANY
    if ref.source == "index":
        return _INT
    return field_type(ref, item, where, found.problems) if ref.fields else item


def check_for_each(step: StepSpec, scope: Scope, found: Found) -> TypeExpr:
    """The type of ``$item``: the element type of the list ``for_each`` names."""
    where: Path = ("for_each",)
    text = step.for_each or ""
    try:
        ref = parse_ref(text)
    except RefSyntaxError as exc:
        found.problems.append(_not_a_reference(str(exc).split("; ")[0], text, where, found))
        return ANY
    if ref is None or ref.source not in ("inputs", "steps"):
        found.problems.append(
            Problem(
                "WF212",
                where,
                f"for_each takes a reference to a list, got {text!r}",
                "write for_each: $steps.ID.output (or a field of it), or $inputs.NAME",
            )
        )
        return ANY
    kind = check_ref(ref, where, scope, found)
    element = kind.element()
    if element is None:
        found.problems.append(
            Problem(
                "WF212",
                where,
                f"for_each needs a list, but {ref} is {kind}",
                "name a list (a field of it that is one, e.g. .items), or return one",
                related=(ref.name,) if ref.source == "steps" else (),
            )
        )
        return ANY
    return element


def check_when(text: str, scope: Scope, found: Found) -> None:
    """A ``when:`` condition parses, names what exists, and is a bool of fitting types."""
    where: Path = ("when",)
    try:
        node = parse_condition(text)
    except ConditionError as exc:
        meant = _meant_in(text)
        hint = f"did you mean {meant}?" if meant else _WHEN_HINT
        found.problems.append(Problem("WF109", where, f"when: {exc}", hint))
        return
    types: dict[Ref, TypeExpr] = {}
    for ref in node.refs():
        if ref.source in ("item", "index"):
            found.problems.append(
                Problem(
                    "WF108",
                    where,
                    f"when: {ref} names an item, but a condition is checked once for the step",
                    "test the list itself, or filter the items in a step before the map",
                )
            )
            types[ref] = ANY
        else:
            types[ref] = check_ref(ref, where, scope, found)
    for problem in check_types(node, lambda ref: types.get(ref, ANY)):
        found.problems.append(
            Problem(
                "WF213",
                where,
                f"when: {problem}",
                "compare values of one kind; see docs/workflows.md",
            )
        )


_WHEN_HINT = (
    "write a reference to a bool ($steps.check.output.ok) or a comparison"
    " ('$steps.count.output.n > 0'; == != < <= > >= in, and or not)"
)


def _meant_in(text: str) -> str | None:
    for word in text.split():
        if word.startswith("$"):
            try:
                parse_ref(word)
            except RefSyntaxError:
                meant = meant_reference(word)
                return str(meant) if meant is not None else None
    return None


def _check_defaults(step: StepSpec, declared: Mapping[str, str], problems: list[Problem]) -> None:
    for name, value in step.defaults.items():
        slot = _parse_or_any(declared.get(name))
        wrong = slot.problem(value, f"the default of input {name!r}")
        if name in step.inputs and wrong is not None:
            problems.append(Problem("WF208", ("defaults", name), wrong, f"write a {slot} value"))
        if name not in step.inputs:
            problems.append(
                Problem(
                    "WF214",
                    ("defaults", name),
                    f"defaults names input {name!r}, which the step does not give",
                    f"give {name!r} under inputs (a reference to a step), or remove its default",
                )
            )


def _not_a_reference(message: str, value: Any, where: Path, found: Found) -> Problem:
    meant = meant_reference(value) if isinstance(value, str) else None
    if meant is None:
        return Problem("WF107", where, message, _REF_HINT)
    found.meant.add(meant.name)
    return Problem("WF107", where, message, f"did you mean {meant}?")


_BARE = ("inputs.", "steps.")


def _bare_reference(value: str, where: Path, scope: Scope, found: Found) -> None:
    meant = looks_like_reference(value, scope.inputs, scope.ids)
    if meant is not None:
        found.meant.add(meant.name)
        message = f"{value!r} is plain text, though it names {meant} without its $"
        hint = f"write {meant} to pass the value"
        found.problems.append(Problem("WF304", where, message, hint))


_REF_HINT = (
    "write $inputs.NAME, $steps.ID.output or $steps.ID.output.FIELD; "
    "start with $$ for a literal dollar"
)


def _check_input_ref(ref: Ref, where: Path, scope: Scope, found: Found) -> TypeExpr:
    if ref.name in scope.inputs:
        found.uses.add(ref.name)
        kind = _parse_or_any(scope.inputs[ref.name].type)
        return field_type(ref, kind, where, found.problems) if ref.fields else kind
    near = closest(ref.name, scope.inputs, n=1)
    hint = f"did you mean $inputs.{near[0]}?" if near else f"declare {ref.name!r} under inputs"
    found.problems.append(Problem("WF204", where, f"{ref} names no workflow input", hint))
    found.meant.update(near)
    return ANY


def _check_step_ref(ref: Ref, where: Path, scope: Scope, found: Found) -> TypeExpr:
    found.mentions.add(ref.name)
    if ref.name not in scope.ids:
        near = closest(ref.name, scope.ids, n=1)
        hint = f"did you mean $steps.{near[0]}.output?" if near else "check the step id"
        found.problems.append(Problem("WF205", where, f"{ref} names no step {ref.name!r}", hint))
        found.meant.update(near)
        return ANY
    found.data_deps.add(ref.name)
    kind = scope.outputs.get(ref.name, ANY)
    return field_type(ref, kind, where, found.problems) if ref.fields else kind


def field_type(ref: Ref, kind: TypeExpr, where: Path, problems: list[Problem]) -> TypeExpr:
    """The type ``ref`` yields, following its fields; a WF206 problem when one is missing."""
    for i, name in enumerate(ref.fields):
        at = ref.base + path_text(ref.fields[:i])
        if isinstance(name, int):
            element = kind.element()
            if element is None:
                problems.append(
                    Problem(
                        "WF206",
                        where,
                        f"{at} ({kind}) is not a list, so it has no [{name}]",
                        f'use .FIELD or ["key"] to read a field of {at}'
                        if kind.kind in ("record", "dict")
                        else f"{at} is a {kind}; only a list takes [N]",
                        related=(ref.name,) if ref.source == "steps" else (),
                    )
                )
                return ANY
            kind = element
            continue
        nxt = kind.field(name)
        if nxt is None:
            has = [n for n, _ in kind.fields]
            near = closest(name, has, n=1)
            hint = (
                f"did you mean {near[0]!r}?"
                if near
                else (
                    f"its fields: {', '.join(has)}" if has else f"{at} is a {kind}, not a mapping"
                )
            )
            problems.append(
                Problem(
                    "WF206",
                    where,
                    f"{at} ({kind}) has no field {name!r}",
                    hint,
                    related=(ref.name,) if ref.source == "steps" else (),
                )
            )
            return ANY
        kind = nxt
    return kind


def _check_feed(
    step: StepSpec,
    name: str,
    ref: Ref,
    slot: TypeExpr,
    scope: Scope,
    problems: list[Problem],
    item: TypeExpr | None = None,
) -> None:
    if ref.source == "inputs":
        declared = scope.inputs.get(ref.name)
        given = _parse_or_any(declared.type) if declared is not None else ANY
        given = field_type(ref, given, (), []) if ref.fields else given
    elif ref.source == "steps" and ref.name in scope.ids:
        given = field_type(ref, scope.outputs.get(ref.name, ANY), (), [])
    elif ref.source == "index" and item is not None:
        given = _INT
    elif ref.source == "item" and item is not None:
        given = field_type(ref, item, (), []) if ref.fields else item
    else:
        return
    if not slot.accepts(given):
        problems.append(
            Problem(
                "WF207",
                ("inputs", name),
                f"{ref} is {given} but input {name!r} of {step.component!r} takes {slot}",
                "pass a value of the right type, or convert it in a step before this one",
                related=(ref.name,) if ref.source == "steps" else (),
            )
        )


def _child_spec(workflow_id: str, registry: ComponentSource | None) -> WorkflowSpec | None:
    if registry is None:
        return None
    try:
        definition = registry.lookup(WORKFLOW, workflow_id).definition
    except LookupError:
        return None
    return definition if isinstance(definition, WorkflowSpec) else None


def _check_workflow(
    step: StepSpec, scope: Scope, registry: ComponentSource | None, found: Found
) -> dict[str, str]:
    """A sub-workflow step: its workflow exists, takes these inputs and does not include ours.

    Returns the child's declared inputs, name to type, for the inputs' type checks.
    """
    assert step.workflow is not None
    problems = found.problems
    if step.workflow == scope.workflow_id:
        problems.append(_recursion(step, [scope.workflow_id, step.workflow]))
        return {}
    if registry is None:
        return {}
    try:
        definition = registry.lookup(WORKFLOW, step.workflow).definition
    except LookupError as exc:
        near = getattr(exc, "suggestions", [])
        hint = f"did you mean {near[0]!r}?" if near else "register it before this workflow runs"
        problems.append(
            Problem("WF216", ("workflow",), f"no workflow {step.workflow!r} is registered", hint)
        )
        return {}
    assert isinstance(definition, WorkflowSpec)
    chain = _includes(definition, scope.workflow_id, registry, [scope.workflow_id, step.workflow])
    if chain is not None:
        problems.append(_recursion(step, chain))
    takes = {name: spec.type for name, spec in definition.inputs.items()}
    for name in step.inputs:
        if name not in takes:
            near = closest(name, takes, n=1)
            hint = (
                f"did you mean {near[0]!r}?"
                if near
                else f"it takes {', '.join(takes) or 'no inputs'}"
            )
            problems.append(
                Problem(
                    "WF202",
                    ("inputs", name),
                    f"workflow {step.workflow!r} takes no input {name!r}",
                    hint,
                )
            )
    for name, spec in definition.inputs.items():
        if spec.required and name not in step.inputs:
            problems.append(
                Problem(
                    "WF203",
                    ("inputs",),
                    f"input {name!r} ({spec.type}) of workflow {step.workflow!r} is not given",
                    f"add {name}: to the step's inputs",
                )
            )
    return takes


def _includes(
    spec: WorkflowSpec, target: str, registry: ComponentSource, chain: list[str], depth: int = 0
) -> list[str] | None:
    """The chain of workflows by which ``spec`` runs ``target`` again, if it does."""
    if depth > 32:
        return None
    for step in spec.steps:
        if step.workflow is None:
            continue
        if step.workflow == target:
            return [*chain, target]
        if step.workflow in chain:
            continue  # a cycle that does not pass through ours: its own workflow says so
        child = _child_spec(step.workflow, registry)
        if child is not None:
            found = _includes(child, target, registry, [*chain, step.workflow], depth + 1)
            if found is not None:
                return found
    return None


def _recursion(step: StepSpec, chain: list[str]) -> Problem:
    return Problem(
        "WF217",
        ("workflow",),
        f"workflow {chain[0]!r} would run itself: {' -> '.join(chain)}",
        "a workflow cannot include itself, directly or through others; move the shared"
        " steps into a third workflow both can run",
        related=tuple(chain),
    )


def _check_kind(step: StepSpec, problems: list[Problem]) -> None:
    """A step runs a component, a workflow or waits for a signal: one of them, alone."""
    kinds = [k for k, given in _KINDS.items() if given(step)]
    if not kinds:
        problems.append(
            Problem(
                "WF101",
                ("component",),
                "required field 'component' is missing",
                "add 'component:' (or 'workflow: ID' to run a workflow, or"
                " 'wait_for: {signal: NAME}' to wait for a signal)",
            )
        )
        return
    for extra in kinds[1:]:
        problems.append(
            Problem(
                "WF215",
                (extra,),
                f"a step with {kinds[0]}: cannot also have {extra}:",
                "split it in two steps: one waits, the next reads $steps.ID.output",
            )
        )
    if step.workflow is not None and step.for_each is not None:
        problems.append(
            Problem(
                "WF215",
                ("for_each",),
                "a step with workflow: cannot also have for_each: (not in this version)",
                "map over a component that does the work, or run the map inside the workflow",
            )
        )
    if step.wait_for is None:
        return
    with_wait = [
        name for name, given in (("for_each", step.for_each), ("inputs", step.inputs)) if given
    ]
    for name in with_wait:
        problems.append(
            Problem(
                "WF215",
                (name,),
                f"a step that waits for signal {step.wait_for.signal!r} cannot also have {name}:",
                "split it in two steps: one waits, the next reads $steps.ID.output",
            )
        )
    if not step.wait_for.signal:
        problems.append(
            Problem("WF104", ("wait_for", "signal"), "the signal's name is empty", "name it")
        )


_KINDS: dict[str, Callable[[StepSpec], bool]] = {
    "component": lambda step: bool(step.component),
    "workflow": lambda step: step.workflow is not None,
    "wait_for": lambda step: step.wait_for is not None,
}
