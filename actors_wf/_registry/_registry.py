"""The unified registry of components and workflows.

A :class:`RegistryActor` holds the entries (built in ``_entry``); the
:class:`Registry` facade keeps a read-through cache so that a lookup on the
hot path is one dict read, and finds ``@component`` declarations (``_declare``).

Registry messages are the one family that is not encoded to bytes: they carry
Python callables (the implementations), which no codec can send. They never
leave the process, and no other actor asks the registry anything.
"""

from __future__ import annotations

import builtins
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pykka

from .._core._actor import EngineActor
from .._core._errors import ComponentNotFound, DuplicateComponent, SpecError, WorkflowNotFound
from .._validation._source import DEFAULT_LIMITS, WorkflowLimits
from .._validation._validator import SpecInput as WorkflowSource
from ._declare import DECLARED, F, merge
from ._entry import (
    COMPONENT,
    WORKFLOW,
    RegistryEntry,
    check_type,
    make_component_entry,
    make_workflow_entry,
)

log = logging.getLogger("actors_wf.registry")


@attrs.frozen
class _Register:
    entry: RegistryEntry
    replace: bool


@attrs.frozen
class _Unregister:
    component_type: str
    component_id: str


@attrs.frozen
class _Lookup:
    component_type: str
    component_id: str


@attrs.frozen
class _List:
    component_type: str | None


@attrs.frozen
class RegistryState:
    """The registry actor's state: ``(type, id)`` to entry."""

    entries: dict[tuple[str, str], RegistryEntry] = attrs.Factory(dict)


class RegistryActor(EngineActor):
    """Owns the registry's entries; every change goes through its inbox."""

    handlers: ClassVar[dict[type[Any], str]] = {
        _Register: "on_register",
        _Unregister: "on_unregister",
        _Lookup: "on_lookup",
        _List: "on_list",
    }

    def __init__(self) -> None:
        super().__init__()
        self.state = RegistryState()

    def on_receive(self, message: Any) -> Any:
        """Run the handler; replies are Python objects, not bytes (see module doc)."""
        return getattr(self, self.handlers[type(message)])(message)

    def on_register(self, msg: _Register) -> RegistryEntry:
        """Add or replace an entry."""
        entry = msg.entry
        key = (entry.component_type, entry.component_id)
        if key in self.state.entries and not msg.replace:
            raise DuplicateComponent(*key)
        self.state = attrs.evolve(self.state, entries={**self.state.entries, key: entry})
        log.info("registered %s %r", *key)
        return entry

    def on_unregister(self, msg: _Unregister) -> None:
        """Remove an entry."""
        key = (msg.component_type, msg.component_id)
        self._get(key)
        entries = dict(self.state.entries)
        del entries[key]
        self.state = attrs.evolve(self.state, entries=entries)
        log.info("unregistered %s %r", *key)

    def on_lookup(self, msg: _Lookup) -> RegistryEntry | ComponentNotFound:
        """Find an entry; a missing one is answered with its error, not raised.

        Raised in a handler, Pykka would log it with a traceback for every
        lookup of a component declared with ``@component`` but not registered yet.
        """
        try:
            return self._get((msg.component_type, msg.component_id))
        except ComponentNotFound as exc:
            return exc

    def on_list(self, msg: _List) -> list[RegistryEntry]:
        """List entries, of one type or all."""
        keys = sorted(k for k in self.state.entries if msg.component_type in (None, k[0]))
        return [self.state.entries[k] for k in keys]

    def _get(self, key: tuple[str, str]) -> RegistryEntry:
        try:
            return self.state.entries[key]
        except KeyError:
            known = [cid for (ctype, cid) in self.state.entries if ctype == key[0]]
            known += [cid for (ctype, cid) in DECLARED if ctype == key[0]]
            missing = WorkflowNotFound if key[0] == WORKFLOW else ComponentNotFound
            raise missing(key[0], key[1], known) from None


class Registry:
    """Components and workflows, by type and id.

    Thread-safe. Lookups are served from a cache that every register and
    unregister through this facade invalidates.
    """

    def __init__(
        self,
        actor: pykka.ActorRef[RegistryActor],
        *,
        timeout: float = 30.0,
        limits: WorkflowLimits = DEFAULT_LIMITS,
    ) -> None:
        self._actor = actor
        self.limits = limits
        self._timeout = timeout
        self._cache: dict[tuple[str, str], RegistryEntry] = {}
        self._generation = 0
        self._lock = threading.Lock()
        # Declared components unregistered here: a lookup miss must not revive them.
        self._hidden: set[tuple[str, str]] = set()

    def register(
        self,
        component_type: str,
        component_id: str | None,
        definition: Any = None,
        implementation: Any = None,
        *,
        replace: bool = False,
    ) -> RegistryEntry:
        """Register a component or a workflow.

        Args:
            component_type: ``component`` or ``workflow``.
            component_id: the id (for a workflow, ``None`` takes the spec's id).
            definition: a component's :class:`ComponentDefinition` or dict; a
                workflow's spec (record, dict, YAML/JSON text as a str, or a
                file as a :class:`~pathlib.Path`).
            implementation: a component's function or class with ``run()``.
            replace: replace an entry with the same id instead of refusing.

        Returns:
            The stored entry.

        Raises:
            DuplicateComponent: the id is taken and ``replace`` is false.
            SpecError: the definition is malformed; the field is named.
            ValueError: the component type is not known.
        """
        entry = self._make_entry(component_type, component_id, definition, implementation)
        with self._lock:
            stored: RegistryEntry = self._ask(_Register(entry, replace))
            self._invalidate((component_type, stored.component_id))
            self._hidden.discard((component_type, stored.component_id))
        return stored

    def _make_entry(
        self, component_type: str, component_id: str | None, definition: Any, implementation: Any
    ) -> RegistryEntry:
        check_type(component_type)
        if component_type == WORKFLOW:
            return make_workflow_entry(component_id, definition, self.limits)
        if not component_id:
            raise SpecError("component is malformed", ["component_id must be a non-empty string"])
        if implementation is None:
            raise SpecError(
                f"component {component_id!r} is malformed",
                ["an implementation (function or class with run()) is required"],
            )
        return make_component_entry(component_id, definition, implementation)

    def register_workflow(
        self,
        source: WorkflowSource | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        replace: bool = False,
    ) -> str:
        """Register a workflow; return its id.

        Args:
            source: a :class:`WorkflowSpec`, a dict, YAML/JSON text (a ``str`` is
                always text, never a file name) or a file as a ``Path``.
            path: the workflow's file, when given by name.
            replace: replace a workflow with the same id instead of refusing.

        Raises:
            WorkflowInvalid: every problem, located.
            TypeError: neither or both of ``source`` and ``path`` given.
        """
        if (source is None) == (path is None):
            raise TypeError("register_workflow takes a source or path=, not both or neither")
        spec = Path(path) if path is not None else source
        return self.register(WORKFLOW, None, spec, replace=replace).component_id

    def component(
        self, component_id: str | None = None, definition: Any = None, **fields: Any
    ) -> Callable[[F], F]:
        """Decorator: register a function as a component of this registry."""

        def decorate(fn: F) -> F:
            cid = component_id or f"{fn.__module__}.{fn.__qualname__}"
            self.register(COMPONENT, cid, merge(definition, fields), fn)
            return fn

        return decorate

    def unregister(self, component_type: str, component_id: str) -> None:
        """Remove an entry.

        Raises:
            ComponentNotFound: nothing is registered under that type and id.
        """
        check_type(component_type)
        key = (component_type, component_id)
        with self._lock:
            try:
                self._ask(_Unregister(*key))
            except ComponentNotFound:
                if key not in DECLARED or key in self._hidden:
                    raise
            finally:
                self._invalidate(key)
            self._hidden.add(key)

    def lookup(self, component_type: str, component_id: str) -> RegistryEntry:
        """Find an entry (cached).

        Raises:
            ComponentNotFound: naming the type and the closest registered ids.
        """
        key = (component_type, component_id)
        entry = self._cache.get(key)
        if entry is not None:
            return entry
        return self._lookup_slow(key)

    def _lookup_slow(self, key: tuple[str, str]) -> RegistryEntry:
        check_type(key[0])
        generation = self._generation
        found: RegistryEntry | ComponentNotFound = self._ask(_Lookup(*key))
        if isinstance(found, ComponentNotFound):
            declared = DECLARED.get(key)
            if declared is None or key in self._hidden:
                raise found
            entry = self.register(key[0], key[1], *declared, replace=True)
        else:
            entry = found
        with self._lock:
            # A register/unregister that ran while we asked wins over our answer.
            if generation == self._generation:
                self._cache[key] = entry
        return entry

    def contains(self, component_type: str, component_id: str) -> bool:
        """Whether an entry exists under that type and id."""
        try:
            self.lookup(component_type, component_id)
        except ComponentNotFound:
            return False
        return True

    def list(self, component_type: str | None = None) -> builtins.list[RegistryEntry]:
        """Every entry, or those of one type, sorted by type and id."""
        if component_type is not None:
            check_type(component_type)
        for key in list(DECLARED):  # declared with @component: listed as if looked up
            if component_type in (None, key[0]) and key not in self._hidden:
                self.lookup(*key)
        result: builtins.list[RegistryEntry] = self._ask(_List(component_type))
        return result

    @property
    def generation(self) -> int:
        """A number that changes whenever an entry is registered or unregistered."""
        return self._generation

    def _invalidate(self, key: tuple[str, str]) -> None:
        self._generation += 1
        self._cache.pop(key, None)

    def _ask(self, message: Any) -> Any:
        return self._actor.ask(message, timeout=self._timeout)
