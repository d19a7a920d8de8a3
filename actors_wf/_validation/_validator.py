"""The Validator: every problem of a workflow, at once, located; incrementally on edits.

A validation runs in three passes: read the structure (header, then each step
on its own, so one bad step does not hide the others), check each step
against the registry and the workflow, then check the whole graph (duplicate
ids, cycles, outputs, unused inputs and steps).

Incremental: given the previous result, a step is checked again only when its
own definition changed or it references a step that changed; the graph is
analysed again only when an edge changed (``_incremental``). The passes live
in ``_steps`` (reading steps), ``_semantic`` (checking one step) and
``_graph_checks`` (the whole graph).
"""

from __future__ import annotations

import contextlib
import gc
import os
import weakref
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from .._core._cache import LRU
from .._core._errors import WorkflowInvalid
from .._core._spec import WorkflowSpec
from ._incremental import Cache, Run, quotable
from ._problems import Problem, ValidationResult
from ._report import text_report
from ._semantic import ComponentSource
from ._source import DEFAULT_LIMITS, Source, WorkflowLimits, parse, read_file

SpecInput = WorkflowSpec | Mapping[str, Any] | str | os.PathLike[str]


class Validator:
    """Validates workflow specs; ``engine.validator`` is one bound to the engine's registry.

    Args:
        registry: where components are looked up; without one, only the
            structure and the graph are checked.
    """

    def __init__(
        self,
        registry: ComponentSource | None = None,
        resources: Mapping[str, int] | None = None,
        limits: WorkflowLimits = DEFAULT_LIMITS,
        executors: Collection[str] | None = None,
    ) -> None:
        self.registry = registry
        self.resources = resources
        self.limits = limits
        self.executors = frozenset(executors) if executors is not None else None
        # Bounded: ad-hoc workflows (execute_step makes one per call) must not pile up.
        self._checked: LRU[str, tuple[WorkflowSpec, int | None, ValidationResult]] = LRU(256)

    def check(self, spec: WorkflowSpec) -> ValidationResult:
        """Validate a registered workflow, cached per workflow version and registry state.

        A job of a known workflow pays one dict lookup for it.

        Raises:
            WorkflowInvalid: the workflow has errors.
        """
        generation = self.registry.generation if self.registry is not None else None
        cached = self._checked.get(spec.key)
        if cached is not None and cached[0] is spec and cached[1] == generation:
            result = cached[2]
        else:
            result = self.validate(spec)
            self._checked[spec.key] = (spec, generation, result)
        if not result.ok:
            raise WorkflowInvalid(result, text_report(result, color=False))
        return result

    def validate(
        self, spec: SpecInput, previous: ValidationResult | None = None
    ) -> ValidationResult:
        """Find every problem in a workflow.

        Args:
            spec: a path, YAML/JSON text, a dict or a :class:`WorkflowSpec`.
            previous: the result of validating an earlier version of the same
                workflow; only what changed is checked again.

        Returns:
            A :class:`ValidationResult`; ``result.ok`` when there is no error.
        """
        source, data = _read(spec, self.limits)
        if source is not None and source.problems and data is None:
            return ValidationResult(None, source.problems, source.name, quotable(source))
        too_many = _too_many_steps(data, self.limits) if source is None else None
        if too_many is not None:
            return ValidationResult(None, (too_many,))
        old = previous.cache if previous is not None else None
        run = Run(
            self.registry, old if isinstance(old, Cache) else None, self.resources, self.executors
        )
        with _collector_paused(data):
            return run.validate(data, source)

    def get_visual_report(
        self, result: ValidationResult, format: str = "text", *, color: bool | None = None
    ) -> str:
        """Render a result as ``text`` (source lines with carets) or ``html`` (with the DAG).

        Args:
            result: what :meth:`validate` returned.
            format: ``text`` or ``html``.
            color: ANSI colour in text; by default when stdout is a terminal.

        Raises:
            ValueError: an unknown format.
        """
        from ._report import render

        return render(result, format, color=color)


@contextlib.contextmanager
def _collector_paused(data: Any) -> Iterator[None]:
    """Pause the cyclic garbage collector while a large workflow is checked.

    Validation allocates many small records that all live on, so the
    collector's passes find nothing, at a cost that grows with the workflow
    (docs/performance.md). Nothing here makes reference cycles. Small workflows are left alone.
    """
    steps = data.get("steps") if isinstance(data, Mapping) else None
    if not isinstance(steps, list) or len(steps) < _PAUSE_GC_FROM or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_PAUSE_GC_FROM = 2000


# A workflow read from text keeps that text, so a later check of the record
# (at run time, after the registry changed) still points into the file.
_SOURCES: dict[int, tuple[weakref.ref[WorkflowSpec], str, str]] = {}


def _remember(spec: WorkflowSpec, text: str, name: str) -> None:
    key = id(spec)
    _SOURCES[key] = (weakref.ref(spec, lambda _: _SOURCES.pop(key, None)), text, name)


def _read(spec: SpecInput, limits: WorkflowLimits) -> tuple[Source | None, Any]:
    """A str is YAML or JSON text, never a file name: a path is a :class:`~pathlib.Path`."""
    if isinstance(spec, WorkflowSpec):
        known = _SOURCES.get(id(spec))
        if known is not None and known[0]() is spec:
            return parse(known[1], known[2], limits), spec
    if isinstance(spec, WorkflowSpec | Mapping):
        return None, spec
    source = (
        read_file(spec, limits) if isinstance(spec, os.PathLike) else parse(spec, "<text>", limits)
    )
    return source, source.data


def _too_many_steps(data: Any, limits: WorkflowLimits) -> Problem | None:
    """A workflow given as a dict is held to the same ``max_steps`` as one read from text."""
    steps = data.get("steps") if isinstance(data, Mapping) else None
    if not isinstance(steps, list) or len(steps) <= limits.max_steps:
        return None
    return Problem(
        "WF004",
        ("steps",),
        f"the workflow has {len(steps):,} steps; the limit is {limits.max_steps:,} (max_steps)",
        "split the workflow, or raise WorkflowLimits.max_steps",
    )


def load_workflow(source: SpecInput, limits: WorkflowLimits = DEFAULT_LIMITS) -> WorkflowSpec:
    """Load a workflow from a record, a dict, YAML/JSON text (a str) or a file (a Path).

    The structure and the graph are checked (components are not: they may be
    registered later); warnings are ignored.

    Raises:
        WorkflowInvalid: with every error, located, and the text report.
    """
    result = Validator(limits=limits).validate(source)
    if not result.ok:
        raise WorkflowInvalid(result, text_report(result, color=False))
    if isinstance(source, WorkflowSpec):
        return source  # the same object: caches keyed on identity stay warm
    assert isinstance(result.spec, WorkflowSpec)
    if result.source_text is not None:
        _remember(result.spec, result.source_text, result.source_name)
    return result.spec
