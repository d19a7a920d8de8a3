"""Read workflow specs and component definitions from YAML, JSON, dicts or files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import attrs

from ._codec import converter, describe_errors
from ._errors import SpecError, did_you_mean
from ._spec import ComponentDefinition, InputSpec, RetryPolicy, StepSpec, WorkflowSpec

T = TypeVar("T")

_SUFFIXES = (".yaml", ".yml", ".json")
_FIELD_NAMES = frozenset(
    a.name
    for cls in (WorkflowSpec, StepSpec, InputSpec, RetryPolicy, ComponentDefinition)
    for a in attrs.fields(cls)
)


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
        SpecError: a field is unknown or of the wrong type.
    """
    if isinstance(definition, ComponentDefinition):
        return definition
    if definition is None:
        return ComponentDefinition()
    return structure(definition, ComponentDefinition, "component definition is malformed")


def structure(data: Any, cls: type[T], what: str) -> T:
    """Structure ``data`` into ``cls`` with the strict converter.

    Raises:
        SpecError: listing every problem with its path and, for unknown
            fields, the closest known field names.
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        raise SpecError(what, _with_suggestions(describe_errors(exc), cls)) from None


def _with_suggestions(problems: list[str], cls: type[Any]) -> list[str]:
    del cls  # suggestions come from every spec record's fields
    known = _FIELD_NAMES
    out = []
    for line in problems:
        if line.startswith("unknown field(s) "):
            names, _, path = line[len("unknown field(s) ") :].partition(" @ ")
            line = "; ".join(
                f"unknown field {n!r}{did_you_mean(n, known)} @ {path}" for n in names.split(", ")
            )
        out.append(line)
    return out
