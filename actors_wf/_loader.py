"""Read workflow sources (a path or inline text) and component definitions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._errors import SpecError
from ._spec import ComponentDefinition
from ._validation._problems import path_text
from ._validation._structure import structure

_SUFFIXES = (".yaml", ".yml", ".json")


def read_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    """Return ``(text, name)`` for a path or for YAML/JSON text given inline.

    Raises:
        SpecError: a path that looks like a workflow file does not exist.
    """
    if isinstance(source, os.PathLike) or (
        "\n" not in source and source.strip().endswith(_SUFFIXES)
    ):
        path = Path(source)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise SpecError(f"cannot read workflow file {str(path)!r}", [str(exc)]) from None
    return source, "<text>"


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
