"""Type names used in component and workflow definitions.

A type name is a small language: ``int``, ``float``, ``str``, ``bool``,
``bytes``, ``any``, ``list``, ``dict``, ``list[T]``, ``dict[str, T]``,
``T | None`` and records ``{name: T, ...}`` (a dict with those keys, which is
what a ``TypedDict`` return annotation becomes). Names are parsed once into
:class:`TypeExpr` records, which check values strictly (``3.7`` is not an
``int``, ``True`` is not an ``int``, ``"no"`` is not a ``bool``) and tell
whether one type can feed another.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

import attrs

SCALARS: dict[str, type | tuple[type, ...]] = {
    "int": int,
    "float": (int, float),
    "str": str,
    "bool": bool,
    "bytes": bytes,
}
NAMES = (*SCALARS, "any", "list", "dict", "list[T]", "dict[str, T]", "T | None", "{name: T}")


@attrs.frozen
class TypeExpr:
    """A parsed type name.

    Attributes:
        kind: ``int``, ``float``, ``str``, ``bool``, ``bytes``, ``any``, ``list``,
            ``dict`` or ``record``.
        item: the element type of a ``list`` or the value type of a ``dict``.
        optional: whether ``None`` is allowed too.
        fields: a record's field names and types, in order.
    """

    kind: str
    item: TypeExpr | None = None
    optional: bool = False
    fields: tuple[tuple[str, TypeExpr], ...] = ()

    def __str__(self) -> str:
        text = self.kind if self.item is None else self._generic()
        if self.kind == "record":
            text = "{" + ", ".join(f"{n}: {t}" for n, t in self.fields) + "}"
        return f"{text} | None" if self.optional and self.kind != "any" else text

    def _generic(self) -> str:
        if self.kind == "dict":
            return f"dict[str, {self.item}]"
        return f"{self.kind}[{self.item}]"

    def field(self, name: str) -> TypeExpr | None:
        """The type of ``value[name]``: ``any`` where unknown, ``None`` where impossible."""
        if self.kind == "record":
            return dict(self.fields).get(name)
        if self.kind == "dict":
            return self.item or ANY
        return ANY if self.kind == "any" else None

    def element(self) -> TypeExpr | None:
        """The type of ``value[0]``: ``any`` where unknown, ``None`` where it is not a list."""
        if self.kind == "list":
            return self.item or ANY
        return ANY if self.kind == "any" else None

    def problem(self, value: Any, where: str = "value") -> str | None:
        """Say what is wrong with ``value`` for this type, or ``None`` if it fits."""
        if value is None:
            return (
                None
                if self.optional or self.kind == "any"
                else f"{where}: expected {self}, got None"
            )
        if self.kind == "any":
            return None
        if self.kind in SCALARS:
            return self._scalar_problem(value, where)
        return self._container_problem(value, where)

    def _scalar_problem(self, value: Any, where: str) -> str | None:
        # bool is an int subclass, so an int-typed slot must reject it explicitly.
        is_bool = isinstance(value, bool)
        if isinstance(value, SCALARS[self.kind]) and (self.kind == "bool" or not is_bool):
            return None
        return f"{where}: expected {self}, got {type(value).__name__} {value!r:.60}"

    def _container_problem(self, value: Any, where: str) -> str | None:
        if self.kind == "record":
            return self._record_problem(value, where)
        if self.kind == "list":
            if not isinstance(value, list | tuple):
                return f"{where}: expected {self}, got {type(value).__name__}"
            if self.item is not None:
                for i, v in enumerate(value):
                    found = self.item.problem(v, f"{where}[{i}]")
                    if found:
                        return found
            return None
        if not isinstance(value, dict):
            return f"{where}: expected {self}, got {type(value).__name__}"
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{where}: expected string keys, got {type(k).__name__} {k!r:.40}"
            if self.item is not None:
                found = self.item.problem(v, f"{where}[{k!r}]")
                if found:
                    return found
        return None

    def _record_problem(self, value: Any, where: str) -> str | None:
        if not isinstance(value, dict):
            return f"{where}: expected {self}, got {type(value).__name__}"
        for name, kind in self.fields:
            if name not in value:
                return f"{where}: field {name!r} ({kind}) is missing"
            found = kind.problem(value[name], f"{where}[{name!r}]")
            if found:
                return found
        return None

    def accepts(self, other: TypeExpr) -> bool:
        """Whether a value of type ``other`` may feed a slot of this type."""
        if self.kind == "any" or other.kind == "any":
            return True
        if other.optional and not self.optional:
            return False
        if self.kind == "float" and other.kind == "int":
            return True
        if "record" in (self.kind, other.kind):
            return self._accepts_record(other)
        if self.kind != other.kind:
            return False
        if self.item is None or other.item is None:
            return True
        return self.item.accepts(other.item)

    def _accepts_record(self, other: TypeExpr) -> bool:
        if self.kind == "dict":  # a record is a dict; its values must fit the item type
            return self.item is None or all(self.item.accepts(t) for _, t in other.fields)
        if self.kind != "record" or other.kind not in ("record", "dict"):
            return False
        if other.kind == "dict":
            return True  # a plain dict may have the fields: allowed, checked at run time
        theirs = dict(other.fields)
        return all(n in theirs and t.accepts(theirs[n]) for n, t in self.fields)


ANY = TypeExpr("any")


@functools.lru_cache(maxsize=1024)
def parse_type(name: str) -> TypeExpr:
    """Parse a type name into a :class:`TypeExpr`.

    Raises:
        ValueError: the name is not in the type language; the message lists
            the names that are.
    """
    text = name.strip()
    parts = _split_top(text, "|")
    if len(parts) == 2 and parts[1].strip() == "None":
        return attrs.evolve(parse_type(parts[0]), optional=True)
    if len(parts) != 1:
        raise ValueError(_unknown(name))
    if text in SCALARS or text in ("any", "list", "dict"):
        return TypeExpr(text)
    if text.startswith("{") and text.endswith("}"):
        return _parse_record(name, text[1:-1])
    if text.endswith("]") and "[" in text:
        head, _, rest = text.partition("[")
        return _parse_generic(name, head.strip(), rest[:-1])
    raise ValueError(_unknown(name))


def _parse_generic(name: str, head: str, inner: str) -> TypeExpr:
    args = _split_top(inner, ",")
    if head == "list" and len(args) == 1:
        return TypeExpr("list", parse_type(args[0]))
    if head == "dict" and len(args) == 2 and args[0].strip() == "str":
        return TypeExpr("dict", parse_type(args[1]))
    raise ValueError(_unknown(name))


def _parse_record(name: str, inner: str) -> TypeExpr:
    fields: list[tuple[str, TypeExpr]] = []
    for part in _split_top(inner, ","):
        field, sep, kind = part.partition(":")
        if not part.strip():
            continue
        if not sep or not field.strip().isidentifier():
            raise ValueError(_unknown(name))
        fields.append((field.strip(), parse_type(kind)))
    return TypeExpr("record", fields=tuple(fields))


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not inside brackets."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        depth += (ch in "[{") - (ch in "]}")
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unknown(name: str) -> str:
    return f"unknown type {name!r}; use one of: {', '.join(NAMES)}"


def type_name_of(annotation: Any) -> str:
    """Translate a Python annotation into a type name (``any`` when it has no match)."""
    if annotation is None or annotation is type(None):
        return "any"
    if isinstance(annotation, str):
        try:
            return str(parse_type(annotation))
        except ValueError:
            return "any"
    for name, py in SCALARS.items():
        if annotation is py or (name == "float" and annotation is float):
            return name
    return _generic_name_of(annotation)


def _generic_name_of(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = type_name_of(next(a for a in args if a is not type(None)))
        return inner if inner == "any" else f"{inner} | None"
    if annotation in (list, tuple) or (origin in (list, tuple) and not args):
        return "list"
    if annotation is dict or (origin is dict and not args):
        return "dict"
    if origin is list and len(args) == 1:
        return f"list[{type_name_of(args[0])}]"
    if origin is dict and len(args) == 2 and args[0] is str:
        return f"dict[str, {type_name_of(args[1])}]"
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation)
        return "{" + ", ".join(f"{n}: {type_name_of(t)}" for n, t in hints.items()) + "}"
    return "any"
