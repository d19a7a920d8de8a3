"""Spec records: what a user writes down about components and workflows.

All records are frozen; they are read from YAML, JSON or dicts by the codec's
converter (see ``_validation/_structure``), which checks every field's type strictly.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import attrs

from ._types import parse_type

ON_FAILURE = ("fail_job", "continue")
ON_ITEM_FAILURE = ("fail_job", "skip", "collect")


class _Duration:
    """Marks a float field that a workflow file may also write as ``30s``, ``5m``, ``1h30m``."""


Seconds = Annotated[float, _Duration]
"""Seconds: a number, or in a workflow file a duration with units (``500ms``, ``2d``)."""

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = f"^{_DURATION.pattern}$"


def parse_duration(text: str) -> float:
    """``"1h30m"`` -> ``5400.0``: units ms, s, m, h and d, largest first or in any order.

    Raises:
        ValueError: the text is not a duration.
    """
    compact = text.strip()
    if not _DURATION.fullmatch(compact):
        raise ValueError(
            f"expected seconds or a duration such as 30s, 5m, 1h30m or 2d, got {text!r:.60}"
        )
    return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _PART.findall(compact))


def is_seconds(kind: Any) -> bool:
    """Whether a field's type is ``Seconds``, for the converter's hook."""
    return bool(kind == Seconds)


def _positive_or_none(_: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _amounts(_: Any, attribute: attrs.Attribute[Any], value: dict[str, int]) -> None:
    for name, amount in value.items():
        if amount < 1:
            raise ValueError(f"resources: {name!r} must be 1 or more, got {amount}")


def _memory_limit(instance: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is None:
        return
    if value < 1:
        raise ValueError(f"memory_limit must be 1 MiB or more, got {value}")
    if instance.isolation != "process":
        raise ValueError("memory_limit needs isolation: process (a thread cannot be limited)")


def _type_name(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    parse_type(value)


def _type_names(_: Any, attribute: attrs.Attribute[Any], value: dict[str, str] | None) -> None:
    for name, type_name in (value or {}).items():
        try:
            parse_type(type_name)
        except ValueError as exc:
            raise ValueError(f"input {name!r}: {exc}") from None


@attrs.frozen
class RetryPolicy:
    """How often and how fast a failing step is tried again.

    Attributes:
        max_attempts: attempts in all, the first one included (1 means no retry).
        initial_interval: seconds before the second attempt.
        backoff_coefficient: each further wait is the previous one times this.
        max_interval: the longest wait, in seconds (no cap when ``None``).
        jitter: a fraction in [0, 1]; each wait is shortened by a random part of it.
        non_retryable_errors: error type names (``ValueError`` or
            ``pkg.mod.MyError``) that fail the step at once.
    """

    max_attempts: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    initial_interval: Seconds = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    backoff_coefficient: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    max_interval: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    jitter: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    non_retryable_errors: tuple[str, ...] = ()

    def interval(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), before jitter."""
        wait = self.initial_interval * self.backoff_coefficient ** (attempt - 1)
        return wait if self.max_interval is None else min(wait, self.max_interval)


# The executors every engine has; Engine(executors=...) may add others by name.
BUILT_IN_EXECUTORS = frozenset({"thread", "process"})


@attrs.frozen
class ComponentDefinition:
    """What a component takes, gives and how it runs.

    Every field is optional; ``inputs`` and ``output`` left out are read from
    the implementation's annotations when it is registered.

    Attributes:
        inputs: input name to type name.
        output: the output's type name.
        description: one line for people.
        retry: the default retry policy of steps using this component.
        timeout: the default seconds one attempt may take.
        total_timeout: the default seconds a step may take, all attempts and
            waits between them included.
        heartbeat_timeout: fail an attempt that has not called
            ``ctx.heartbeat()`` for this many seconds.
        isolation: ``thread`` (default), ``process``, or the name of an
            executor the engine was given (``Engine(executors={"dask": ...})``).
        resources: what an attempt holds while it runs, e.g. ``{db: 1}``.
        factory: the implementation is called with no arguments for every
            attempt and returns the callable to run (a fresh client, a model
            loaded per attempt...); declare ``inputs`` and ``output`` then,
            as they cannot be read from the factory.
        memory_limit: MiB of address space an attempt may add (process
            isolation only); over it the component gets ``MemoryError``.
    """

    inputs: dict[str, str] | None = attrs.field(default=None, validator=_type_names)
    output: str | None = attrs.field(default=None, validator=attrs.validators.optional(_type_name))
    description: str = ""
    retry: RetryPolicy | None = None
    timeout: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    total_timeout: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    heartbeat_timeout: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    isolation: str = attrs.field(default="thread", validator=attrs.validators.min_len(1))
    resources: dict[str, int] = attrs.field(factory=dict, validator=_amounts)
    factory: bool = False
    memory_limit: int | None = attrs.field(default=None, validator=_memory_limit)


@attrs.frozen
class InputSpec:
    """One declared input of a workflow.

    Attributes:
        type: its type name.
        default: the value used when a job does not give one.
        required: whether a job must give it; false when a default is written.
        description: one line for people.
    """

    type: str = attrs.field(default="any", validator=_type_name)
    default: Any = None
    required: bool = True
    description: str = ""


@attrs.frozen
class WaitFor:
    """What a waiting step waits for: a signal sent to its job.

    Attributes:
        signal: the signal's name (``engine.jobs.signal(job_id, name, payload)``).
        timeout: fail the wait after this long (a number of seconds or a
            duration such as ``3d``); the step's retry policy may wait again.
        type: the payload's type; the step's output is the payload.
    """

    signal: str
    timeout: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    type: str = attrs.field(default="any", validator=_type_name)


@attrs.frozen
class StepSpec:
    """One step of a workflow.

    Attributes:
        id: unique within the workflow.
        component: the registered component id it runs (none for a ``wait_for`` step).
        inputs: input name to a literal value or a reference
            (``$inputs.X``, ``$steps.ID.output``, ``$steps.ID.output.FIELD``).
        depends_on: step ids that must succeed first although no data flows.
        retry: overrides the component's retry policy.
        timeout: overrides the component's timeout of one attempt, in seconds.
        total_timeout: overrides the component's bound on all attempts.
        heartbeat_timeout: overrides the component's heartbeat bound.
        on_failure: ``fail_job`` (default) or ``continue``: the steps that
            need this one are SKIPPED and the job still completes.
        resources: what an attempt holds while it runs (``{db: 1}``), from
            the engine's ``resources``; overrides the component's.
        description: one line for people.
        for_each: a reference to a list: the component runs once per item
            (``$item``, ``$item.FIELD`` and ``$index`` in the inputs), and the
            step's output is the list of the items' outputs, in item order.
        max_parallel: at most this many items of a ``for_each`` run at once
            (by default, as many as the engine's limits let).
        on_item_failure: ``fail_job`` (default), ``skip`` (a failed item is
            left out of the output) or ``collect`` (it is an error record
            ``{error: {type, message}}`` in its place).
        when: run the step only if this holds: a reference to a bool
            (``$steps.check.output.ok``) or a comparison
            (``"$steps.check.output.count > 0"``); when it does not, the step
            is SKIPPED, and so are the steps that need it.
        defaults: input name to the value it takes when the step it reads was
            SKIPPED; with one for every input that reads it, a step runs on.
        wait_for: instead of a component: wait, holding no thread, until the
            job gets this signal; the payload is the step's output.
        workflow: instead of a component: run a child job of this registered
            workflow with the step's inputs; its outputs are the step's output.
        executor: run this step's attempts on that executor (``thread``,
            ``process``, or a name given to ``Engine(executors=...)``, e.g.
            ``dask``) instead of where its component's ``isolation`` says.
    """

    id: str
    component: str = ""
    inputs: dict[str, Any] = attrs.Factory(dict)
    depends_on: tuple[str, ...] = ()
    retry: RetryPolicy | None = None
    timeout: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    total_timeout: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    heartbeat_timeout: Seconds | None = attrs.field(default=None, validator=_positive_or_none)
    on_failure: str = attrs.field(default="fail_job", validator=attrs.validators.in_(ON_FAILURE))
    resources: dict[str, int] = attrs.field(factory=dict, validator=_amounts)
    description: str = ""
    for_each: str | None = None
    max_parallel: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    on_item_failure: str = attrs.field(
        default="fail_job", validator=attrs.validators.in_(ON_ITEM_FAILURE)
    )
    when: str | None = None
    defaults: dict[str, Any] = attrs.Factory(dict)
    wait_for: WaitFor | None = None
    workflow: str | None = None
    executor: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.min_len(1))
    )


@attrs.frozen
class WorkflowSpec:
    """A workflow: a DAG of steps with declared inputs and outputs.

    Attributes:
        id: the workflow's id in the registry.
        version: bumped by the author when the workflow changes.
        inputs: input name to its declaration.
        steps: the steps, in the order written.
        outputs: output name to a reference or literal.
        description: one line for people.
    """

    id: str
    steps: tuple[StepSpec, ...]
    version: int | str = 1
    inputs: dict[str, InputSpec] = attrs.Factory(dict)
    outputs: dict[str, Any] = attrs.Factory(dict)
    description: str = ""

    @property
    def key(self) -> str:
        """``id@version``: names one version of a workflow in caches and logs."""
        return f"{self.id}@{self.version}"

    def step(self, step_id: str) -> StepSpec:
        """Return the step with that id.

        Raises:
            KeyError: no such step.
        """
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
