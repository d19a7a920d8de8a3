"""Message records exchanged between actors, and their replies.

Each message carries a stable ``TAG`` (never the class name) so that renaming
a class does not break a stored journal or a client of the control interface.

Messages are frozen, but for the two that every step sends: :class:`RunStep`
and :class:`StepSucceeded`. A frozen attrs class sets each field through
``object.__setattr__``, many times dearer than a plain slot, and these two
are built twice a step (the figures are in docs/performance.md). Nothing
changes one once made (a convention, as for the dicts inside the records)
and nothing hashes them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from ._records import OMIT_IF_DEFAULT, ErrorInfo, JobState


@attrs.frozen
class CreateJob:
    """Create a job of a registered workflow; reply :class:`JobCreated`.

    With ``start`` the job is queued at once, saving a round trip.
    """

    TAG: ClassVar[str] = "create_job"
    workflow_id: str
    inputs: dict[str, Any] = attrs.Factory(dict)
    priority: int | str = "MEDIUM"
    start: bool = False


@attrs.frozen
class JobCreated:
    """Reply to :class:`CreateJob`."""

    TAG: ClassVar[str] = "job_created"
    job_id: str


@attrs.frozen
class StartJob:
    """Queue a created job to run; reply :class:`Ack`."""

    TAG: ClassVar[str] = "start_job"
    job_id: str


@attrs.frozen
class CancelJob:
    """Cancel a job; ``force`` skips the grace period; reply :class:`Ack`."""

    TAG: ClassVar[str] = "cancel_job"
    job_id: str
    force: bool = False


@attrs.frozen
class PauseJob:
    """Pause a job: no new step starts, running ones finish; reply :class:`Ack`."""

    TAG: ClassVar[str] = "pause_job"
    job_id: str


@attrs.frozen
class ResumeJob:
    """Resume a paused job where it stopped; reply :class:`Ack`."""

    TAG: ClassVar[str] = "resume_job"
    job_id: str


@attrs.frozen
class RetryJob:
    """Run a FAILED job again from its failed steps; reply :class:`Ack`."""

    TAG: ClassVar[str] = "retry_job"
    job_id: str


@attrs.frozen
class ListJobs:
    """List jobs, optionally of one status or workflow; reply :class:`JobList`.

    Without ``limit`` every one, oldest first; with it a page, newest first,
    continued by passing the reply's ``cursor`` as ``before``.
    """

    TAG: ClassVar[str] = "list_jobs"
    status: str | None = None
    workflow_id: str | None = None
    limit: int | None = None
    before: str | None = None


@attrs.frozen
class JobSummary:
    """One job in a ``list_jobs`` reply (``Client.list_jobs``)."""

    job_id: str
    workflow_id: str
    status: str
    priority: int
    created_at: float


@attrs.frozen
class JobList:
    """Reply to :class:`ListJobs`; ``cursor`` continues a page (``None`` after the last)."""

    TAG: ClassVar[str] = "job_list"
    jobs: tuple[JobSummary, ...] = ()
    cursor: str | None = None


@attrs.frozen
class GetJob:
    """Ask for a job's state; reply :class:`JobReply`.

    ``outputs=False`` leaves the job's and its steps' outputs out (``None``):
    the summary of a job whose outputs are large.
    """

    TAG: ClassVar[str] = "get_job"
    job_id: str
    outputs: bool = True


@attrs.frozen
class JobReply:
    """A job's state."""

    TAG: ClassVar[str] = "job"
    state: JobState


@attrs.frozen
class Ack:
    """A command was taken; ``status`` is the job's status after it."""

    TAG: ClassVar[str] = "ack"
    job_id: str
    status: str


@attrs.frozen
class SignalJob:
    """Send a signal to a job: a step waiting for ``name`` gets ``payload``; reply :class:`Ack`.

    A signal sent before any step waits for it is kept with the job (durably)
    and taken by the first step that comes to wait for it.
    """

    TAG: ClassVar[str] = "signal_job"
    job_id: str
    name: str
    payload: Any = None


@attrs.frozen
class DeleteJob:
    """Delete a finished job with its journal and outputs; reply :class:`Ack` (``DELETED``)."""

    TAG: ClassVar[str] = "delete_job"
    job_id: str


@attrs.frozen
class PurgeJobs:
    """Delete finished jobs (past ``older_than`` seconds, of ``status``); reply :class:`Purged`."""

    TAG: ClassVar[str] = "purge_jobs"
    older_than: float | None = None
    status: tuple[str, ...] | None = None


@attrs.frozen
class Purged:
    """Reply to :class:`PurgeJobs`: how many jobs were deleted."""

    TAG: ClassVar[str] = "purged"
    count: int


@attrs.frozen
class Wait:
    """Over the control socket: reply :class:`JobReply` once the job has ended.

    A ``timeout`` (seconds) that runs out is an ``error`` reply with code ``timeout``.
    """

    TAG: ClassVar[str] = "wait"
    job_id: str
    timeout: float | None = None


@attrs.frozen
class RunJob:
    """Over the control socket: create and start a job, reply :class:`JobReply` once it ended.

    One round trip for ``Client.run`` instead of two (create, then wait).
    """

    TAG: ClassVar[str] = "run_job"
    workflow_id: str
    inputs: dict[str, Any] = attrs.Factory(dict)
    priority: int | str = "MEDIUM"
    timeout: float | None = None


@attrs.frozen
class Subscribe:
    """Over the control socket: a stream of :class:`EventNote`, each tagged with this request.

    Of one job (``job_id``) and of some kinds (``kinds``) only, if given; it
    ends when the client sends :class:`Unsubscribe` or leaves.
    """

    TAG: ClassVar[str] = "subscribe"
    job_id: str | None = None
    kinds: tuple[str, ...] | None = None


@attrs.frozen
class Unsubscribe:
    """End the stream of the :class:`Subscribe` sent as request ``request``; reply :class:`Ack`."""

    TAG: ClassVar[str] = "unsubscribe"
    request: int


@attrs.frozen
class EventNote:
    """One lifecycle event, as sent to a subscriber (the fields of ``Event``)."""

    TAG: ClassVar[str] = "event"
    kind: str
    job_id: str
    at: float
    step_id: str | None = None
    attempt: int | None = None
    output: Any = None
    error: ErrorInfo | None = None
    component: str | None = None
    duration: float | None = None
    queue_wait: float | None = None
    worker: str | None = attrs.field(default=None, metadata=OMIT_IF_DEFAULT)


@attrs.frozen
class Describe:
    """Over the control socket: a readable dump of a job; reply :class:`Described`."""

    TAG: ClassVar[str] = "describe"
    job_id: str


@attrs.frozen
class Described:
    """Reply to :class:`Describe`."""

    TAG: ClassVar[str] = "described"
    text: str


@attrs.frozen
class Health:
    """Over the control socket: how the daemon is; reply :class:`HealthReply`."""

    TAG: ClassVar[str] = "health"


@attrs.frozen
class HealthReply:
    """How a daemon is: the reply to its ``health`` request (``Client.health``).

    Attributes:
        version: the daemon's actors_wf version.
        uptime: seconds since it started.
        store: its store (a path, or ``memory``).
        jobs: how many jobs each status has.
        owner: the store's owner record (pid, host, since), if any.
        dropped_events: events subscribers were too slow to take.
        executors: per executor name, whether it can run attempts now.
    """

    TAG: ClassVar[str] = "health_reply"
    version: str
    uptime: float
    store: str
    jobs: dict[str, int]
    owner: dict[str, Any] | None = None
    dropped_events: int = 0
    executors: dict[str, bool] = attrs.Factory(dict)


@attrs.frozen
class ErrorReply:
    """A command was refused: ``code`` is stable, ``message`` is for people.

    ``data`` carries what a client needs to raise the same error with its
    details (a ``workflow_invalid`` error's problems, each located).
    """

    TAG: ClassVar[str] = "error"
    code: str
    message: str
    data: dict[str, Any] | None = None


@attrs.frozen
class RecoverJobs:
    """Resume every unfinished job in the store; reply :class:`JobsRecovered`."""

    TAG: ClassVar[str] = "recover_jobs"


@attrs.frozen
class Drain:
    """Engine to JobManager: start no queued job any more; reply :class:`Draining`."""

    TAG: ClassVar[str] = "drain"


@attrs.frozen
class Draining:
    """Reply to :class:`Drain`: the jobs still running, to wait for."""

    TAG: ClassVar[str] = "draining"
    job_ids: tuple[str, ...] = ()


@attrs.frozen
class JobsRecovered:
    """Reply to :class:`RecoverJobs`: the jobs queued again."""

    TAG: ClassVar[str] = "jobs_recovered"
    job_ids: tuple[str, ...] = ()


@attrs.frozen
class JobFinished:
    """JobActor to JobManager: the job reached a terminal status or was interrupted.

    ``urn``: the JobActor's; the manager drops a late one from an actor it no
    longer counts (the job was retried meanwhile, by another actor).
    """

    TAG: ClassVar[str] = "job_finished"
    job_id: str
    status: str
    urn: str = ""


@attrs.define  # not frozen: see the module's docstring
class RunStep:
    """JobActor to StepActor: run one attempt of a step.

    ``reply_to`` is the JobActor's URN: the outcome goes there.
    """

    TAG: ClassVar[str] = "run_step"
    job_id: str
    step_id: str
    attempt: int
    component: str
    inputs: dict[str, Any]
    reply_to: str
    timeout: float | None = None
    heartbeat_timeout: float | None = None
    # For a step that names its executor or runs on a named one (Dask): "executor"
    # ("" is the component's isolation), the job's "priority", the "resources" it
    # holds besides a step slot. None for the rest, which is most: one key, not three.
    placement: dict[str, Any] | None = attrs.field(default=None, metadata=OMIT_IF_DEFAULT)


@attrs.frozen
class CancelStep:
    """JobActor to StepActor: stop the attempt."""

    TAG: ClassVar[str] = "cancel_step"
    job_id: str
    step_id: str
    attempt: int
    force: bool = False


@attrs.frozen
class AttemptEnded:
    """Executor to StepActor: the component call has returned (or raised)."""

    TAG: ClassVar[str] = "attempt_ended"
    job_id: str
    step_id: str
    attempt: int


@attrs.frozen
class AttemptTimedOut:
    """Clock to StepActor: the attempt ran out of time (``timeout`` or ``heartbeat``)."""

    TAG: ClassVar[str] = "attempt_timed_out"
    job_id: str
    step_id: str
    attempt: int
    reason: str = "timeout"


@attrs.frozen
class GraceOver:
    """Clock to StepActor: a stopping attempt had its grace period and did not stop."""

    TAG: ClassVar[str] = "grace_over"
    job_id: str
    step_id: str
    attempt: int


@attrs.frozen
class WakeStep:
    """Clock to JobActor: a step's retry backoff is over."""

    TAG: ClassVar[str] = "wake_step"
    job_id: str
    step_id: str
    attempt: int


@attrs.frozen
class WaitTimedOut:
    """Clock to JobActor: a step's wait for its signal ran out of time."""

    TAG: ClassVar[str] = "wait_timed_out"
    job_id: str
    step_id: str
    attempt: int


@attrs.frozen
class StartChild:
    """JobActor to JobManagerActor: create and start the child job a step runs.

    The id is the parent's choice, stored with the parent before this is sent,
    so a parent taken over after a crash finds its child and never makes two.
    """

    TAG: ClassVar[str] = "start_child"
    job_id: str
    workflow_id: str
    inputs: dict[str, Any]
    parent_job_id: str
    parent_step_id: str
    priority: int


@attrs.frozen
class ChildEnded:
    """JobManagerActor to a parent's JobActor: the child job of one of its steps has ended."""

    TAG: ClassVar[str] = "child_ended"
    job_id: str
    step_id: str
    child_id: str


@attrs.frozen
class Retold:
    """A command told again by an actor, not asked: nobody waits for its reply.

    Its handler runs as the command's, but a refusal (the job moved on
    meanwhile) is logged, where in a tell it would kill the actor.
    """

    TAG: ClassVar[str] = "retold"
    command: bytes


@attrs.frozen
class ResourcesFree:
    """Resources to JobActor: something was given back; try the READY steps again."""

    TAG: ClassVar[str] = "resources_free"
    job_id: str


@attrs.frozen
class UpdateJob:
    """StateManager to JobActor: apply the user's update ``request`` between two handlers.

    The update itself (it may hold the user's function) waits in the
    StateManager under ``request``; the message carries only its number.
    """

    TAG: ClassVar[str] = "update_job"
    job_id: str
    request: int


@attrs.define  # not frozen: see the module's docstring
class StepSucceeded:
    """StepActor to JobActor: the attempt returned ``output``."""

    TAG: ClassVar[str] = "step_succeeded"
    job_id: str
    step_id: str
    attempt: int
    output: Any
    started_at: float
    finished_at: float
    # Where it ran, when that is another machine (a Dask worker's address).
    worker: str = attrs.field(default="", metadata=OMIT_IF_DEFAULT)


@attrs.frozen
class StepFailed:
    """StepActor to JobActor: the attempt raised ``error``."""

    TAG: ClassVar[str] = "step_failed"
    job_id: str
    step_id: str
    attempt: int
    error: ErrorInfo
    started_at: float
    finished_at: float
    worker: str = attrs.field(default="", metadata=OMIT_IF_DEFAULT)


@attrs.frozen
class StepCancelled:
    """StepActor to JobActor: the attempt was stopped on request."""

    TAG: ClassVar[str] = "step_cancelled"
    job_id: str
    step_id: str
    attempt: int


Message = (
    CreateJob
    | JobCreated
    | StartJob
    | CancelJob
    | PauseJob
    | SignalJob
    | WaitTimedOut
    | StartChild
    | ChildEnded
    | ResumeJob
    | RetryJob
    | Retold
    | ListJobs
    | JobList
    | GetJob
    | JobReply
    | Ack
    | ErrorReply
    | JobFinished
    | RecoverJobs
    | Wait
    | RunJob
    | Subscribe
    | Unsubscribe
    | EventNote
    | Describe
    | Described
    | Health
    | HealthReply
    | Drain
    | Draining
    | DeleteJob
    | PurgeJobs
    | Purged
    | JobsRecovered
    | RunStep
    | AttemptEnded
    | AttemptTimedOut
    | GraceOver
    | WakeStep
    | ResourcesFree
    | UpdateJob
    | CancelStep
    | StepSucceeded
    | StepFailed
    | StepCancelled
)
