"""Job and step statuses and the one table every status change goes through."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ._errors import InvalidTransition


class _Fast(enum.Enum):
    """An enum whose members hash by identity, as they compare.

    ``Enum.__hash__`` hashes the member's name in Python code; the transition
    table and every status test look members up many times per step.
    """

    __hash__ = object.__hash__


class JobStatus(_Fast):
    """Where a job is in its life."""

    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSING = "PAUSING"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended; a terminal status never changes again."""
        return self in _JOB_TERMINAL


class StepStatus(_Fast):
    """Where a step of a job is in its life."""

    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    RETRY_WAIT = "RETRY_WAIT"
    WAITING = "WAITING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"

    @property
    def is_terminal(self) -> bool:
        """Whether the step has ended (until a job retry resets it)."""
        return self in _STEP_TERMINAL


class JobEvent(_Fast):
    """What can happen to a job."""

    ENQUEUE = "enqueue"
    START = "start"
    PAUSE = "pause"
    PAUSED = "paused"
    RESUME = "resume"
    CANCEL = "cancel"
    CANCELLED = "cancelled"
    COMPLETE = "complete"
    FAIL = "fail"
    RETRY = "retry"
    INTERRUPT = "interrupt"


class StepEvent(_Fast):
    """What can happen to a step."""

    READY = "ready"
    START = "start"
    WAIT = "wait"
    SUCCEED = "succeed"
    FAIL = "fail"
    RETRY = "retry"
    WAKE = "wake"
    CANCEL = "cancel"
    SKIP = "skip"
    RESET = "reset"
    INTERRUPT = "interrupt"


_JOB_TERMINAL = frozenset({JobStatus.CANCELLED, JobStatus.COMPLETED, JobStatus.FAILED})
_STEP_TERMINAL = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED}
)

J, JE, S, SE = JobStatus, JobEvent, StepStatus, StepEvent

JOB_TRANSITIONS: Mapping[tuple[JobStatus, JobEvent], JobStatus] = {
    (J.CREATED, JE.ENQUEUE): J.QUEUED,
    (J.CREATED, JE.CANCEL): J.CANCELLED,
    (J.QUEUED, JE.START): J.RUNNING,
    (J.QUEUED, JE.PAUSE): J.PAUSED,
    (J.QUEUED, JE.CANCEL): J.CANCELLED,
    # A queued job fails without running when its steps cannot start at all.
    (J.QUEUED, JE.FAIL): J.FAILED,
    (J.RUNNING, JE.PAUSE): J.PAUSING,
    (J.RUNNING, JE.CANCEL): J.CANCELLING,
    (J.RUNNING, JE.COMPLETE): J.COMPLETED,
    (J.RUNNING, JE.FAIL): J.FAILED,
    # A job that was running when its engine stopped goes back to the queue.
    (J.RUNNING, JE.INTERRUPT): J.QUEUED,
    (J.PAUSING, JE.PAUSED): J.PAUSED,
    (J.PAUSING, JE.RESUME): J.RUNNING,
    (J.PAUSING, JE.CANCEL): J.CANCELLING,
    (J.PAUSING, JE.COMPLETE): J.COMPLETED,
    (J.PAUSING, JE.FAIL): J.FAILED,
    (J.PAUSING, JE.INTERRUPT): J.PAUSED,
    (J.PAUSED, JE.RESUME): J.QUEUED,
    (J.PAUSED, JE.CANCEL): J.CANCELLED,
    (J.CANCELLING, JE.CANCELLED): J.CANCELLED,
    (J.CANCELLING, JE.INTERRUPT): J.CANCELLED,
    # Every step's outcome came back before the cancel reached it: the outcome won.
    (J.CANCELLING, JE.COMPLETE): J.COMPLETED,
    (J.CANCELLING, JE.FAIL): J.FAILED,
    (J.FAILED, JE.RETRY): J.QUEUED,
}

STEP_TRANSITIONS: Mapping[tuple[StepStatus, StepEvent], StepStatus] = {
    (S.PENDING, SE.READY): S.READY,
    (S.PENDING, SE.START): S.RUNNING,  # its dependencies are done and a slot is free
    (S.PENDING, SE.SKIP): S.SKIPPED,
    (S.PENDING, SE.CANCEL): S.CANCELLED,
    # Its when: condition or for_each list could not be read: it fails before it starts.
    (S.PENDING, SE.FAIL): S.FAILED,
    (S.READY, SE.START): S.RUNNING,
    # A wait_for step waits for its signal, durably, holding no thread.
    (S.PENDING, SE.WAIT): S.WAITING,
    (S.READY, SE.WAIT): S.WAITING,
    (S.WAITING, SE.SUCCEED): S.SUCCEEDED,
    (S.WAITING, SE.FAIL): S.FAILED,
    (S.WAITING, SE.RETRY): S.RETRY_WAIT,
    (S.WAITING, SE.CANCEL): S.CANCELLED,
    (S.READY, SE.SKIP): S.SKIPPED,
    (S.READY, SE.CANCEL): S.CANCELLED,
    (S.RUNNING, SE.SUCCEED): S.SUCCEEDED,
    (S.RUNNING, SE.FAIL): S.FAILED,
    (S.RUNNING, SE.RETRY): S.RETRY_WAIT,
    (S.RUNNING, SE.CANCEL): S.CANCELLED,
    (S.RUNNING, SE.INTERRUPT): S.READY,
    (S.RETRY_WAIT, SE.WAKE): S.READY,
    (S.RETRY_WAIT, SE.CANCEL): S.CANCELLED,
    (S.RETRY_WAIT, SE.INTERRUPT): S.READY,
    (S.FAILED, SE.RESET): S.PENDING,
    (S.CANCELLED, SE.RESET): S.PENDING,
    (S.SKIPPED, SE.RESET): S.PENDING,
}


# The job events a user can cause, and the command that causes each.
COMMANDS: Mapping[JobEvent, str] = {
    JobEvent.ENQUEUE: "start_job",
    JobEvent.PAUSE: "pause_job",
    JobEvent.RESUME: "resume_job",
    JobEvent.CANCEL: "cancel_job",
    JobEvent.RETRY: "retry_job",
}


def allowed_commands(status: JobStatus) -> list[str]:
    """The commands a job in ``status`` takes, for error messages."""
    return [COMMANDS[e] for (s, e) in JOB_TRANSITIONS if s is status and e in COMMANDS]


def refuse_command(job_id: str, status: JobStatus, command: str) -> InvalidTransition:
    """The error for a command a job cannot take, naming the ones it can."""
    return InvalidTransition(f"job {job_id}", status.value, command, allowed_commands(status))


def allowed_job_events(status: JobStatus) -> list[str]:
    """The events a job in ``status`` can take, for error messages."""
    return [e.value for (s, e) in JOB_TRANSITIONS if s is status]


def next_job_status(job_id: str, status: JobStatus, event: JobEvent) -> JobStatus:
    """Look up the status a job moves to.

    Raises:
        InvalidTransition: the table has no such move.
    """
    try:
        return JOB_TRANSITIONS[status, event]
    except KeyError:
        raise InvalidTransition(
            f"job {job_id}", status.value, event.value, allowed_job_events(status)
        ) from None


def next_step_status(
    job_id: str, step_id: str, status: StepStatus, event: StepEvent
) -> StepStatus:
    """Look up the status a step moves to.

    Raises:
        InvalidTransition: the table has no such move.
    """
    try:
        return STEP_TRANSITIONS[status, event]
    except KeyError:
        raise step_refusal(job_id, step_id, status, event) from None


def step_refusal(
    job_id: str, step_id: str, status: StepStatus, event: StepEvent
) -> InvalidTransition:
    """The error for a step move the table does not have, naming the ones it has."""
    allowed = [e.value for (s, e) in STEP_TRANSITIONS if s is status]
    return InvalidTransition(
        f"step {step_id!r} of job {job_id}", status.value, event.value, allowed
    )
