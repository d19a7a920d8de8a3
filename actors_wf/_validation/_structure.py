"""Structural checks: the strict cattrs converter reads the records.

Its detailed errors become located problems: no schema checker is written by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TypeVar

import attrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from .._core._convert import converter
from .._core._errors import closest
from ._problems import Path, Problem

T = TypeVar("T")
_QUOTED_FIELD = re.compile(r"^'?(\w+)'? must ")


def structure(data: Any, cls: type[T], path: Path) -> tuple[T | None, list[Problem]]:
    """Read ``data`` into ``cls``; on failure, every problem with its path."""
    try:
        return converter.structure(data, cls), []
    except Exception as exc:  # cattrs raises many types; each becomes a problem
        return None, [q for p, e, c in _walk(exc, path, cls) for q in _problems(p, e, c)]


def _walk(exc: BaseException, path: Path, cls: Any) -> Iterator[tuple[Path, BaseException, Any]]:
    if isinstance(exc, ClassValidationError):
        fields, rest = exc.group_exceptions()
        for sub, field in fields:
            yield from _walk(sub, (*path, field.name), _field_type(cls, field.name))
        for sub in rest:
            yield path, sub, cls
    elif isinstance(exc, IterableValidationError):
        items, others = exc.group_exceptions()
        for sub, item in items:
            yield from _walk(sub, (*path, item.index), _item_type(item.type))
        for sub in others:
            yield path, sub, cls
    else:
        yield path, exc, cls


def _field_type(cls: Any, name: str) -> Any:
    cls = _unwrap(cls)
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if field.name == name:
                return field.type
    return None


def _item_type(kind: Any) -> Any:
    return _unwrap(kind)


def _unwrap(kind: Any) -> Any:
    """``RetryPolicy | None`` -> ``RetryPolicy``."""
    args = [a for a in getattr(kind, "__args__", ()) if a is not type(None)]
    if len(args) == 1 and attrs.has(args[0]):
        return args[0]
    return kind


def _problems(path: Path, exc: BaseException, cls: Any) -> list[Problem]:
    if isinstance(exc, ForbiddenExtraKeysError):
        return _unknown_fields(path, exc)
    if isinstance(exc, KeyError):
        name = path[-1] if path else "?"
        return [Problem("WF101", path, f"required field {name!r} is missing", f"add '{name}:'")]
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TypeError):
        return [Problem("WF103", path, text, _shape_hint(text, path))]
    if "unknown type " in text:
        return [_unknown_type(path, text)]
    return [_bad_value(path, text, cls)]


_GOT = re.compile(r"^expected (.+?), got (\w+) (.*)$", re.S)


def _shape_hint(text: str, path: Path) -> str:
    """The fix for a value of the wrong shape, when it is plain from what was written."""
    match = _GOT.match(text)
    if match is None:
        return ""
    expected, got, value = match.groups()
    name = path[-1] if path and isinstance(path[-1], str) else "it"
    if expected == "a list" and got in ("str", "int", "float"):
        return f"write a list, even of one: {name}: [{value.strip(chr(39))}]"
    if expected in ("int", "float") and got == "str":
        return f"write the number without quotes: {name}: {value.strip(chr(39))}"
    if expected == "bool":
        return f"write {name}: true or {name}: false"
    if expected == "a mapping":
        return f"write {name} as `key: value` lines indented under it, or as {{key: value}}"
    if expected == "str" and got in ("int", "float", "bool"):
        return f'put the value in quotes: {name}: "{value}"'
    return ""


def _unknown_type(path: Path, text: str) -> Problem:
    message, _, names = text.partition("; use one of: ")
    wrong = message.split("'")[1] if "'" in message else ""
    near = closest(wrong, names.split(", "), n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return Problem("WF105", path, message, f"{hint}type names: {names}")


def _unknown_fields(path: Path, exc: ForbiddenExtraKeysError) -> list[Problem]:
    known = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
    problems = []
    for name in sorted(exc.extra_fields):
        near = closest(name, known, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"known fields: {', '.join(known)}"
        problems.append(Problem("WF102", (*path, name), f"unknown field {name!r}", hint))
    return problems


def _bad_value(path: Path, text: str, cls: Any) -> Problem:
    match = _QUOTED_FIELD.match(text)
    kind = _unwrap(cls)
    if match and attrs.has(kind) and match.group(1) in {f.name for f in attrs.fields(kind)}:
        path = (*path, match.group(1))
    return Problem("WF104", path, text, _VALUE_HINTS.get(str(path[-1]) if path else "", ""))


_VALUE_HINTS = {
    "timeout": "use a positive number of seconds or a duration, e.g. timeout: 30 or 5m",
    "total_timeout": "use a positive number of seconds or a duration, e.g. 10m",
    "heartbeat_timeout": "use a positive number of seconds or a duration, e.g. 30s",
    "max_attempts": "use 1 or more (1 means no retry)",
    "initial_interval": "use 0 or more seconds, or a duration such as 500ms",
    "backoff_coefficient": "use 1 or more (1 waits the same each time)",
    "max_interval": "use a positive number of seconds, or a duration such as 1h",
    "jitter": "use a fraction from 0 to 1",
    "isolation": "use thread or process",
}
