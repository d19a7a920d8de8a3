"""What a registry holds: one entry per component or workflow, built and checked here.

A component's inputs and output type are read from its signature and
annotations unless its definition gives them; a workflow entry is a loaded,
structurally valid spec.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import attrs

from .._core._errors import SpecError
from .._core._spec import ComponentDefinition, WorkflowSpec
from .._core._types import type_name_of
from .._validation._definitions import load_definition
from .._validation._source import DEFAULT_LIMITS, WorkflowLimits
from .._validation._validator import SpecInput as WorkflowSource
from .._validation._validator import load_workflow

COMPONENT = "component"


WORKFLOW = "workflow"


COMPONENT_TYPES = (COMPONENT, WORKFLOW)


CONTEXT_PARAM = "ctx"


@attrs.frozen
class RegistryEntry:
    """One registered component or workflow.

    Attributes:
        component_type: ``component`` or ``workflow``.
        component_id: its id.
        definition: a :class:`ComponentDefinition` or a :class:`WorkflowSpec`.
        implementation: the callable of a component (``None`` for a workflow).
        required_inputs: input names a step must give (those without defaults).
        takes_context: whether the callable takes a ``ctx`` argument.
        takes_any_input: whether the callable takes ``**kwargs`` and declares
            no inputs, so that any input name is accepted.
        is_async: whether the callable is an ``async def`` (it runs as a task
            on the engine's event loop, in thread isolation).
    """

    component_type: str
    component_id: str
    definition: ComponentDefinition | WorkflowSpec
    implementation: Any = None
    required_inputs: frozenset[str] = frozenset()
    takes_context: bool = False
    takes_any_input: bool = False
    is_async: bool = False


def _callable_of(implementation: Any) -> Callable[..., Any]:
    if inspect.isclass(implementation):
        run = getattr(implementation, "run", None)
        if not callable(run):
            raise SpecError(
                f"component class {implementation.__qualname__} is malformed",
                ["a component class needs a run() method @ implementation"],
            )
        return run  # type: ignore[no-any-return]
    if not callable(implementation):
        raise SpecError(
            "component implementation is malformed",
            [f"expected a function or a class with run(), got {type(implementation).__name__}"],
        )
    return implementation  # type: ignore[no-any-return]


def import_path(implementation: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` another process can import ``implementation`` by, if any."""
    module = getattr(implementation, "__module__", None)
    qualname = getattr(implementation, "__qualname__", "")
    if not module or module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname:
        return None
    return module, qualname


def make_component_entry(component_id: str, definition: Any, implementation: Any) -> RegistryEntry:
    """Build a component entry, reading types from annotations where not given.

    Raises:
        SpecError: the definition is malformed, or it declares inputs the
            implementation does not take.
    """
    defn = load_definition(definition)
    if defn.factory:
        return _factory_entry(component_id, defn, implementation)
    fn = _callable_of(implementation)
    sig = inspect.signature(fn)
    params = [p for name, p in sig.parameters.items() if name not in ("self", CONTEXT_PARAM)]
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
    hints = _hints(fn)
    takes_any_input = takes_kwargs and defn.inputs is None
    if defn.inputs is None:
        defn = attrs.evolve(defn, inputs={p.name: type_name_of(hints.get(p.name)) for p in named})
    elif not takes_kwargs:
        unknown = sorted(set(defn.inputs) - {p.name for p in named})
        if unknown:
            raise SpecError(
                f"component {component_id!r} is malformed",
                [
                    f"input {n!r} is declared but {fn.__qualname__}() takes no such argument "
                    f"@ definition.inputs.{n}"
                    for n in unknown
                ],
            )
    if defn.output is None:
        defn = attrs.evolve(defn, output=type_name_of(hints.get("return")))
    _check_importable(component_id, defn, implementation)
    return RegistryEntry(
        COMPONENT,
        component_id,
        defn,
        implementation,
        frozenset(p.name for p in named if p.default is p.empty),
        CONTEXT_PARAM in sig.parameters,
        takes_any_input=takes_any_input,
        is_async=inspect.iscoroutinefunction(fn),
    )


def _factory_entry(component_id: str, defn: ComponentDefinition, factory: Any) -> RegistryEntry:
    """A component whose implementation makes the callable anew for each attempt."""
    if not callable(factory):
        raise SpecError(
            f"component {component_id!r} is malformed",
            [f"factory: true needs a callable that makes the component, got {factory!r}"],
        )
    _check_importable(component_id, defn, factory)
    inputs = defn.inputs
    defn = attrs.evolve(defn, inputs=inputs or {}, output=defn.output or "any")
    return RegistryEntry(COMPONENT, component_id, defn, factory, takes_any_input=inputs is None)


def _check_importable(component_id: str, defn: ComponentDefinition, implementation: Any) -> None:
    if defn.isolation == "process" and import_path(implementation) is None:
        name = getattr(implementation, "__qualname__", "?")
        raise SpecError(
            f"component {component_id!r} is malformed",
            [
                f"isolation: process runs {name} in another process, which imports it: define "
                "it at module level (not in __main__, inside a function, or as a lambda) "
                "@ definition.isolation"
            ],
        )


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to "any"
        return {}


def make_workflow_entry(
    component_id: str | None, source: WorkflowSource, limits: WorkflowLimits = DEFAULT_LIMITS
) -> RegistryEntry:
    """Build a workflow entry from any workflow source.

    Raises:
        WorkflowInvalid: the spec cannot be read or its graph is broken.
    """
    spec = load_workflow(source, limits)
    if component_id is not None and component_id != spec.id:
        spec = attrs.evolve(spec, id=component_id)
    return RegistryEntry(WORKFLOW, spec.id, spec)


def check_type(component_type: str) -> None:
    if component_type not in COMPONENT_TYPES:
        raise ValueError(
            f"unknown component type {component_type!r}; use one of: {', '.join(COMPONENT_TYPES)}"
        )
