"""Hypothesis strategies for workflows over your components, their inputs and job commands.

Components are given as :func:`actors_wf.testing.engine` takes them: a
mapping of component id to its callable, or to ``(callable, definition)``.
What each takes and gives is read as the registry reads it (annotations, or
the definition), so generated steps wire outputs to inputs of types that fit.

Example::

    from hypothesis import given
    from actors_wf.testing import strategies as aws

    @given(aws.workflows(COMPONENTS, max_steps=5).flatmap(aws.with_inputs))
    def test_the_engine_agrees_with_the_oracle(case):
        spec, inputs = case
        with testing.engine(COMPONENTS) as engine:
            testing.assert_same_as_reference(engine, spec, inputs)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from .._core._spec import ComponentDefinition, WorkflowSpec
from .._core._types import TypeExpr, parse_type
from ._engine import ComponentSource, component_entries

__all__ = [
    "BREAKS",
    "COMMANDS",
    "broken_workflows",
    "commands",
    "inputs_for",
    "plain_data",
    "values_of",
    "with_inputs",
    "workflows",
]

# The job commands :func:`commands` draws from.
COMMANDS = ("start", "pause", "resume", "cancel", "cancel_force", "retry")
# Text that is never read as a reference ($...).
_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="$"), max_size=12)
_NAMES = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)


def plain_data(*, leaves: int = 10) -> st.SearchStrategy[Any]:
    """Nested plain data a component may take and return (what msgpack carries)."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False)
        | _TEXT
        | st.binary(max_size=12),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
        max_leaves=leaves,
    )


def values_of(type_name: str | TypeExpr) -> st.SearchStrategy[Any]:
    """Values of a type name of the workflow language (``int``, ``list[str]``, ``T | None``...)."""
    kind = parse_type(type_name) if isinstance(type_name, str) else type_name
    base = _values(kind)
    return st.none() | base if kind.optional else base


def _values(kind: TypeExpr) -> st.SearchStrategy[Any]:
    scalars: dict[str, st.SearchStrategy[Any]] = {
        "int": st.integers(-(2**31), 2**31),
        "float": st.floats(-1e9, 1e9, allow_nan=False),
        "str": _TEXT,
        "bool": st.booleans(),
        "bytes": st.binary(max_size=12),
    }
    if kind.kind in scalars:
        return scalars[kind.kind]
    if kind.kind == "record":
        return st.fixed_dictionaries({name: values_of(t) for name, t in kind.fields})
    if kind.kind == "list":
        return st.lists(values_of(kind.item) if kind.item else plain_data(), max_size=4)
    if kind.kind == "dict":
        items = values_of(kind.item) if kind.item else plain_data()
        return st.dictionaries(_TEXT, items, max_size=4)
    return plain_data(leaves=4)


def _escaped(value: Any) -> Any:
    """A literal as a workflow writes it: a string that starts with ``$`` gets ``$$``."""
    if isinstance(value, str):
        return "$" + value if value.startswith("$") else value
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


class _Component:
    def __init__(
        self, component_id: str, definition: ComponentDefinition, required: frozenset[str]
    ) -> None:
        self.id = component_id
        self.inputs = {n: parse_type(t) for n, t in (definition.inputs or {}).items()}
        self.required = required
        self.output = parse_type(definition.output or "any")
        self.resources = dict(definition.resources)


def _components(components: Mapping[str, ComponentSource]) -> list[_Component]:
    found = []
    for component_id, entry in sorted(component_entries(components).items()):
        definition = entry.definition
        assert isinstance(definition, ComponentDefinition)
        found.append(_Component(component_id, definition, entry.required_inputs))
    if not found:
        raise ValueError("workflows() needs at least one component")
    return found


def workflows(
    components: Mapping[str, ComponentSource],
    max_steps: int = 5,
    *,
    min_steps: int = 1,
    workflow_id: str = "generated",
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid workflow specs (dicts) over ``components``.

    Each step runs one of the components; each of its inputs is a literal of
    the declared type, a workflow input of that type, or the output of an
    earlier step whose type fits. Steps draw ``depends_on`` (fan-out and
    fan-in come from the wiring), a retry policy, a timeout, resources up to
    what the component declares, and ``on_failure``; the outputs name some
    of the steps' outputs.

    Raises:
        ValueError: no components, or a definition that cannot be read.
    """
    return _workflows(_components(components), min_steps, max_steps, workflow_id)


@st.composite
def _workflows(
    draw: st.DrawFn, parts: list[_Component], min_steps: int, max_steps: int, workflow_id: str
) -> dict[str, Any]:
    count = draw(st.integers(min_steps, max_steps))
    steps: list[dict[str, Any]] = []
    made: list[_Component] = []
    inputs: dict[str, Any] = {}
    for n in range(count):
        part = draw(st.sampled_from(parts))
        step: dict[str, Any] = {"id": f"s{n}", "component": part.id, "inputs": {}}
        for name, kind in part.inputs.items():
            if name not in part.required and draw(st.booleans()):
                continue  # left to the component's default
            step["inputs"][name] = _source(draw, kind, made, inputs)
        earlier = [f"s{i}" for i in range(n)]
        if earlier:
            step["depends_on"] = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True))
        step.update(draw(_settings(part)))
        steps.append(step)
        made.append(part)
    outputs = draw(st.lists(st.sampled_from([s["id"] for s in steps]), max_size=3, unique=True))
    return {
        "id": workflow_id,
        "inputs": inputs,
        "steps": steps,
        "outputs": {f"out_{sid}": f"$steps.{sid}.output" for sid in outputs},
    }


def _source(
    draw: st.DrawFn, kind: TypeExpr, made: list[_Component], inputs: dict[str, Any]
) -> Any:
    """A literal, a new workflow input, or an earlier step's output that fits ``kind``."""
    fitting = [f"$steps.s{i}.output" for i, part in enumerate(made) if kind.accepts(part.output)]
    how = draw(st.sampled_from(["literal", "input", "step"] if fitting else ["literal", "input"]))
    if how == "step":
        return draw(st.sampled_from(fitting))
    if how == "literal":
        return _escaped(draw(values_of(kind)))
    name = f"in{len(inputs)}"
    declared: dict[str, Any] = {"type": str(kind)}
    if draw(st.booleans()):
        declared["default"] = _escaped(draw(values_of(kind)))
    inputs[name] = declared
    return f"$inputs.{name}"


@st.composite
def _settings(draw: st.DrawFn, part: _Component) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if draw(st.booleans()):
        found["retry"] = {
            "max_attempts": draw(st.integers(1, 3)),
            "initial_interval": draw(st.sampled_from([0.0, 0.5, 2.0])),
        }
    if draw(st.booleans()):
        found["timeout"] = draw(st.sampled_from([30, 60, 300]))
    overridden = draw(st.booleans())
    if part.resources and overridden:
        amounts: dict[str, int] = {}
        for name, amount in part.resources.items():
            amounts[name] = draw(st.integers(1, amount))
        found["resources"] = amounts
    found["on_failure"] = draw(st.sampled_from(["fail_job", "continue"]))
    return found


def inputs_for(workflow: Mapping[str, Any] | WorkflowSpec) -> st.SearchStrategy[dict[str, Any]]:
    """Inputs a job of ``workflow`` takes: every required one, some with defaults left out."""
    if isinstance(workflow, WorkflowSpec):
        declared = {n: (s.type, s.required) for n, s in workflow.inputs.items()}
    else:
        declared = {}
        for name, decl in (workflow.get("inputs") or {}).items():
            decl = {"type": decl} if isinstance(decl, str) else decl
            required = decl.get("required", "default" not in decl)
            declared[name] = (decl.get("type", "any"), required)
    required = {n: values_of(t) for n, (t, needed) in declared.items() if needed}
    optional = {n: values_of(t) for n, (t, needed) in declared.items() if not needed}
    return st.fixed_dictionaries(required, optional=optional)


def with_inputs(
    workflow: Mapping[str, Any],
) -> st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]]:
    """``(workflow, inputs)``: for ``workflows(...).flatmap(with_inputs)``."""
    return inputs_for(workflow).map(lambda inputs: (dict(workflow), inputs))


def commands(jobs: int = 3, max_size: int = 20) -> st.SearchStrategy[list[tuple[str, int]]]:
    """Sequences of ``(command, job index)``; commands from :data:`COMMANDS`."""
    return st.lists(
        st.tuples(st.sampled_from(COMMANDS), st.integers(0, jobs - 1)), max_size=max_size
    )


def broken_workflows(
    components: Mapping[str, ComponentSource],
    max_steps: int = 5,
    *,
    codes: Iterable[str] | None = None,
) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """A valid workflow with one known fault: ``(spec, code)``, the code the validator reports.

    The faults: an unknown component (WF201), a reference to an unknown
    step (WF205) or workflow input (WF204), ``depends_on`` an unknown step
    (WF209), two steps with one id (WF106), a cycle (WF210), an unknown step
    field (WF102), a required input left out (WF203), a literal of the wrong
    type (WF208). ``codes``: only these (:data:`BREAKS` has them all).

    Raises:
        ValueError: a code that is not one of :data:`BREAKS`.
    """
    wanted = tuple(BREAKS if codes is None else codes)
    unknown = sorted(set(wanted) - set(BREAKS))
    if unknown:
        raise ValueError(f"no way to break a workflow with {unknown}; known: {', '.join(BREAKS)}")
    parts = _components(components)
    return _broken(parts, _workflows(parts, 2, max(2, max_steps), "broken"), wanted)


# The problem codes broken_workflows can inject.
BREAKS = ("WF102", "WF106", "WF201", "WF203", "WF204", "WF205", "WF208", "WF209", "WF210")


@st.composite
def _broken(
    draw: st.DrawFn,
    found: list[_Component],
    valid: st.SearchStrategy[dict[str, Any]],
    wanted: tuple[str, ...],
) -> tuple[dict[str, Any], str]:
    spec = draw(valid)
    steps = spec["steps"]
    parts = {p.id: p for p in found}
    faults = ["WF201", "WF209", "WF106", "WF210", "WF102"]
    if any(s["inputs"] for s in steps):
        faults += ["WF205", "WF204"]
    if any(_given_required(s, parts) for s in steps):
        faults.append("WF203")
    if any(_scalar_inputs(s, parts) for s in steps):
        faults.append("WF208")
    faults = [code for code in faults if code in wanted]
    assume(faults)  # none of the codes asked for fits this workflow: another one
    code = draw(st.sampled_from(faults))
    _break(draw, code, steps, parts)
    return spec, code


def _given_required(step: dict[str, Any], parts: Mapping[str, _Component]) -> list[str]:
    return sorted(parts[step["component"]].required & step["inputs"].keys())


def _scalar_inputs(step: dict[str, Any], parts: Mapping[str, _Component]) -> list[str]:
    kinds = parts[step["component"]].inputs
    return [
        n for n in step["inputs"] if kinds[n].kind in ("int", "bool") and not kinds[n].optional
    ]


def _break(
    draw: st.DrawFn, code: str, steps: list[dict[str, Any]], parts: Mapping[str, _Component]
) -> None:
    step = draw(st.sampled_from(steps))
    if code == "WF201":
        step["component"] = "no.such.component"
    elif code == "WF209":
        step["depends_on"] = [*step.get("depends_on", []), "no_such_step"]
    elif code == "WF106":
        steps.append(dict(steps[0]))
    elif code == "WF210":
        steps[0]["depends_on"] = [steps[-1]["id"]]
        steps[-1]["depends_on"] = [*steps[-1].get("depends_on", []), steps[0]["id"]]
    elif code == "WF102":
        step["retries"] = 3  # retry: is the field
    elif code in ("WF205", "WF204"):
        step = draw(st.sampled_from([s for s in steps if s["inputs"]]))
        name = draw(st.sampled_from(sorted(step["inputs"])))
        step["inputs"][name] = "$steps.no_such.output" if code == "WF205" else "$inputs.no_such"
    elif code == "WF203":
        step = draw(st.sampled_from([s for s in steps if _given_required(s, parts)]))
        del step["inputs"][draw(st.sampled_from(_given_required(step, parts)))]
    else:  # WF208
        step = draw(st.sampled_from([s for s in steps if _scalar_inputs(s, parts)]))
        name = draw(st.sampled_from(_scalar_inputs(step, parts)))
        kind = parts[step["component"]].inputs[name].kind
        step["inputs"][name] = "not a number" if kind == "int" else "not a bool"
