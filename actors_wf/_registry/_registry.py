"""The unified registry of components and workflows.

A :class:`RegistryActor` holds the entries; the :class:`Registry` facade keeps a
read-through cache so that a lookup on the hot path is one dict read.

Registry messages are the one family that is not encoded to bytes: they carry
Python callables (the implementations), which no codec can send. They never
leave the process, and no other actor asks the registry anything.
"""

from __future__ import annotations

import builtins
import inspect
import logging
import os
import threading
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import attrs
import pykka

from .._core._actor import EngineActor
from .._core._errors import ComponentNotFound, DuplicateComponent, SpecError, WorkflowNotFound
from .._core._spec import ComponentDefinition, WorkflowSpec
from .._core._types import type_name_of
from .._validation._definitions import load_definition
from .._validation._source import DEFAULT_LIMITS, WorkflowLimits
from .._validation._validator import SpecInput as WorkflowSource
from .._validation._validator import load_workflow

log = logging.getLogger("actors_wf.registry")

COMPONENT = "component"
WORKFLOW = "workflow"
COMPONENT_TYPES = (COMPONENT, WORKFLOW)
CONTEXT_PARAM = "ctx"

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class RegistryEntry:
    """One registered component or workflow.

    Attributes:
        component_type: ``component`` or ``workflow``.
        component_id: its id.
        definition: a :class:`ComponentDefinition` or a :class:`WorkflowSpec`.
        implementation: the callable of a component (``None`` for a workflow).
        required_inputs: input names a step must give (those without defaults).
        takes_context: whether the callable takes a ``ctx`` argument.
        takes_any_input: whether the callable takes ``**kwargs`` and declares
            no inputs, so that any input name is accepted.
    """

    component_type: str
    component_id: str
    definition: ComponentDefinition | WorkflowSpec
    implementation: Any = None
    required_inputs: frozenset[str] = frozenset()
    takes_context: bool = False
    takes_any_input: bool = False


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

    def on_lookup(self, msg: _Lookup) -> RegistryEntry:
        """Find an entry."""
        return self._get((msg.component_type, msg.component_id))

    def on_list(self, msg: _List) -> list[RegistryEntry]:
        """List entries, of one type or all."""
        keys = sorted(k for k in self.state.entries if msg.component_type in (None, k[0]))
        return [self.state.entries[k] for k in keys]

    def _get(self, key: tuple[str, str]) -> RegistryEntry:
        try:
            return self.state.entries[key]
        except KeyError:
            known = [cid for (ctype, cid) in self.state.entries if ctype == key[0]]
            known += [cid for (ctype, cid) in _DECLARED if ctype == key[0]]
            missing = WorkflowNotFound if key[0] == WORKFLOW else ComponentNotFound
            raise missing(key[0], key[1], known) from None


# Components declared with the module-level @component decorator, picked up by
# every registry on a lookup miss. Written at import time, read by any thread:
# dict get/set are atomic under the GIL.
_DECLARED: dict[tuple[str, str], tuple[Any, Any]] = {}


def component(
    component_id: str | None = None,
    definition: ComponentDefinition | dict[str, Any] | None = None,
    **fields: Any,
) -> Callable[[F], F]:
    """Declare a component; every engine's registry finds it by id.

    Inputs and output types come from the function's annotations unless the
    definition gives them. ``fields`` are definition keys given inline
    (``@component("x.y", timeout=5)``).

    Args:
        component_id: the id; the function's ``module.name`` when omitted.
        definition: a :class:`ComponentDefinition` or dict.
        fields: definition keys, merged over ``definition``.

    Returns:
        A decorator that returns the function unchanged.
    """

    def decorate(fn: F) -> F:
        cid = component_id or f"{fn.__module__}.{fn.__qualname__}"
        merged = _merge(definition, fields)
        make_component_entry(cid, merged, fn)  # refuse a bad one at import time
        _DECLARED[COMPONENT, cid] = (merged, fn)
        return fn

    return decorate


def _merge(definition: ComponentDefinition | dict[str, Any] | None, fields: dict[str, Any]) -> Any:
    if not fields:
        return definition
    base = (
        attrs.asdict(definition, recurse=False)
        if isinstance(definition, ComponentDefinition)
        else dict(definition or {})
    )
    return {**{k: v for k, v in base.items() if v is not None}, **fields}


def _callable_of(implementation: Any) -> Callable[..., Any]:
    if inspect.isclass(implementation):
        run = getattr(implementation, "run", None)
        if not callable(run):
            raise SpecError(
                f"component class {implementation.__qualname__} is malformed",
                ["a component class needs a run() method @ implementation"],
            )
        return run  # type: ignore[no-any-return]
    if not callable(implementation):
        raise SpecError(
            "component implementation is malformed",
            [f"expected a function or a class with run(), got {type(implementation).__name__}"],
        )
    return implementation  # type: ignore[no-any-return]


def import_path(implementation: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` another process can import ``implementation`` by, if any."""
    module = getattr(implementation, "__module__", None)
    qualname = getattr(implementation, "__qualname__", "")
    if not module or module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname:
        return None
    return module, qualname


def make_component_entry(component_id: str, definition: Any, implementation: Any) -> RegistryEntry:
    """Build a component entry, reading types from annotations where not given.

    Raises:
        SpecError: the definition is malformed, or it declares inputs the
            implementation does not take.
    """
    defn = load_definition(definition)
    if defn.factory:
        return _factory_entry(component_id, defn, implementation)
    fn = _callable_of(implementation)
    sig = inspect.signature(fn)
    params = [p for name, p in sig.parameters.items() if name not in ("self", CONTEXT_PARAM)]
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
    hints = _hints(fn)
    takes_any_input = takes_kwargs and defn.inputs is None
    if defn.inputs is None:
        defn = attrs.evolve(defn, inputs={p.name: type_name_of(hints.get(p.name)) for p in named})
    elif not takes_kwargs:
        unknown = sorted(set(defn.inputs) - {p.name for p in named})
        if unknown:
            raise SpecError(
                f"component {component_id!r} is malformed",
                [
                    f"input {n!r} is declared but {fn.__qualname__}() takes no such argument "
                    f"@ definition.inputs.{n}"
                    for n in unknown
                ],
            )
    if defn.output is None:
        defn = attrs.evolve(defn, output=type_name_of(hints.get("return")))
    _check_importable(component_id, defn, implementation)
    return RegistryEntry(
        COMPONENT,
        component_id,
        defn,
        implementation,
        frozenset(p.name for p in named if p.default is p.empty),
        CONTEXT_PARAM in sig.parameters,
        takes_any_input=takes_any_input,
    )


def _factory_entry(component_id: str, defn: ComponentDefinition, factory: Any) -> RegistryEntry:
    """A component whose implementation makes the callable anew for each attempt."""
    if not callable(factory):
        raise SpecError(
            f"component {component_id!r} is malformed",
            [f"factory: true needs a callable that makes the component, got {factory!r}"],
        )
    _check_importable(component_id, defn, factory)
    inputs = defn.inputs
    defn = attrs.evolve(defn, inputs=inputs or {}, output=defn.output or "any")
    return RegistryEntry(COMPONENT, component_id, defn, factory, takes_any_input=inputs is None)


def _check_importable(component_id: str, defn: ComponentDefinition, implementation: Any) -> None:
    if defn.isolation == "process" and import_path(implementation) is None:
        name = getattr(implementation, "__qualname__", "?")
        raise SpecError(
            f"component {component_id!r} is malformed",
            [
                f"isolation: process runs {name} in another process, which imports it: define "
                "it at module level (not in __main__, inside a function, or as a lambda) "
                "@ definition.isolation"
            ],
        )


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to "any"
        return {}


def make_workflow_entry(
    component_id: str | None, source: WorkflowSource, limits: WorkflowLimits = DEFAULT_LIMITS
) -> RegistryEntry:
    """Build a workflow entry from any workflow source.

    Raises:
        WorkflowInvalid: the spec cannot be read or its graph is broken.
    """
    spec = load_workflow(source, limits)
    if component_id is not None and component_id != spec.id:
        spec = attrs.evolve(spec, id=component_id)
    return RegistryEntry(WORKFLOW, spec.id, spec)


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
        _check_type(component_type)
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
            self.register(COMPONENT, cid, _merge(definition, fields), fn)
            return fn

        return decorate

    def unregister(self, component_type: str, component_id: str) -> None:
        """Remove an entry.

        Raises:
            ComponentNotFound: nothing is registered under that type and id.
        """
        _check_type(component_type)
        key = (component_type, component_id)
        with self._lock:
            try:
                self._ask(_Unregister(*key))
            except ComponentNotFound:
                if key not in _DECLARED or key in self._hidden:
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
        _check_type(key[0])
        generation = self._generation
        try:
            entry: RegistryEntry = self._ask(_Lookup(*key))
        except ComponentNotFound:
            declared = _DECLARED.get(key)
            if declared is None or key in self._hidden:
                raise
            entry = self.register(key[0], key[1], *declared, replace=True)
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
            _check_type(component_type)
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


def _check_type(component_type: str) -> None:
    if component_type not in COMPONENT_TYPES:
        raise ValueError(
            f"unknown component type {component_type!r}; use one of: {', '.join(COMPONENT_TYPES)}"
        )
