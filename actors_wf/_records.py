"""State records: what the engine knows about a job at one moment.

A ``JobState`` is frozen; every change makes a new one (``attrs.evolve``) with
``version`` one higher. Mappings inside are never mutated after construction.
"""

from __future__ import annotations

import traceback as _traceback
from typing import Any

import attrs

from ._spec import WorkflowSpec
from ._status import JobStatus, StepStatus

PRIORITIES = {"HIGH": 100, "MEDIUM": 50, "LOW": 10}


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
        return cls(type=name, message=str(exc), traceback=text, step_id=step_id)


@attrs.frozen
class Attempt:
    """One try at running a step.

    Attributes:
        number: 1 for the first attempt.
        started_at: wall-clock seconds since the epoch.
        finished_at: when it ended, ``None`` while running.
        error: why it failed, ``None`` if it did not.
    """

    number: int
    started_at: float
    finished_at: float | None = None
    error: ErrorInfo | None = None


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
        """A copy in ``status``, with ``changes`` to the other fields.

        What ``attrs.evolve`` does, at a third of its cost: it runs several
        times for every step of every job.
        """
        fields = {
            "step_id": self.step_id,
            "attempts": self.attempts,
            "output": self.output,
            "error": self.error,
            **changes,
        }
        return StepState(status=status, **fields)

    @property
    def started_at(self) -> float | None:
        """When the first attempt started."""
        return self.attempts[0].started_at if self.attempts else None

    @property
    def finished_at(self) -> float | None:
        """When the last attempt ended, if it did."""
        return self.attempts[-1].finished_at if self.attempts else None


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
        steps: step id to its state.
        outputs: the workflow's outputs once the job completed.
        error: why the job failed, if it did.
        created_at / started_at / finished_at: wall-clock seconds since the epoch.
        version: bumped by one on every change; used to refuse stale writes.
    """

    job_id: str
    workflow: WorkflowSpec
    status: JobStatus
    inputs: dict[str, Any]
    priority: int
    steps: dict[str, StepState]
    created_at: float
    outputs: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    started_at: float | None = None
    finished_at: float | None = None
    version: int = 0

    @property
    def workflow_id(self) -> str:
        """The workflow's id."""
        return self.workflow.id

    def step(self, step_id: str) -> StepState:
        """The state of one step."""
        return self.steps[step_id]

    def with_step(self, step: StepState) -> JobState:
        """A copy with one step replaced."""
        return attrs.evolve(self, steps={**self.steps, step.step_id: step})
