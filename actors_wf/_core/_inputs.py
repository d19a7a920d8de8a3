"""Checking a job's inputs against the workflow's declared inputs, strictly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import InvalidInputs, did_you_mean
from ._spec import WorkflowSpec
from ._types import parse_type


def check_inputs(spec: WorkflowSpec, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the job's inputs with defaults filled in.

    Raises:
        InvalidInputs: listing every unknown, missing or mistyped input.
    """
    given = dict(given or {})
    problems: list[str] = []
    for name in given:
        if name not in spec.inputs:
            declared = ", ".join(spec.inputs) or "none"
            problems.append(
                f"unknown input {name!r}{did_you_mean(name, spec.inputs)}; declared: {declared}"
            )
    values: dict[str, Any] = {}
    for name, decl in spec.inputs.items():
        if name not in given:
            if decl.required:
                problems.append(f"input {name!r} ({decl.type}) is required but was not given")
            else:
                values[name] = decl.default
            continue
        problem = parse_type(decl.type).problem(given[name], f"input {name!r}")
        if problem:
            problems.append(problem)
        values[name] = given[name]
    if problems:
        raise InvalidInputs(spec.id, problems)
    return values
