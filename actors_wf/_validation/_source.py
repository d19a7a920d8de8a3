"""Reading a workflow's source text with the line and column of every value.

PyYAML keeps the last of two equal keys in a mapping without a word; here the
composed node tree is walked first, so a duplicate key is a located problem.
JSON is read the same way (it is YAML), so JSON files get lines too.
"""

from __future__ import annotations

from typing import Any

import attrs
import yaml

from ._problems import Path, Problem

try:  # libyaml, when PyYAML was built with it, reads about ten times faster
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


@attrs.frozen
class Source:
    """Parsed text: the data, and where each value and key stands in the text.

    Attributes:
        data: the document as plain data (``None`` when it did not parse).
        text: the text.
        name: the file name or ``<text>``.
        values: path -> (line, column) of the value, 1-based.
        keys: path -> (line, column) of the key that names it, 1-based.
        problems: syntax errors and duplicate keys.
    """

    data: Any
    text: str
    name: str
    values: dict[Path, tuple[int, int]]
    keys: dict[Path, tuple[int, int]]
    problems: tuple[Problem, ...] = ()

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int] | None:
        """Where ``path`` is, or its nearest ancestor that is in the text."""
        table = self.keys if key else self.values
        while True:
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]


def parse(text: str, name: str) -> Source:
    """Parse YAML or JSON text, keeping the position of every key and value."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Source(None, text, name, {}, {})
        values: dict[Path, tuple[int, int]] = {}
        keys: dict[Path, tuple[int, int]] = {}
        problems: list[Problem] = []
        _walk(node, (), values, keys, problems)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return Source(None, text, name, {}, {}, (_syntax_problem(exc),))
    finally:
        loader.dispose()
    return Source(data, text, name, values, keys, tuple(problems))


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(
    node: yaml.Node,
    path: Path,
    values: dict[Path, tuple[int, int]],
    keys: dict[Path, tuple[int, int]],
    problems: list[Problem],
) -> None:
    values[path] = _mark(node)
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), values, keys, problems)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[Any, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            child = (*path, key) if isinstance(key, str) else path
            if key in seen and key is not None:
                line, column = _mark(key_node)
                first = seen[key]
                problems.append(
                    Problem(
                        "WF002",
                        child,
                        f"key {key!r} is written twice; YAML would silently keep only the last",
                        f"remove one of them (the first is on line {first[0]})",
                        line,
                        column,
                    )
                )
                continue
            seen[key] = _mark(key_node)
            keys[child] = _mark(key_node)
            _walk(value_node, child, values, keys, problems)


def _syntax_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    started = getattr(exc, "context_mark", None)
    if context and started is not None and started is not mark:
        context = f"{context} that starts at line {started.line + 1}, column {started.column + 1}"
    message = f"{context}: {problem}" if context else str(problem)
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    return Problem(
        "WF001", (), message, "check the indentation, quotes and brackets near there", line, column
    )
