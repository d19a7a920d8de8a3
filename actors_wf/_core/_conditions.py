"""The ``when:`` language: a small, safe expression over references and literals.

``$steps.check.output.ok``, ``"$steps.count.output.n > 0"``,
``"$inputs.mode == 'full' and not $steps.check.output.dry"``,
``"$item.kind in ['csv', 'tsv']"``. References, literals (numbers,
``'text'`` or ``"text"``, ``true``, ``false``, ``null``, ``[lists]``), the
comparisons ``== != < <= > >= in``, ``not in``, and ``and or not`` with
parentheses. There are no calls, no attribute access and nothing is ever
``eval``-ed: the text is parsed once into a tree, its types are checked at
validation, and the tree is walked at run time.

``and``, ``or`` and ``not`` take booleans only, and ``<`` and the like numbers
or texts of one kind: a condition that would rest on Python's truthiness or
on comparing ``"10" < 9`` is refused rather than guessed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ._plan import Ref, RefSyntaxError, parse_ref, ref_end
from ._types import ANY, TypeExpr, parse_type


class ConditionError(ValueError):
    """A condition that does not parse, or that cannot be evaluated on the values it met."""


@attrs.frozen
class Node:
    """One node of a parsed condition.

    Attributes:
        op: ``ref``, ``lit``, ``list``, ``not``, ``and``, ``or``, or a comparison
            (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``).
        args: the operands (nodes), or for ``ref`` the :class:`Ref`, for ``lit`` the value.
    """

    op: str
    args: tuple[Any, ...]

    def refs(self) -> Iterator[Ref]:
        """Every reference in the condition."""
        if self.op == "ref":
            yield self.args[0]
        elif self.op != "lit":
            for arg in self.args:
                yield from arg.refs()


_COMPARE = ("==", "!=", "<=", ">=", "<", ">")
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'[^']*')"
    r"|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)"
    r"|(?P<word>[A-Za-z_]+))"
)
_WORDS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


@functools.lru_cache(maxsize=4096)
def parse_condition(text: str) -> Node:
    """Parse a condition once; the same text gives the same tree.

    Raises:
        ConditionError: it does not parse; the message says where.
    """
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(self._tokens())
        self.at = 0

    def _tokens(self) -> Iterator[tuple[str, Any, int]]:
        text, at = self.text, 0
        while at < len(text):
            if text[at].isspace():
                at += 1
                continue
            if text[at] == "$":
                end = ref_end(text, at)
                try:
                    ref = parse_ref(text[at:end])
                except RefSyntaxError as exc:
                    raise ConditionError(str(exc).split("; ")[0]) from None
                assert ref is not None
                yield "ref", ref, at
                at = end
                continue
            match = _TOKEN.match(text, at)
            if match is None or match.end() == at:
                raise ConditionError(f"{text[at:]!r} cannot start a part of a condition")
            kind = match.lastgroup
            value = match.group(kind or "")
            start = match.start(kind or 0)
            if kind == "num":
                yield "lit", json.loads(value), start
            elif kind == "str":
                yield "lit", json.loads(value) if value[0] == '"' else value[1:-1], start
            elif kind == "word" and value in _WORDS:
                yield "lit", _WORDS[value], start
            elif kind == "word" and value in ("and", "or", "not", "in"):
                yield "op", value, start
            elif kind == "word":
                raise ConditionError(
                    f"{value!r} is not a reference, a literal or an operator; quote a text"
                    f" ('{value}'), start a reference with $"
                )
            else:
                yield "op", value, start
            at = match.end()

    def parse(self) -> Node:
        if not self.tokens:
            raise ConditionError("the condition is empty")
        node = self._or()
        if self.at < len(self.tokens):
            _, value, where = self.tokens[self.at]
            raise ConditionError(f"unexpected {self._shown(value)} at column {where + 1}")
        return node

    def _shown(self, value: Any) -> str:
        return str(value) if isinstance(value, Ref) else repr(value)

    def _peek(self) -> tuple[str, Any, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self, value: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] == value:
            self.at += 1
            return True
        return False

    def _or(self) -> Node:
        node = self._and()
        while self._take("or"):
            node = Node("or", (node, self._and()))
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._take("and"):
            node = Node("and", (node, self._not()))
        return node

    def _not(self) -> Node:
        if self._take("not"):
            return Node("not", (self._not(),))
        return self._compare()

    def _compare(self) -> Node:
        left = self._atom()
        token = self._peek()
        if token is None or token[0] != "op":
            return left
        if token[1] in _COMPARE or token[1] == "in":
            self.at += 1
            return Node(token[1], (left, self._atom()))
        if token[1] == "not" and self._next_is("in"):
            self.at += 2
            return Node("not in", (left, self._atom()))
        return left

    def _next_is(self, value: str) -> bool:
        nxt = self.tokens[self.at + 1] if self.at + 1 < len(self.tokens) else None
        return nxt is not None and nxt[0] == "op" and nxt[1] == value

    def _atom(self) -> Node:
        token = self._peek()
        if token is None:
            raise ConditionError("the condition ends where a value was expected")
        kind, value, where = token
        self.at += 1
        if kind == "ref":
            return Node("ref", (value,))
        if kind == "lit":
            return Node("lit", (value,))
        if value == "(":
            node = self._or()
            if not self._take(")"):
                raise ConditionError(f"the ( at column {where + 1} is never closed")
            return node
        if value == "[":
            return self._list(where)
        raise ConditionError(f"unexpected {value!r} at column {where + 1}")

    def _list(self, where: int) -> Node:
        items: list[Node] = []
        while not self._take("]"):
            if items and not self._take(","):
                raise ConditionError(f"the [ at column {where + 1} needs , between items or ]")
            if self._take("]"):
                break
            items.append(self._atom())
        return Node("list", tuple(items))


# -- evaluation --------------------------------------------------------------------


def evaluate(node: Node, value_of: Callable[[Ref], Any]) -> bool:
    """Whether the condition holds, the references read by ``value_of``.

    Raises:
        ConditionError: a value does not fit its operator (``and`` on a number,
            ``<`` between a text and a number, ``in`` on a number).
    """
    result = _value(node, value_of)
    if not isinstance(result, bool):
        raise ConditionError(f"the condition gave {_kind(result)} {result!r}, not true or false")
    return result


def _value(node: Node, value_of: Callable[[Ref], Any]) -> Any:
    op, args = node.op, node.args
    if op == "ref":
        return value_of(args[0])
    if op == "lit":
        return args[0]
    if op == "list":
        return [_value(a, value_of) for a in args]
    if op == "not":
        return not _bool(_value(args[0], value_of), "not")
    if op == "and":  # short-circuit, as people read it
        return _bool(_value(args[0], value_of), "and") and _bool(_value(args[1], value_of), "and")
    if op == "or":
        return _bool(_value(args[0], value_of), "or") or _bool(_value(args[1], value_of), "or")
    return _compare(op, _value(args[0], value_of), _value(args[1], value_of))


def _bool(value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"{op} takes true or false, got {_kind(value)} {value!r}")
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("in", "not in"):
        if not isinstance(right, list | str | dict):
            raise ConditionError(
                f"{op} needs a list, text or mapping on its right, got {_kind(right)}"
            )
        if isinstance(right, str) and not isinstance(left, str):
            raise ConditionError(f"{op} a text needs a text on its left, got {_kind(left)}")
        found = left in right
        return found if op == "in" else not found
    if op == "==":
        return bool(left == right) and _number(left) == _number(right)
    if op == "!=":
        return not (left == right and _number(left) == _number(right))
    if not (_number(left) and _number(right)) and not (
        isinstance(left, str) and isinstance(right, str)
    ):
        raise ConditionError(
            f"{op} compares two numbers or two texts, got {_kind(left)} and {_kind(right)}"
        )
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a bool"
    if _number(value):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else f"a {type(value).__name__}"


# -- types, at validation ------------------------------------------------------------

BOOL, NUMBER, STR = parse_type("bool"), parse_type("float"), parse_type("str")


def check_types(node: Node, type_of: Callable[[Ref], TypeExpr]) -> list[str]:
    """What is wrong with the condition's types (empty when nothing is); ``any`` passes."""
    problems: list[str] = []
    result = _type(node, type_of, problems)
    if not problems and result.kind not in ("bool", "any"):
        problems.append(f"the condition is {result}, not a bool: compare it, e.g. ... > 0")
    return problems


def _type(node: Node, type_of: Callable[[Ref], TypeExpr], problems: list[str]) -> TypeExpr:
    op, args = node.op, node.args
    if op == "ref":
        return type_of(args[0])
    if op == "lit":
        return _literal_type(args[0])
    if op == "list":
        kinds = {_type(a, type_of, problems) for a in args}
        only = kinds.pop() if len(kinds) == 1 else None
        return TypeExpr("list", only if only is not None and only.kind != "null" else ANY)
    if op in ("not", "and", "or"):
        for arg in args:
            kind = _type(arg, type_of, problems)
            if kind.kind not in ("bool", "any"):
                problems.append(f"{op} takes bools, but {_text(arg)} is {kind}")
        return BOOL
    left, right = (_type(a, type_of, problems) for a in args)
    if "any" in (left.kind, right.kind):
        return BOOL
    if op in ("in", "not in"):
        if right.kind not in ("list", "dict", "str"):
            problems.append(
                f"{op} needs a list, text or mapping on its right, but {_text(args[1])} is {right}"
            )
        return BOOL
    if op in ("<", "<=", ">", ">="):
        numbers = left.kind in ("int", "float") and right.kind in ("int", "float")
        if not numbers and not (left.kind == right.kind == "str"):
            problems.append(
                f"{op} compares two numbers or two texts, but {_text(args[0])} is {left}"
                f" and {_text(args[1])} is {right}"
            )
    elif left.kind != right.kind and not (
        {left.kind, right.kind} <= {"int", "float"} or "null" in (left.kind, right.kind)
    ):
        problems.append(
            f"{_text(args[0])} ({left}) and {_text(args[1])} ({right}) are never equal"
        )
    return BOOL


def _literal_type(value: Any) -> TypeExpr:
    if value is None:
        return TypeExpr("null", optional=True)
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return parse_type("int")
    if isinstance(value, float):
        return NUMBER
    return STR


def _text(node: Node) -> str:
    if node.op == "ref":
        return str(node.args[0])
    if node.op == "lit":
        return json.dumps(node.args[0])
    return "(...)"


__all__ = ["ANY", "ConditionError", "Node", "check_types", "evaluate", "parse_condition"]
