"""What a string that is almost a reference was probably meant to be.

``$input.x``, ``$step.a.output``, ``$steps.a.outputs``, ``${inputs.x}`` and
``$steps.a`` are each one small edit from a reference; the validator says which.
"""

from __future__ import annotations

from collections.abc import Container

from .._core._errors import closest
from .._core._plan import Ref

_SOURCES = ("inputs", "steps")


def meant_reference(text: str) -> Ref | None:
    """The reference a malformed ``$...`` string is nearest to, when there is one."""
    body = text[1:] if text.startswith("$") else text
    if body.startswith("{") and body.endswith("}"):  # ${inputs.x}, as in a shell
        body = body.strip("{} ")
    parts = body.split(".")
    source = closest(parts[0], _SOURCES, n=1, cutoff=0.5)
    if not source or len(parts) < 2 or not all(parts):
        return None
    if source[0] == "inputs":
        return Ref("inputs", parts[1]) if len(parts) == 2 else None
    rest = parts[2:]
    if rest and (rest[0] == "output" or closest(rest[0], ("output",), n=1, cutoff=0.6)):
        rest = rest[1:]
    return Ref("steps", parts[1], tuple(rest))


def looks_like_reference(text: str, inputs: Container[str], ids: Container[str]) -> Ref | None:
    """A plain string that would be a reference to a real name, had it its ``$``."""
    parts = text.split(".")
    if parts[0] == "inputs" and len(parts) == 2 and parts[1] in inputs:
        return Ref("inputs", parts[1])
    if parts[0] == "steps" and len(parts) >= 3 and parts[1] in ids and parts[2] == "output":
        return Ref("steps", parts[1], tuple(parts[3:]))
    return None
