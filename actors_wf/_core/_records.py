"""State records: what the engine knows about a job at one moment.

A ``JobState`` is frozen; every change makes a new one (``attrs.evolve``) with
``version`` one higher. Mappings inside are never mutated after construction.
"""

from __future__ import annotations

import itertools
import operator
import traceback as _traceback
from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from typing import Any, TypeVar

import attrs

from ._spec import WorkflowSpec
from ._status import JobStatus, StepStatus

R = TypeVar("R")


def evolve(record: R, **changes: Any) -> R:
    """``attrs.evolve`` without its walk of the class's fields on every call.

    The fields are read in one call (an ``attrgetter`` made once per class)
    and the class is called with them by position; the record made, and the
    ``TypeError`` for a field it does not have, are the same. Each job's
    status changes and its manager's queue make several a job.
    """
    cls = record.__class__
    plan = _EVOLVE.get(cls) or _evolve_plan(cls)
    if plan is _NO_PLAN:
        return attrs.evolve(record, **changes)  # type: ignore[misc]
    read, index = plan
    values = list(read(record))
    for name, value in changes.items():
        at = index.get(name)
        if at is None:
            raise TypeError(f"{cls.__name__} has no field {name!r} to change")
        values[at] = value
    return cls(*values)


def _evolve_plan(cls: type[Any]) -> Any:
    fields = attrs.fields(cls)
    names = tuple(field.name for field in fields)
    # By position only where every field is an __init__ argument of its own name.
    plain = len(names) > 1 and all(f.init and f.alias == f.name and not f.kw_only for f in fields)
    plan = (
        (operator.attrgetter(*names), {n: i for i, n in enumerate(names)}) if plain else _NO_PLAN
    )
    _EVOLVE[cls] = plan
    return plan


_NO_PLAN: Any = object()
_EVOLVE: dict[type[Any], Any] = {}

PRIORITIES = {"HIGH": 100, "MEDIUM": 50, "LOW": 10}


# A field's metadata: encoded only when it is not at its default (see _convert).
OMIT_IF_DEFAULT = {"omit_if_default": True}


@attrs.frozen
class ErrorInfo:
    """An error, kept as text so that it can be stored and sent.

    Attributes:
        type: the error's qualified type name (``ValueError``, ``pkg.mod.Err``).
        message: ``str(error)``.
        traceback: the formatted traceback, empty when there is none.
        step_id: the step it came from, if any.
    """

    type: str
    message: str
    traceback: str = ""
    step_id: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException, step_id: str | None = None) -> ErrorInfo:
        """Capture an exception with its traceback."""
        kind = type(exc)
        module = kind.__module__
        name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
        text = "".join(_traceback.format_exception(exc))
        message = str(exc) or _UNSAID.get(kind, "") or f"{kind.__qualname__} (no message)"
        return cls(type=name, message=message, traceback=text, step_id=step_id)


# What an exception raised with no message meant, for the ones that usually have none.
_UNSAID: dict[type[BaseException], str] = {
    MemoryError: "out of memory (MemoryError)",
    KeyboardInterrupt: "interrupted (KeyboardInterrupt)",
    RecursionError: "maximum recursion depth exceeded",
}


@attrs.frozen
class Attempt:
    """One try at running a step.

    Attributes:
        number: 1 for the first attempt.
        started_at: wall-clock seconds since the epoch.
        finished_at: when it ended, ``None`` while running.
        error: why it failed, ``None`` if it did not.
        worker: the Dask worker (its address) that ran it, for an attempt
            on a cluster; ``None`` for one run by this engine's process.
    """

    number: int
    started_at: float
    finished_at: float | None = None
    error: ErrorInfo | None = None
    worker: str | None = attrs.field(default=None, metadata=OMIT_IF_DEFAULT)


@attrs.frozen
class StepState:
    """One step of one job.

    Attributes:
        step_id: the step's id in the workflow.
        status: where it is.
        attempts: every attempt so far, oldest first.
        output: the component's return value once it succeeded.
        error: the error that ended it, if it failed.
    """

    step_id: str
    status: StepStatus = StepStatus.PENDING
    attempts: tuple[Attempt, ...] = ()
    output: Any = None
    error: ErrorInfo | None = None

    def moved(self, status: StepStatus, **changes: Any) -> StepState:
        """A copy in ``status``, with ``changes`` to ``attempts``, ``output`` or ``error``.

        What ``attrs.evolve`` does, at a third of its cost: it runs several
        times for every step of every job.

        Raises:
            TypeError: a change names another field.
        """
        if not changes:
            return StepState(self.step_id, status, self.attempts, self.output, self.error)
        if not _MOVABLE.issuperset(changes):
            raise TypeError(f"StepState.moved() cannot change {sorted(changes.keys() - _MOVABLE)}")
        get = changes.get
        return StepState(
            self.step_id,
            status,
            get("attempts", self.attempts),
            get("output", self.output),
            get("error", self.error),
        )

    @property
    def started_at(self) -> float | None:
        """When the first attempt started."""
        return self.attempts[0].started_at if self.attempts else None

    @property
    def finished_at(self) -> float | None:
        """When the last attempt ended, if it did."""
        return self.attempts[-1].finished_at if self.attempts else None


_MOVABLE = frozenset({"attempts", "output", "error"})


class StepMap(Mapping[str, StepState]):
    """A job's steps by id: a read-only mapping, cheap to copy with a few steps changed.

    A job is saved once per step result. Copying a dict of all its steps each
    time made a step of a 1,000-step job cost more than one of a 5-step job.
    Here the steps sit in chunks that the versions of a job share: a new
    version (:meth:`updated`) copies only the chunks it changes and the tuple
    of chunks. The steps keep the order they were given in.
    """

    __slots__ = ("_base", "_chunks", "_dirty", "_where")
    _where: Mapping[str, int]  # step id -> position; shared by every version of a job
    _chunks: tuple[tuple[StepState, ...], ...]
    # The chunks of the version this one was made from, and which chunks differ:
    # one level only (the base's own base is not kept), so no chain of versions lives on.
    _base: tuple[tuple[StepState, ...], ...] | None
    _dirty: Mapping[int, object]  # its keys: the chunks changed (the dict updated() built)

    def __init__(
        self, steps: Mapping[str, StepState] | Iterable[tuple[str, StepState]] = ()
    ) -> None:
        items = dict(steps)
        self._where = {sid: i for i, sid in enumerate(items)}
        values = list(items.values())
        self._chunks = tuple(tuple(values[i : i + _CHUNK]) for i in range(0, len(values), _CHUNK))
        self._base, self._dirty = None, {}

    def updated(self, changes: Mapping[str, StepState]) -> StepMap:
        """A copy with ``changes`` in place of the steps of the same ids.

        Raises:
            KeyError: a change names a step this map does not have.
        """
        where, chunks = self._where, list(self._chunks)
        copied: dict[int, list[StepState]] = {}
        for sid, step in changes.items():
            n, k = divmod(where[sid], _CHUNK)
            chunk = copied.get(n)
            if chunk is None:
                chunk = copied[n] = list(chunks[n])
            chunk[k] = step
        for n, chunk in copied.items():
            chunks[n] = tuple(chunk)
        new = object.__new__(StepMap)
        new._where, new._chunks = where, tuple(chunks)
        new._base, new._dirty = self._chunks, copied
        return new

    def changed(self, before: StepMap) -> list[tuple[int, StepState]] | None:
        """``(position, step)`` of the steps not the same objects as in ``before``.

        ``None`` unless both are versions of one map (made by :meth:`updated`):
        then a chunk they share is skipped whole, so the cost follows the
        changes, not the job's size.
        """
        if before._where is not self._where:
            return None
        theirs = before._chunks
        if self._base is theirs:  # made from it: only its dirty chunks can differ
            places: Iterable[int] = self._dirty
        else:
            places = [n for n, mine in enumerate(self._chunks) if mine is not theirs[n]]
        out = []
        for n in places:
            pairs = enumerate(zip(self._chunks[n], theirs[n], strict=True))
            out += [(n * _CHUNK + k, a) for k, (a, b) in pairs if a is not b]
        return out

    def __getitem__(self, step_id: str) -> StepState:
        i = self._where[step_id]
        return self._chunks[i // _CHUNK][i % _CHUNK]

    def get(self, step_id: str, default: Any = None) -> Any:
        """The step, or ``default``."""
        i = self._where.get(step_id)
        return default if i is None else self._chunks[i // _CHUNK][i % _CHUNK]

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def values(self) -> ValuesView[StepState]:
        """The steps, in order."""
        return _Values(self)

    def items(self) -> ItemsView[str, StepState]:
        """``(step id, step)`` pairs, in order."""
        return _Items(self)

    def __eq__(self, other: object) -> bool:
        if (
            isinstance(other, StepMap)
            and other._chunks == self._chunks
            and list(other._where) == list(self._where)
        ):
            return True  # the common case, without building two dicts
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # a mapping, as dict

    def __repr__(self) -> str:
        return f"StepMap({dict(self.items())!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (StepMap, (dict(self.items()),))


class _Values(ValuesView[StepState]):
    _mapping: StepMap

    def __iter__(self) -> Iterator[StepState]:
        return itertools.chain.from_iterable(self._mapping._chunks)


class _Items(ItemsView[str, StepState]):
    _mapping: StepMap

    def __iter__(self) -> Iterator[tuple[str, StepState]]:
        steps = self._mapping
        return zip(steps._where, itertools.chain.from_iterable(steps._chunks), strict=True)


_CHUNK = 32


def step_map(steps: Mapping[str, StepState]) -> StepMap:
    """``steps`` as a :class:`StepMap` (itself when it is one)."""
    return steps if type(steps) is StepMap else StepMap(steps)


@attrs.frozen
class JobState:
    """One job: its workflow, inputs, status, steps and result.

    Attributes:
        job_id: unique id.
        workflow: the workflow spec, copied when the job was created so that a
            later change in the registry never changes a running job.
        status: where the job is.
        inputs: the job's inputs, defaults filled in.
        priority: larger runs first.
        steps: step id to its state, a read-only :class:`StepMap` (a dict given
            here is converted).
        outputs: the workflow's outputs once the job completed.
        error: why the job failed, if it did.
        created_at / started_at / finished_at: wall-clock seconds since the epoch.
        version: bumped by one on every change; used to refuse stale writes.
        signals: signals sent to the job that no step has taken yet, by name,
            oldest first: a step that comes to wait for one takes it.
        parent_job_id / parent_step_id: for a child job (a step's sub-workflow),
            the job and the step that started it.
        children: step id to the job id of the child job it runs (its last).
    """

    job_id: str
    workflow: WorkflowSpec
    status: JobStatus
    inputs: dict[str, Any]
    priority: int
    steps: StepMap = attrs.field(converter=step_map)
    created_at: float
    outputs: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    started_at: float | None = None
    finished_at: float | None = None
    version: int = 0
    signals: dict[str, list[Any]] = attrs.Factory(dict)
    parent_job_id: str | None = None
    parent_step_id: str | None = None
    children: dict[str, str] = attrs.Factory(dict)

    @property
    def workflow_id(self) -> str:
        """The workflow's id."""
        return self.workflow.id

    def step(self, step_id: str) -> StepState:
        """The state of one step."""
        return self.steps[step_id]

    def with_step(self, step: StepState) -> JobState:
        """A copy with one step replaced (sharing the steps that did not move)."""
        return attrs.evolve(self, steps=self.steps.updated({step.step_id: step}))

    def without_outputs(self) -> JobState:
        """A copy with the job's and every step's output left out (``None``)."""
        steps = StepMap((sid, attrs.evolve(s, output=None)) for sid, s in self.steps.items())
        return attrs.evolve(self, outputs=None, steps=steps)

    def next_version(self, **changes: Any) -> JobState:
        """A copy one version on, with ``changes`` to other fields.

        ``attrs.evolve`` at half its cost: every save of every job makes one.

        Raises:
            TypeError: a change names no field of ``JobState``, or ``version``.
        """
        if changes.keys() == _STEPS_ONLY:  # a runtime save
            steps = changes["steps"]
            return JobState(
                self.job_id,
                self.workflow,
                self.status,
                self.inputs,
                self.priority,
                steps,
                self.created_at,
                self.outputs,
                self.error,
                self.started_at,
                self.finished_at,
                self.version + 1,
                self.signals,
                self.parent_job_id,
                self.parent_step_id,
                self.children,
            )
        if not _JOB_FIELDS.issuperset(changes):
            raise TypeError(f"JobState.next_version() cannot change {sorted(changes)}")
        return evolve(self, **changes, version=self.version + 1)


_JOB_FIELDS = frozenset(a.name for a in attrs.fields(JobState)) - {"version"}
_STEPS_ONLY = {"steps"}
