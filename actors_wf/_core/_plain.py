"""What may cross between actors, processes and the store as a component's data.

The codec decides for every mode alike: a thread-mode output and a
process-mode one pass the same check, so a component behaves the same in both.
"""

from __future__ import annotations

from typing import Any

# Nested deeper than this is refused: msgpack itself stops at 511, and a
# recursive walk must stay far below the interpreter's recursion limit.
MAX_DEPTH = 100
_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
_LOW, _HIGH = -(2**63), 2**64 - 1  # the ints msgpack can carry
PLAIN_TYPES = "dict with str keys, list, str, int, float, bool, bytes, None"


def plain_problem(value: Any, where: str = "output") -> str | None:
    """Why ``value`` is not plain data msgpack carries as it is, or ``None`` when it is.

    Refused: sets (msgpack would not keep them sets), maps with keys that are
    not strings, objects, values that contain themselves, and nesting deeper
    than :data:`MAX_DEPTH`.
    """
    kind = type(value)
    if kind in _SCALARS and (kind is not int or _LOW <= value <= _HIGH):
        return None  # most outputs: no walk
    return _problem(value, where, 0, set())


def _problem(value: Any, where: str, depth: int, path: set[int]) -> str | None:
    kind = type(value)
    if kind is int:
        return None if _LOW <= value <= _HIGH else f"{where} is an int beyond 64 bits"
    if kind in _SCALARS:
        return None
    if kind not in (dict, list, tuple):
        return f"{where} is of type {kind.__name__!r}, which msgpack does not carry as it is"
    if depth >= MAX_DEPTH:
        return f"{where} is nested deeper than {MAX_DEPTH} levels"
    if id(value) in path:
        return f"{where} refers back to itself (a cycle)"
    path.add(id(value))
    try:
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str:
                    return f"{where} has a key {key!r} that is not a str"
                found = _problem(item, f"{where}[{key!r}]", depth + 1, path)
                if found is not None:
                    return found
            return None
        for n, item in enumerate(value):
            found = _problem(item, f"{where}[{n}]", depth + 1, path)
            if found is not None:
                return found
        return None
    finally:
        path.discard(id(value))
