"""The oracle: a workflow run by plain function calls, and the differential property.

:func:`reference_run` knows nothing of actors, threads, the store or the
clock. It calls each step's component in dependency order, on one thread,
and says what a correct engine must make of the job. It shares with the
engine only what defines the language (how a spec is read, what a type name
means, how a component is called), never how a job runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._core._errors import JobNotFound
from .._core._inputs import check_inputs
from .._core._kinds import EventKind
from .._core._plain import plain_problem
from .._core._records import JobState
from .._core._spec import ComponentDefinition, RetryPolicy, StepSpec, WorkflowSpec
from .._core._status import JobStatus, StepStatus
from .._core._types import parse_type
from .._engine import Engine
from .._observe._events import Event
from .._registry._entry import COMPONENT, RegistryEntry
from .._runtime._attempt import StepContext, call
from .._runtime._clock import ManualClock
from .._validation._validator import load_workflow
from ._engine import Components, WorkflowSource, component_entries

_SUCCEEDED, _FAILED, _SKIPPED = StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED


@attrs.frozen
class Reference:
    """What a correct engine makes of a job: the oracle's answer.

    Every step is settled as if each ran once its dependencies succeeded,
    even after a step that fails the job (the engine may or may not reach
    those, running branches at once; :func:`assert_same_as_reference` allows
    for it).

    Attributes:
        status: ``COMPLETED`` or ``FAILED``.
        outputs: the job's outputs, when it completed.
        steps: each step's status: ``SUCCEEDED``, ``FAILED`` or ``SKIPPED``.
        step_outputs: the output of each step that succeeded.
        errors: the error type name of each step that failed.
        attempts: how many times each step's component was called.
        fails_job: the failed steps whose failure fails the job (``on_failure: fail_job``).
    """

    status: JobStatus
    outputs: dict[str, Any] | None
    steps: dict[str, StepStatus]
    step_outputs: dict[str, Any]
    errors: dict[str, str]
    attempts: dict[str, int]
    fails_job: frozenset[str]


class _StepError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def reference_run(
    workflow: WorkflowSource,
    inputs: Mapping[str, Any] | None,
    components: Components | Engine,
) -> Reference:
    """Run ``workflow`` with plain calls, in dependency order; return what must come of it.

    Args:
        workflow: a spec, a dict, YAML/JSON text or a file path.
        inputs: the job's inputs (defaults are filled in as the engine does).
        components: component id to callable (or ``(callable, definition)``),
            as :func:`~actors_wf.testing.engine` takes them, or an engine
            whose registered components to call.

    Raises:
        InvalidInputs: the inputs do not fit the workflow, as ``create_job`` says.
        WorkflowInvalid: the workflow cannot be read.
        NotImplementedError: the workflow decides at run time (``for_each``,
            ``when``, ``defaults``, ``wait_for``, ``workflow``), which this
            reference does not model yet.
    """
    spec = workflow if isinstance(workflow, WorkflowSpec) else load_workflow(_source(workflow))
    _refuse_dynamic(spec)
    values = check_inputs(spec, inputs)
    entries = _entries(spec, components)
    statuses: dict[str, StepStatus] = {}
    outputs: dict[str, Any] = {}
    errors: dict[str, str] = {}
    attempts: dict[str, int] = {}
    for step in _in_order(spec.steps):
        if any(statuses[d] is not _SUCCEEDED for d in _needs(step)):
            statuses[step.id] = _SKIPPED
            continue
        entry = entries[step.component]
        try:
            outputs[step.id] = _run_step(
                step, entry, _resolve(step.inputs, values, outputs), attempts
            )
            statuses[step.id] = _SUCCEEDED
        except _StepError as exc:
            statuses[step.id] = _FAILED
            errors[step.id] = exc.kind
    by_id = {s.id: s for s in spec.steps}
    fails_job = frozenset(s for s in errors if by_id[s].on_failure == "fail_job")
    job_outputs = None
    status = JobStatus.FAILED if fails_job else JobStatus.COMPLETED
    if not fails_job:
        try:
            job_outputs = _resolve(spec.outputs, values, outputs, strict=True)
        except LookupError:
            status = JobStatus.FAILED  # an output that follows fields into a step with none
    return Reference(status, job_outputs, statuses, outputs, errors, attempts, fails_job)


def _refuse_dynamic(spec: WorkflowSpec) -> None:
    """Say so, rather than give a wrong reference, for a workflow this oracle cannot model."""
    for step in spec.steps:
        used = [
            name
            for name, given in (
                ("for_each", step.for_each),
                ("when", step.when),
                ("defaults", step.defaults),
                ("wait_for", step.wait_for),
                ("workflow", step.workflow),
            )
            if given
        ]
        indexed = any("[" in text for text in _strings(step.inputs) if text.startswith("$"))
        if used or indexed:
            what = ", ".join(f"{name}:" for name in used) or "a reference with [ ]"
            raise NotImplementedError(
                f"reference_run does not model {what} yet (step {step.id!r} of"
                f" {spec.id!r}); compare such a workflow's jobs with your own expectations"
            )


def _source(workflow: WorkflowSource) -> Any:
    return Path(workflow) if isinstance(workflow, Path) else workflow


def _entries(spec: WorkflowSpec, components: Components | Engine) -> dict[str, RegistryEntry]:
    if isinstance(components, Engine):
        wanted = {s.component for s in spec.steps}
        return {c: components.registry.lookup(COMPONENT, c) for c in wanted}
    return component_entries(components)


def _needs(step: StepSpec) -> set[str]:
    found = set(step.depends_on)
    for text in _strings(step.inputs):
        if text.startswith("$steps."):
            found.add(text.split(".")[1])
    return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _in_order(steps: Iterable[StepSpec]) -> list[StepSpec]:
    """Steps with each after what it needs, written order among equals."""
    todo, done, order = list(steps), set[str](), []
    while todo:
        step = next(s for s in todo if _needs(s) <= done)  # a valid workflow has no cycle
        todo.remove(step)
        done.add(step.id)
        order.append(step)
    return order


def _resolve(
    value: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any], strict: bool = False
) -> Any:
    if isinstance(value, str):
        if value.startswith("$$"):
            return value[1:]
        if value.startswith("$inputs."):
            return inputs.get(value.split(".", 1)[1])
        if value.startswith("$steps."):
            _, step_id, _, *fields = value.split(".")
            found = outputs.get(step_id)
            for field in fields:
                if not isinstance(found, dict) or field not in found:
                    raise LookupError(value)
                found = found[field]
            return found
        return value
    if isinstance(value, list | tuple):
        return [_resolve(v, inputs, outputs, strict) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, inputs, outputs, strict) for k, v in value.items()}
    return value


def _run_step(
    step: StepSpec, entry: RegistryEntry, inputs: dict[str, Any], attempts: dict[str, int]
) -> Any:
    definition = entry.definition
    assert isinstance(definition, ComponentDefinition)
    _check_inputs(entry, inputs)
    policy = step.retry or definition.retry or RetryPolicy()
    for number in range(1, policy.max_attempts + 1):
        attempts[step.id] = number
        try:
            return _attempt(step, entry, definition, inputs, number)
        except _StepError as exc:
            if number == policy.max_attempts or _named(exc.kind, policy.non_retryable_errors):
                raise
    raise AssertionError("unreachable: max_attempts is 1 or more")


def _attempt(
    step: StepSpec,
    entry: RegistryEntry,
    definition: ComponentDefinition,
    inputs: dict[str, Any],
    number: int,
) -> Any:
    ctx = StepContext("reference", step.id, number)
    try:
        output = call(
            entry.implementation,
            dict(inputs),
            ctx,
            factory=definition.factory,
            takes_context=entry.takes_context,
        )
    except BaseException as exc:
        kind = type(exc)
        name = kind.__qualname__
        qualified = name if kind.__module__ == "builtins" else f"{kind.__module__}.{name}"
        raise _StepError(qualified) from None
    if plain_problem(output) is not None:
        raise _StepError("ComponentOutputError")
    if definition.output and parse_type(definition.output).problem(output) is not None:
        raise _StepError("ComponentOutputError")
    return output


def _check_inputs(entry: RegistryEntry, inputs: Mapping[str, Any]) -> None:
    declared = getattr(entry.definition, "inputs", None) or {}
    if not inputs.keys() >= entry.required_inputs:
        raise _StepError("ComponentInputError")
    for name, value in inputs.items():
        kind = declared.get(name)
        if kind is not None and parse_type(kind).problem(value) is not None:
            raise _StepError("ComponentInputError")


def _named(error_type: str, names: tuple[str, ...]) -> bool:
    return any(name in (error_type, error_type.rpartition(".")[2]) for name in names)


def run_to_end(
    engine: Engine,
    job_id: str,
    timeout: float = 30.0,
    *,
    until: Container[JobStatus] | None = None,
) -> JobState:
    """Wait for a started job to end; on a :class:`ManualClock`, fire its retry backoffs.

    While a step of the job waits out a backoff and none runs, the clock is
    advanced to the next timer that falls due; nothing else moves it, so a
    running step's timeout fires only if the test advances time. ``until``:
    the statuses to wait for instead of the ended ones (``PAUSED`` too, say).

    Raises:
        TimeoutError: the job did not get there within ``timeout`` seconds of
            real time (a step that waits on the clock for something else).
    """
    changed = threading.Condition()
    # Backoffs whose timer is armed: (step, attempt) of each step.retrying event, which
    # comes once the timer is set; and those already waiting when this began.
    armed: set[tuple[str, int]] = set()

    def seen(event: Event) -> None:
        if event.job_id == job_id:
            with changed:
                if event.kind is EventKind.STEP_RETRYING and event.step_id is not None:
                    armed.add((event.step_id, event.attempt or 0))
                changed.notify_all()

    stop = engine.subscribe(seen)
    try:
        with changed:
            armed.update(_waiting(_job(engine, job_id)))
        return _drive(engine, job_id, changed, armed, timeout, until)
    finally:
        stop()


def _drive(
    engine: Engine,
    job_id: str,
    changed: threading.Condition,
    armed: set[tuple[str, int]],
    timeout: float,
    until: Container[JobStatus] | None,
) -> JobState:
    clock = engine.clock
    manual = clock if isinstance(clock, ManualClock) else None
    deadline = time.monotonic() + timeout
    while True:
        with changed:
            # The timers first: one armed for an attempt was armed after the job was
            # saved with that attempt RUNNING, so the job read next is not older.
            pending = manual.pending if manual is not None else []
            job = _job(engine, job_id)
            if job.status in until if until is not None else job.status.is_terminal:
                return job
            due = pending if _backing_off(job, armed) else []
            if not due:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"job {job_id} did not come to rest within {timeout:g}s:\n"
                        + engine.state.describe(job_id)
                    )
                changed.wait(left)
                continue
        assert manual is not None
        manual.advance(max(0.0, due[0] - manual.now()))


def _job(engine: Engine, job_id: str) -> JobState:
    job = engine.state.find(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def _waiting(job: JobState) -> set[tuple[str, int]]:
    """(step, attempt) of the steps that wait out a backoff."""
    return {
        (sid, len(step.attempts))
        for sid, step in job.steps.items()
        if step.status is StepStatus.RETRY_WAIT
    }


def _backing_off(job: JobState, armed: set[tuple[str, int]]) -> bool:
    """A step waits out an armed backoff and none runs or is about to: only time moves it on."""
    busy = any(step.status in _BUSY for step in job.steps.values())
    return not busy and bool(_waiting(job) & armed)


_BUSY = {StepStatus.RUNNING, StepStatus.READY}


def assert_same_as_reference(
    engine: Engine,
    workflow: str | WorkflowSource,
    inputs: Mapping[str, Any] | None = None,
    *,
    timeout: float = 30.0,
    run: Callable[[Engine, str, Mapping[str, Any] | None], str] | None = None,
) -> Reference:
    """The differential property: a job run by ``engine`` ends as :func:`reference_run` says.

    ``workflow`` is a registered workflow's id (or a spec, registered first).
    The job runs to its end (:func:`run_to_end`). Then:

    - COMPLETED: the same outputs, and each step SUCCEEDED (with the same
      output), FAILED or SKIPPED as the oracle has it.
    - FAILED: the oracle fails the job too; the step that failed it is one the
      oracle fails; every step the engine succeeded has the oracle's output.

    Raises:
        AssertionError: what differs, with the job's ``describe()``.
    """
    workflow_id = workflow if isinstance(workflow, str) and "\n" not in workflow else None
    if workflow_id is None or not engine.registry.contains("workflow", workflow_id):
        workflow_id = engine.registry.register_workflow(_source(workflow), replace=True)
    spec = engine.registry.lookup("workflow", workflow_id).definition
    assert isinstance(spec, WorkflowSpec)
    expected = reference_run(spec, inputs, engine)
    job_id = engine.jobs_sync.create_job(workflow_id, dict(inputs or {}))
    engine.jobs_sync.start_job(job_id)
    job = run_to_end(engine, job_id, timeout)
    problems = _differences(job, expected)
    if problems:
        text = "\n".join(f"- {p}" for p in problems)
        raise AssertionError(
            f"job {job_id} of {workflow_id!r} differs from the reference run:\n{text}\n\n"
            f"{engine.state.describe(job_id)}"
        )
    return expected


def _differences(job: JobState, expected: Reference) -> list[str]:
    problems = []
    if job.status is not expected.status:
        problems.append(
            f"job status: the reference {expected.status.value}, got {job.status.value}"
        )
        return problems
    for step_id, step in job.steps.items():
        if step.status is _SUCCEEDED and (
            expected.steps[step_id] is not _SUCCEEDED
            or step.output != expected.step_outputs[step_id]
        ):
            want = expected.step_outputs.get(step_id, expected.steps[step_id].value)
            problems.append(
                f"step {step_id!r}: the reference {want!r}, got output {step.output!r}"
            )
        elif job.status is JobStatus.COMPLETED and step.status is not expected.steps[step_id]:
            problems.append(
                f"step {step_id!r}: the reference {expected.steps[step_id].value}, "
                f"got {step.status.value}"
            )
    if job.status is JobStatus.COMPLETED and dict(job.outputs or {}) != expected.outputs:
        problems.append(f"outputs: the reference {expected.outputs!r}, got {job.outputs!r}")
    failed_at = job.error.step_id if job.error is not None else None
    failed_elsewhere = failed_at is not None and failed_at not in expected.fails_job
    if job.status is JobStatus.FAILED and failed_elsewhere:
        problems.append(
            f"the job failed at step {failed_at!r}; the reference fails it at "
            f"{', '.join(sorted(expected.fails_job))}"
        )
    return problems
