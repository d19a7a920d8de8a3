"""JobManagerActor: creates jobs, queues them by priority, starts JobActors in free slots."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, ClassVar

import attrs
import pykka

from .._core._actor import EngineActor, retell, tell_quietly
from .._core._codec import encode
from .._core._errors import ActorsWfError, StoreError, WorkflowInvalid
from .._core._inputs import check_inputs
from .._core._kinds import EventKind, FailureKind
from .._core._messages import (
    Ack,
    CancelJob,
    ChildEnded,
    CreateJob,
    Drain,
    Draining,
    JobCreated,
    JobFinished,
    JobsRecovered,
    PauseJob,
    RecoverJobs,
    ResumeJob,
    Retold,
    RetryJob,
    StartChild,
    StartJob,
)
from .._core._records import PRIORITIES, ErrorInfo, JobState, StepState, evolve
from .._core._spec import WorkflowSpec
from .._core._status import (
    JOB_TRANSITIONS,
    JobEvent,
    JobStatus,
    StepEvent,
    StepStatus,
    refuse_command,
)
from .._observe._events import Event
from .._registry._entry import WORKFLOW
from .._state._transitions import JournalEntry, move_job, move_step
from ._job_actor import JobActor
from ._services import Services

log = logging.getLogger("actors_wf.jobs")


def priority_value(priority: int | str) -> int:
    """``HIGH``/``MEDIUM``/``LOW`` (any case) or an int; larger runs first.

    Raises:
        ValueError: any other value.
    """
    if isinstance(priority, bool):
        raise ValueError(f"priority must be HIGH, MEDIUM, LOW or an int, got {priority!r}")
    if isinstance(priority, int):
        return priority
    try:
        return PRIORITIES[priority.upper()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"priority must be HIGH, MEDIUM, LOW or an int, got {priority!r}"
        ) from None


def new_job_state(
    spec: WorkflowSpec, inputs: dict[str, Any], priority: int, job_id: str | None = None
) -> JobState:
    """A CREATED job of ``spec`` with every step PENDING (a uuid4 id unless given)."""
    return JobState(
        job_id=job_id or uuid.uuid4().hex,
        workflow=spec,
        status=JobStatus.CREATED,
        inputs=inputs,
        priority=priority,
        steps={s.id: StepState(s.id) for s in spec.steps},
        created_at=time.time(),
    )


@attrs.frozen
class Queued:
    """A job waiting for a slot: its priority, when it came, and its arrival number."""

    job_id: str
    priority: int
    since: float
    arrival: int
    child: bool = False  # a step's child job: it starts even when every slot is taken


@attrs.frozen
class ManagerState:
    """The manager's record: the queue and the running jobs."""

    queue: tuple[Queued, ...] = ()
    running: frozenset[str] = frozenset()
    arrivals: int = 0
    draining: bool = False  # the engine is closing: queued jobs stay queued


class JobManagerActor(EngineActor):
    """Supervisor of every JobActor of one engine.

    The queue is ordered by effective priority: a job's priority plus
    ``aging`` points for every second it has waited (so LOW is never starved
    forever), then by arrival (FIFO within a priority).
    """

    handlers: ClassVar[dict[type[Any], str]] = {
        CreateJob: "on_create",
        StartJob: "on_start_job",
        PauseJob: "on_pause",
        ResumeJob: "on_resume",
        CancelJob: "on_cancel",
        RetryJob: "on_retry",
        JobFinished: "on_job_finished",
        StartChild: "on_start_child",
        RecoverJobs: "on_recover",
        Drain: "on_drain",
        Retold: "on_retold",
    }

    def __init__(
        self, services: Services, *, max_concurrent_jobs: int, aging: float = 0.1
    ) -> None:
        super().__init__()
        self.services = services
        self.max_jobs = max_concurrent_jobs
        self.aging = aging
        self.state = ManagerState()
        self.jobs: dict[str, pykka.ActorRef[Any]] = {}
        self.pausing: set[str] = set()  # pauses sent to a JobActor that may not have read them

    # -- commands -----------------------------------------------------------------

    def on_create(self, msg: CreateJob) -> JobCreated:
        """Check the workflow and the inputs, store a CREATED job and return its id."""
        spec = self.services.registry.lookup(WORKFLOW, msg.workflow_id).definition
        assert isinstance(spec, WorkflowSpec)
        self.services.validator.check(spec)
        inputs = check_inputs(spec, msg.inputs)
        job_id = self.services.job_ids() if self.services.job_ids is not None else None
        job = new_job_state(spec, inputs, priority_value(msg.priority), job_id)
        entries = []
        if msg.start:  # created and queued in one commit: a crash leaves neither half
            job, entry = move_job(job, JobEvent.ENQUEUE, "start_job")
            entries.append(entry)
        job = self.services.state.save(job, entries)
        self.services.publish(Event(EventKind.JOB_CREATED, job.job_id))
        if msg.start:
            self._enqueue(job)
        return JobCreated(job.job_id)

    def on_start_child(self, msg: StartChild) -> None:
        """Create and queue the child job a parent's step runs (once: the id is the parent's).

        A child whose workflow cannot run (gone from the registry, inputs that
        do not fit) is stored FAILED at once, so its parent's step fails with why.
        """
        if self.services.state.find(msg.job_id) is not None:
            return  # asked again by a parent taken over after a restart
        try:
            spec = self.services.registry.lookup(WORKFLOW, msg.workflow_id).definition
            assert isinstance(spec, WorkflowSpec)
            self.services.validator.check(spec)
            inputs = check_inputs(spec, msg.inputs)
        except ActorsWfError as exc:
            self._child_refused(msg, exc)
            return
        job = attrs.evolve(
            new_job_state(spec, inputs, msg.priority, msg.job_id),
            parent_job_id=msg.parent_job_id,
            parent_step_id=msg.parent_step_id,
        )
        job, entry = move_job(job, JobEvent.ENQUEUE, f"child of job {msg.parent_job_id}")
        job = self.services.state.save(job, [entry])
        self.services.publish(Event(EventKind.JOB_CREATED, job.job_id))
        self._enqueue(job)

    def _child_refused(self, msg: StartChild, exc: Exception) -> None:
        empty = WorkflowSpec(id=msg.workflow_id, steps=())
        job = attrs.evolve(
            new_job_state(empty, dict(msg.inputs), msg.priority, msg.job_id),
            parent_job_id=msg.parent_job_id,
            parent_step_id=msg.parent_step_id,
        )
        error = ErrorInfo.from_exception(exc)
        job, entry = move_job(job, JobEvent.ENQUEUE, f"child of job {msg.parent_job_id}")
        failed, second = move_job(job, JobEvent.FAIL, "cannot run", error=error)
        job = self.services.state.save(
            attrs.evolve(failed, finished_at=time.time()), [entry, second]
        )
        self.services.publish(Event(EventKind.JOB_FAILED, job.job_id, error=error))
        self._tell_parent(job)

    def _tell_parent(self, job: JobState | None) -> None:
        """A child job has ended: tell the JobActor of its parent, if one runs it now."""
        if job is None or job.parent_job_id is None or not job.status.is_terminal:
            return
        ref = self.jobs.get(job.parent_job_id)
        if ref is not None and job.parent_step_id is not None:
            tell_quietly(
                ref, encode(ChildEnded(job.parent_job_id, job.parent_step_id, job.job_id))
            )

    def on_start_job(self, msg: StartJob) -> Ack:
        """Queue the job; it starts when a slot is free and it is first in line."""
        job = self._move(msg.job_id, JobEvent.ENQUEUE, "start_job")
        self._enqueue(job)
        return Ack(job.job_id, job.status.value)

    def on_pause(self, msg: PauseJob) -> Ack:
        """Pause: a queued job leaves the queue; a running one stops starting steps."""
        job = self._current(msg.job_id)
        if job.status in (JobStatus.PAUSED, JobStatus.PAUSING) or job.job_id in self.pausing:
            return Ack(
                job.job_id,
                JobStatus.PAUSING.value if job.job_id in self.pausing else job.status.value,
            )  # pausing twice is harmless
        ref = self.jobs.get(job.job_id)
        if ref is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            self._tell_job(ref, msg)
            # The JobActor moves to PAUSING when it reads this; until then the
            # store still says RUNNING, so remember it for a quick resume.
            self.pausing.add(job.job_id)
            return Ack(job.job_id, JobStatus.PAUSING.value)
        job = self._move(job.job_id, JobEvent.PAUSE, "pause_job")
        self._dequeue(job.job_id)
        self.services.publish(Event(EventKind.JOB_PAUSED, job.job_id))
        return Ack(job.job_id, job.status.value)

    def on_resume(self, msg: ResumeJob) -> Ack:
        """Resume: a pausing job runs on; a paused one is queued again."""
        job = self._current(msg.job_id)
        ref = self.jobs.get(job.job_id)
        if ref is not None and (job.status is JobStatus.PAUSING or job.job_id in self.pausing):
            self.pausing.discard(job.job_id)
            try:
                ref.tell(encode(msg))  # after the PauseJob in its inbox: FIFO
            except pykka.ActorDeadError:
                # It paused and ended meanwhile; its JobFinished is in this inbox,
                # so this resume, sent behind it, finds the job PAUSED.
                retell(self.actor_ref, msg)
            return Ack(job.job_id, JobStatus.RUNNING.value)
        job = self._move(job.job_id, JobEvent.RESUME, "resume_job")
        self.services.publish(Event(EventKind.JOB_RESUMED, job.job_id))
        self._enqueue(job)
        return Ack(job.job_id, job.status.value)

    def _tell_job(self, ref: pykka.ActorRef[Any], msg: CancelJob | PauseJob) -> None:
        """Tell a JobActor; one that ended meanwhile has its JobFinished in this inbox."""
        try:
            ref.tell(encode(msg))
        except pykka.ActorDeadError:
            retell(self.actor_ref, msg)  # read again behind that JobFinished

    def on_cancel(self, msg: CancelJob) -> Ack:
        """Cancel a job wherever it is; cancelling a cancelled job is harmless."""
        job = self._current(msg.job_id)
        if job.status in (JobStatus.CANCELLED, JobStatus.CANCELLING):
            if job.status is JobStatus.CANCELLING and msg.force:
                ref = self.jobs.get(job.job_id)
                if ref is not None:
                    ref.tell(encode(msg))  # a forced cancel cuts the grace period short
            return Ack(job.job_id, job.status.value)
        ref = self.jobs.get(msg.job_id)
        if ref is not None and job.status in _OWNED:
            self._tell_job(ref, msg)  # its JobActor owns the job: the one writer
            return Ack(job.job_id, JobStatus.CANCELLING.value)
        if job.status.is_terminal or job.status not in _CANCEL_HERE:
            raise refuse_command(job.job_id, job.status, "cancel_job")
        cancelled, entries = _cancel_idle(job)
        job = self.services.state.save(cancelled, entries)
        self._dequeue(job.job_id)
        self.services.publish(Event(EventKind.JOB_CANCELLED, job.job_id))
        self._tell_parent(job)
        return Ack(job.job_id, job.status.value)

    def on_retry(self, msg: RetryJob) -> Ack:
        """Run a FAILED job again: its failed, cancelled and skipped steps start over."""
        job = self._current(msg.job_id)
        if job.status is not JobStatus.FAILED or job.job_id in self.jobs:
            raise refuse_command(job.job_id, job.status, "retry_job")
        retried, entry = move_job(job, JobEvent.RETRY, "retry_job", error=None, finished_at=None)
        entries = [entry]
        for step in list(retried.steps.values()):
            if step.status in (StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED):
                retried, step_entry = move_step(
                    retried, step.step_id, StepEvent.RESET, "retry_job", error=None
                )
                entries.append(step_entry)
        job = self.services.state.save(retried, entries)
        self._enqueue(job)
        return Ack(job.job_id, job.status.value)

    def _current(self, job_id: str) -> JobState:
        """The job as stored; one whose end is stored has no actor here any more.

        Its JobActor stores the end, then tells us: a command sent by whoever
        saw the end (a retry from a job.failed handler) can come first. The
        actor only stops after that; its JobFinished, when it comes, is dropped.
        """
        job = self.services.state.get(job_id)
        ref = self.jobs.get(job_id)
        if ref is not None and job.status.is_terminal:
            self.on_job_finished(JobFinished(job_id, job.status.value, ref.actor_urn))
        return job

    def _move(self, job_id: str, event: JobEvent, command: str) -> JobState:
        job = self._current(job_id)
        if (job.status, event) not in JOB_TRANSITIONS or job_id in self.jobs:
            raise refuse_command(job_id, job.status, command)
        moved, entry = move_job(job, event, command)
        return self.services.state.save(moved, [entry])

    def on_recover(self, msg: RecoverJobs) -> JobsRecovered:
        """Resume every unfinished job in the store that this engine does not run yet.

        Steps that were running are run again (at-least-once); succeeded
        steps keep their outputs; paused jobs stay paused; a job whose
        components are gone fails with the reason. Calling it twice is harmless.
        """
        queued = {item.job_id for item in self.state.queue}
        resumed = []
        for job in self.services.state.unfinished():
            if job.job_id in self.jobs or job.job_id in queued:
                continue
            job = self.services.state.save(*interrupted(job))
            job = self._check_recovered(job)
            if job.status is JobStatus.QUEUED:
                self._enqueue(job)
                resumed.append(job.job_id)
        if resumed:
            log.info("recovered %d job(s): %s", len(resumed), ", ".join(resumed))
        return JobsRecovered(tuple(resumed))

    def _check_recovered(self, job: JobState) -> JobState:
        """Fail a recovered job whose workflow no longer validates (a component is gone)."""
        if job.status is not JobStatus.QUEUED:
            return job
        try:
            self.services.validator.check(job.workflow)
        except WorkflowInvalid as exc:
            reasons = "; ".join(p.message for p in exc.result.errors)
            error = ErrorInfo(
                FailureKind.WORKFLOW_INVALID, f"cannot resume after restart: {reasons}"
            )
            failed, entry = move_job(
                job, JobEvent.FAIL, "recovery", error=error, finished_at=time.time()
            )
            job = self.services.state.save(failed, [entry])
            self.services.publish(Event(EventKind.JOB_FAILED, job.job_id, error=error))
        return job

    # -- the queue ------------------------------------------------------------------

    def _enqueue(self, job: JobState) -> None:
        child = job.parent_job_id is not None
        now = self.services.clock.now()
        item = Queued(job.job_id, job.priority, now, self.state.arrivals, child)
        self.state = evolve(
            self.state, queue=(*self.state.queue, item), arrivals=self.state.arrivals + 1
        )
        self.services.publish(Event(EventKind.JOB_QUEUED, job.job_id))
        self._dispatch()

    def _dequeue(self, job_id: str) -> None:
        self.state = evolve(
            self.state, queue=tuple(q for q in self.state.queue if q.job_id != job_id)
        )

    def next_in_line(self) -> Queued | None:
        """The queued job with the highest effective priority (aging included)."""
        if not self.state.queue:
            return None
        now = self.services.clock.now()
        return max(
            self.state.queue,
            key=lambda q: (q.priority + self.aging * (now - q.since), -q.arrival),
        )

    def on_job_finished(self, msg: JobFinished) -> None:
        """Free the job's slot and start the next in line."""
        ref = self.jobs.get(msg.job_id)
        if ref is not None and msg.urn and ref.actor_urn != msg.urn:
            return  # from the actor of an earlier run, settled already (see on_retry)
        self.jobs.pop(msg.job_id, None)
        self.pausing.discard(msg.job_id)
        self.state = evolve(self.state, running=self.state.running - {msg.job_id})
        self._tell_parent(self.services.state.find(msg.job_id))
        self._dispatch()

    def on_drain(self, msg: Drain) -> Draining:
        """Start no queued job from now on (they stay QUEUED in the store, for the next engine)."""
        self.state = attrs.evolve(self.state, draining=True)
        return Draining(tuple(sorted(self.state.running)))

    def _dispatch(self) -> None:
        while not self.state.draining:
            item = self.next_in_line()
            if item is None:
                return
            if len(self.state.running) >= self.max_jobs:
                # Full: only a child job starts, or a parent holding a slot would wait forever.
                item = next((q for q in self.state.queue if q.child), None)
                if item is None:
                    return
            self._dequeue(item.job_id)
            try:
                ref = JobActor.start(item.job_id, self.actor_ref, self.services)
            except StoreError as exc:  # its state cannot be read: it stays where it is stored
                log.error("job %s was not started: %s", item.job_id, exc)
                self.services.state.interrupt(item.job_id, exc)
                continue
            self.state = evolve(self.state, running=self.state.running | {item.job_id})
            self.jobs[item.job_id] = ref

    def on_stop(self) -> None:
        """Stop every JobActor (and through them every StepActor)."""
        for ref in list(self.jobs.values()):
            ref.stop(block=True)
        self.jobs.clear()


_CANCEL_HERE = frozenset({JobStatus.CREATED, JobStatus.QUEUED, JobStatus.PAUSED})
# Stored as QUEUED while its JobActor starts (it writes RUNNING first thing).
_OWNED = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSING})


def _cancel_idle(job: JobState) -> tuple[JobState, list[JournalEntry]]:
    """Cancel a job no JobActor runs: it and its unfinished steps."""
    cancelled, entry = move_job(job, JobEvent.CANCEL, "cancel_job", finished_at=time.time())
    entries = [entry]
    for step in list(cancelled.steps.values()):
        if not step.status.is_terminal:
            cancelled, step_entry = move_step(
                cancelled, step.step_id, StepEvent.CANCEL, "job cancelled"
            )
            entries.append(step_entry)
    return cancelled, entries


_INTERRUPTED = ErrorInfo(
    FailureKind.INTERRUPTED,
    "the engine stopped while this attempt ran; it is run again after recovery",
)


def interrupted(job: JobState) -> tuple[JobState, list[JournalEntry]]:
    """The job as a new engine takes it over after the old one stopped.

    RUNNING goes back to QUEUED, PAUSING to PAUSED, CANCELLING to CANCELLED;
    attempts that were running are closed as interrupted and their steps are
    READY to run again; waiting retries are READY at once.
    """
    entries: list[JournalEntry] = []
    now = time.time()
    for step in list(job.steps.values()):
        if step.status is StepStatus.RUNNING and step.attempts:
            last = attrs.evolve(step.attempts[-1], finished_at=now, error=_INTERRUPTED)
            job = job.with_step(attrs.evolve(step, attempts=(*step.attempts[:-1], last)))
        if step.status in (StepStatus.RUNNING, StepStatus.RETRY_WAIT):
            job, entry = move_step(job, step.step_id, StepEvent.INTERRUPT, "engine restarted")
            entries.append(entry)
    if job.status in (JobStatus.RUNNING, JobStatus.PAUSING, JobStatus.CANCELLING):
        finished = now if job.status is JobStatus.CANCELLING else job.finished_at
        job, entry = move_job(job, JobEvent.INTERRUPT, "engine restarted", finished_at=finished)
        entries.append(entry)
    if job.status is JobStatus.CANCELLED:
        for step in list(job.steps.values()):
            if step.status in (StepStatus.PENDING, StepStatus.READY):
                job, entry = move_step(job, step.step_id, StepEvent.CANCEL, "job cancelled")
                entries.append(entry)
    return job, entries
