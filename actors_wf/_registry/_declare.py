"""``@component``: components declared at import time, found by every engine's registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from .._core._errors import ComponentNotFound
from .._core._spec import ComponentDefinition, WorkflowSpec
from ._entry import COMPONENT, WORKFLOW, RegistryEntry, make_component_entry

F = TypeVar("F", bound=Callable[..., Any])


# Components declared with the module-level @component decorator, picked up by
# every registry on a lookup miss. Written at import time, read by any thread:
# dict get/set are atomic under the GIL.
DECLARED: dict[tuple[str, str], tuple[Any, Any]] = {}


def component(
    component_id: str | None = None,
    definition: ComponentDefinition | dict[str, Any] | None = None,
    **fields: Any,
) -> Callable[[F], F]:
    """Declare a component; every engine's registry finds it by id.

    Inputs and output types come from the function's annotations unless the
    definition gives them. ``fields`` are definition keys given inline
    (``@component("x.y", timeout=5)``).

    Args:
        component_id: the id; the function's ``module.name`` when omitted.
        definition: a :class:`ComponentDefinition` or dict.
        fields: definition keys, merged over ``definition``.

    Returns:
        A decorator that returns the function unchanged.
    """

    def decorate(fn: F) -> F:
        cid = component_id or f"{fn.__module__}.{fn.__qualname__}"
        merged = merge(definition, fields)
        make_component_entry(cid, merged, fn)  # refuse a bad one at import time
        DECLARED[COMPONENT, cid] = (merged, fn)
        return fn

    return decorate


def merge(definition: ComponentDefinition | dict[str, Any] | None, fields: dict[str, Any]) -> Any:
    if not fields:
        return definition
    base = (
        attrs.asdict(definition, recurse=False)
        if isinstance(definition, ComponentDefinition)
        else dict(definition or {})
    )
    return {**{k: v for k, v in base.items() if v is not None}, **fields}


class Declared:
    """The ``@component`` declarations as a component source for a validator, with no engine.

    ``actors-wf validate`` checks a workflow against what the imported modules
    declare; starting an engine (actors, threads) for that would cost a
    cold process more than the check itself.
    """

    def __init__(self, workflows: Mapping[str, WorkflowSpec] | None = None) -> None:
        self._entries: dict[tuple[str, str], RegistryEntry] = {}
        for workflow_id, spec in (workflows or {}).items():
            self._entries[WORKFLOW, workflow_id] = RegistryEntry(WORKFLOW, workflow_id, spec)

    @property
    def generation(self) -> int:
        """Changes as modules declare more components."""
        return len(DECLARED)

    def lookup(self, component_type: str, component_id: str) -> RegistryEntry:
        """The declared component's entry.

        Raises:
            ComponentNotFound: nothing of that type is declared under that id.
        """
        key = (component_type, component_id)
        entry = self._entries.get(key)
        if entry is None:
            declared = DECLARED.get(key)
            if declared is None:
                known = [
                    cid for (ctype, cid) in (*DECLARED, *self._entries) if ctype == component_type
                ]
                raise ComponentNotFound(component_type, component_id, known)
            entry = self._entries[key] = make_component_entry(component_id, *declared)
        return entry
