"""Read component definitions."""

from __future__ import annotations

from typing import Any

from .._core._errors import SpecError
from .._core._spec import ComponentDefinition
from ._problems import path_text
from ._structure import structure


def load_definition(
    definition: ComponentDefinition | dict[str, Any] | None,
) -> ComponentDefinition:
    """Read a component definition from a dict (every key optional).

    Raises:
        SpecError: a field is unknown or of the wrong type; every problem is
            listed with its path (and, for an unknown field, the closest one).
    """
    if isinstance(definition, ComponentDefinition):
        return definition
    if definition is None:
        return ComponentDefinition()
    record, problems = structure(definition, ComponentDefinition, ("definition",))
    if record is None:
        lines = [
            f"{p.message}{f' ({p.hint})' if p.hint else ''} @ {path_text(p.path)}"
            for p in problems
        ]
        raise SpecError("component definition is malformed", lines)
    return record
