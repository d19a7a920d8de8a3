"""A test engine: components and workflows registered, time on a ManualClock, checked at exit."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .._core._spec import WorkflowSpec
from .._engine import Engine
from .._registry._entry import COMPONENT, RegistryEntry, make_component_entry
from .._runtime._clock import Clock, ManualClock
from .._state._manager import StateManager
from .._state._store import Store
from ._leaks import assert_no_leaks

# A component as a test gives it: the callable, or the callable and its definition.
ComponentSource = Callable[..., Any] | tuple[Callable[..., Any], Any]
# Components by id, or module paths whose @component declarations to import.
Components = Mapping[str, ComponentSource] | Iterable[str]
WorkflowSource = WorkflowSpec | Mapping[str, Any] | str | os.PathLike[str]


def component_entries(components: Components | None) -> dict[str, RegistryEntry]:
    """The registry entries of components given as a mapping (modules are not entries).

    Raises:
        SpecError: a definition is malformed.
    """
    if not isinstance(components, Mapping):
        return {}
    entries = {}
    for component_id, source in components.items():
        implementation, definition = source if isinstance(source, tuple) else (source, None)
        entries[component_id] = make_component_entry(component_id, definition, implementation)
    return entries


def register(
    engine: Engine, components: Components | None, workflows: Iterable[WorkflowSource]
) -> list[str]:
    """Register ``components`` and ``workflows`` on ``engine``; return the workflow ids."""
    if isinstance(components, Mapping):
        for component_id, source in components.items():
            implementation, definition = source if isinstance(source, tuple) else (source, None)
            engine.registry.register(COMPONENT, component_id, definition, implementation)
    return [engine.registry.register_workflow(source) for source in workflows]


class SequentialIds:
    """Job ids a test can predict: ``job-1``, ``job-2``... skipping ids the store has."""

    def __init__(self, prefix: str = "job-") -> None:
        self.prefix = prefix
        self.state: StateManager | None = None
        self._numbers = itertools.count(1)

    def __call__(self) -> str:
        while True:
            job_id = f"{self.prefix}{next(self._numbers)}"
            if self.state is None or self.state.find(job_id) is None:
                return job_id


@contextlib.contextmanager
def engine(
    components: Components | None = None,
    workflows: Iterable[WorkflowSource] = (),
    store: Store | str | os.PathLike[str] = "memory",
    clock: Clock | None = None,
    ids: str | Callable[[], str] | None = None,
    **engine_options: Any,
) -> Iterator[Engine]:
    """An :class:`~actors_wf.Engine` for a test, closed and checked at the end of the block.

    Args:
        components: component id to its callable, or to ``(callable,
            definition)``; or module paths whose ``@component`` declarations
            to import.
        workflows: specs to register: dicts, :class:`~actors_wf.WorkflowSpec`,
            YAML or JSON text, or files as paths.
        store: ``"memory"`` or a SQLite path or URL.
        clock: where time comes from; a new :class:`~actors_wf.ManualClock` by
            default (time moves only when the test calls
            ``engine.clock.advance(seconds)``).
        ids: ``"sequential"`` for job ids ``job-1``, ``job-2``... (skipping
            ids the store holds), a function that makes ids, or ``None`` for
            uuid4 ids.
        engine_options: any other keyword of :class:`~actors_wf.Engine`.

    Raises:
        AssertionError: at the end, when a thread, actor or child process of
            the block is left running (see :func:`assert_no_leaks`).

    Example::

        with testing.engine({"etl.fetch": fetch}, ["flows/etl.yaml"]) as engine:
            assert engine.run("etl", {"url": "x"}) == {...}
    """
    job_ids = SequentialIds() if ids == "sequential" else ids
    if isinstance(job_ids, str):
        raise ValueError(f"ids must be 'sequential', a function or None, got {ids!r}")
    modules = () if components is None or isinstance(components, Mapping) else components
    with assert_no_leaks():
        eng = Engine(
            store=None if store == "memory" else store,
            clock=ManualClock() if clock is None else clock,
            job_ids=job_ids,
            components=list(modules),
            **engine_options,
        )
        with eng:
            if isinstance(job_ids, SequentialIds):
                job_ids.state = eng.state
            register(eng, components, workflows)
            yield eng
