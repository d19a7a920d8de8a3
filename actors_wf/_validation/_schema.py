"""A JSON Schema of the workflow format, generated from the spec records.

Editors (VS Code's YAML extension, JetBrains) use it to complete and check
workflow files as they are typed. It is derived from the attrs fields, so it
cannot drift from what the loader accepts.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import attrs

from .._core._spec import DURATION_PATTERN, InputSpec, StepSpec, WorkflowSpec, is_seconds
from .._core._types import NAMES

SCHEMA_ID = "https://actors-wf.invalid/workflow.schema.json"
_DURATION = {
    "type": "string",
    "pattern": DURATION_PATTERN,
    "description": "a duration: 500ms, 30s, 5m, 1h30m, 2d",
}
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def workflow_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a workflow document."""
    defs: dict[str, Any] = {}
    root = _record(WorkflowSpec, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "actors_wf workflow",
        **root,
        "$defs": defs,
    }


def _record(cls: type[Any], defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    properties = {}
    required = []
    for field in attrs.fields(cls):
        schema = _type(hints[field.name], defs)
        doc = _field_doc(cls, field.name)
        if doc:
            schema = {**schema, "description": doc}
        properties[field.name] = schema
        if field.default is attrs.NOTHING:
            required.append(field.name)
    out: dict[str, Any] = {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out


def _type(kind: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if is_seconds(kind):
        return {"anyOf": [{"type": ["integer", "number"]}, _DURATION]}
    if kind in _SCALARS:
        scalar: dict[str, Any] = {"type": _SCALARS[kind]}
        return {"type": ["integer", "number"]} if kind is float else scalar
    if kind is Any:
        return {}
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return _union(args, defs)
    if origin is tuple:
        return {"type": "array", "items": _type(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type(args[1], defs)}
    if attrs.has(kind):
        return _definition(kind, defs)
    raise TypeError(f"no JSON Schema for {kind!r}")  # pragma: no cover - a new field type


def _union(args: tuple[Any, ...], defs: dict[str, Any]) -> dict[str, Any]:
    options = [_type(a, defs) for a in args if a is not type(None)]
    if type(None) in args:
        options.append({"type": "null"})
    return options[0] if len(options) == 1 else {"anyOf": options}


def _definition(cls: type[Any], defs: dict[str, Any]) -> dict[str, Any]:
    name = cls.__name__
    if name not in defs:
        defs[name] = {}  # placeholder: breaks recursion
        record = _record(cls, defs)
        if cls is StepSpec:  # it runs a component or a workflow, or it waits for a signal
            record["anyOf"] = [{"required": [k]} for k in ("component", "workflow", "wait_for")]
        if cls is InputSpec:  # `name: int` is short for `name: {type: int}`
            record = {"anyOf": [{"type": "string", "description": _TYPE_DOC}, record]}
        defs[name] = record
    return {"$ref": f"#/$defs/{name}"}


_TYPE_DOC = "a type name: " + ", ".join(NAMES)


def _field_doc(cls: type[Any], name: str) -> str:
    """The line for ``name`` in the record's ``Attributes:`` docstring section."""
    doc = cls.__doc__ or ""
    marker = f"{name}:"
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(marker):
            return stripped[len(marker) :].strip()
    return ""
