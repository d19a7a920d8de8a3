"""Reading a workflow's source text with the line and column of every value.

PyYAML keeps the last of two equal keys in a mapping without a word; here the
composed node tree is walked first, so a duplicate key is a located problem.
JSON is read the same way (it is YAML), so JSON files get lines too.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
import yaml

from .._core._errors import SpecError
from ._problems import Path, Problem
from ._yaml_syntax import explain

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


@attrs.frozen
class WorkflowLimits:
    """How large a workflow source may be; past a limit it is refused at once, located.

    YAML aliases let a few hundred bytes stand for billions of values (a
    "billion laughs"): the expanded size is measured on the parsed node graph,
    where each anchor is counted once, before anything is built from it.

    Attributes:
        max_bytes: the source text's size.
        max_nodes: values in the document with every alias expanded.
        max_depth: how deeply mappings and lists may nest.
        max_steps: steps in one workflow.
    """

    max_bytes: int = 16 * 2**20
    max_nodes: int = 2_000_000
    max_depth: int = 64
    max_steps: int = 100_000


DEFAULT_LIMITS = WorkflowLimits()


def read_file(path: os.PathLike[str] | str, limits: WorkflowLimits = DEFAULT_LIMITS) -> Source:
    """Read and parse a workflow file; a file over ``max_bytes`` is not even read.

    Raises:
        SpecError: the file cannot be read.
    """
    name = str(path)
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > limits.max_bytes:
                return _refused(name, _over("max_bytes", f"the file has {size:,} bytes", limits))
            data = file.read()
    except OSError as exc:
        raise SpecError(f"cannot read workflow file {name!r}", [str(exc)]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _refused(name, _not_utf8(data, exc))
    return parse(text, name, limits)


def parse(text: str, name: str, limits: WorkflowLimits = DEFAULT_LIMITS) -> Source:
    """Parse YAML or JSON text, keeping the position of every key and value."""
    if len(text) > limits.max_bytes:
        return _refused(name, _over("max_bytes", f"the text has {len(text):,} characters", limits))
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Source(None, text, name, {}, {})
        too_much = _Measure(limits).problem(node)
        if too_much is not None:
            return Source(None, text, name, {}, {}, (too_much,))
        values: dict[Path, tuple[int, int]] = {}
        keys: dict[Path, tuple[int, int]] = {}
        problems: list[Problem] = []
        _walk(node, (), values, keys, problems)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return Source(None, text, name, {}, {}, (explain(exc, text),))
    finally:
        loader.dispose()
    return Source(data, text, name, values, keys, tuple(problems))


def _refused(name: str, problem: Problem) -> Source:
    return Source(None, "", name, {}, {}, (problem,))


def _over(
    limit: str, found: str, limits: WorkflowLimits, node: yaml.Node | None = None, path: Path = ()
) -> Problem:
    line, column = _mark(node) if node is not None else (None, None)
    return Problem(
        "WF004",
        path,
        f"{found}; the limit is {getattr(limits, limit):,} ({limit})",
        f"split the workflow, or raise WorkflowLimits.{limit} if the input is trusted",
        line,
        column,
    )


def _not_utf8(data: bytes, exc: UnicodeDecodeError) -> Problem:
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - data.rfind(b"\n", 0, exc.start)
    return Problem(
        "WF001",
        (),
        f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be read",
        "save the file as UTF-8",
        line,
        column,
    )


class _Measure:
    """The document's size and depth with aliases expanded, each anchor measured once."""

    def __init__(self, limits: WorkflowLimits) -> None:
        self.limits = limits
        self.sizes: dict[int, tuple[int, int]] = {}  # node id -> (nodes, height)
        self.open: set[int] = set()  # the nodes being measured: one met again is a cycle

    def problem(self, root: yaml.Node) -> Problem | None:
        try:
            self._measure(root, (), 1)
        except _TooMuch as too_much:
            return too_much.problem
        if root is not None and isinstance(root, yaml.MappingNode):
            steps = next((v for k, v in root.value if k.value == "steps"), None)
            if isinstance(steps, yaml.SequenceNode) and len(steps.value) > self.limits.max_steps:
                found = f"the workflow has {len(steps.value):,} steps"
                return _over("max_steps", found, self.limits, steps, ("steps",))
        return None

    def _measure(self, node: yaml.Node, path: Path, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in self.open:
            raise _TooMuch(
                Problem(
                    "WF005",
                    path,
                    "an alias refers to a value that contains it: it would never end",
                    "copy the value instead of referring to it from inside itself",
                    *_mark(node),
                )
            )
        known = self.sizes.get(key)
        if known is None:
            known = self.sizes[key] = self._children(node, path, depth)
        if depth + known[1] - 1 > self.limits.max_depth:
            found = f"values nest {depth + known[1] - 1} deep"
            raise _TooMuch(_over("max_depth", found, self.limits, node, path))
        return known

    def _children(self, node: yaml.Node, path: Path, depth: int) -> tuple[int, int]:
        if isinstance(node, yaml.ScalarNode):
            return 1, 1
        if depth > self.limits.max_depth:
            found = f"values nest deeper than {depth - 1}"
            raise _TooMuch(_over("max_depth", found, self.limits, node, path))
        if isinstance(node, yaml.SequenceNode):
            children = [(item, (*path, i)) for i, item in enumerate(node.value)]
        else:
            children = [
                (child, (*path, key.value) if isinstance(key, yaml.ScalarNode) else path)
                for key, value in node.value
                for child in (key, value)
            ]
        self.open.add(id(node))
        total, height = 1, 1
        for child, child_path in children:
            nodes, tall = self._measure(child, child_path, depth + 1)
            total += nodes
            height = max(height, tall + 1)
            if total > self.limits.max_nodes:
                found = f"with its aliases expanded, the document has over {total - 1:,} values"
                # At the parent: an alias has no position of its own in the node graph.
                raise _TooMuch(_over("max_nodes", found, self.limits, node, child_path))
        self.open.discard(id(node))
        return total, height


class _TooMuch(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


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
