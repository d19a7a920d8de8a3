"""JobManagerActor: creates jobs, queues them by priority, starts JobActors in free slots."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, ClassVar

import attrs
import pykka

from .._actor import EngineActor
from .._codec import encode
from .._inputs import check_inputs
from .._messages import (
    Ack,
    CancelJob,
    CreateJob,
    JobCreated,
    JobFinished,
    JobsRecovered,
    RecoverJobs,
    StartJob,
)
from .._records import PRIORITIES, ErrorInfo, JobState, StepState
from .._registry import WORKFLOW
from .._spec import WorkflowSpec
from .._state._events import Event
from .._state._transitions import Transition, move_job, move_step
from .._status import JobEvent, JobStatus, StepEvent, StepStatus, next_job_status
from .._validation._problems import WorkflowInvalid
from ._job_actor import JobActor
from ._runtime import Runtime

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


def new_job_state(spec: WorkflowSpec, inputs: dict[str, Any], priority: int) -> JobState:
    """A CREATED job of ``spec`` with every step PENDING."""
    return JobState(
        job_id=uuid.uuid4().hex,
        workflow=spec,
        status=JobStatus.CREATED,
        inputs=inputs,
        priority=priority,
        steps={s.id: StepState(s.id) for s in spec.steps},
        created_at=time.time(),
    )


@attrs.frozen
class ManagerState:
    """The manager's record: the queue (priority, arrival) and the running jobs."""

    queue: tuple[tuple[int, int, str], ...] = ()
    running: frozenset[str] = frozenset()
    arrivals: int = 0


class JobManagerActor(EngineActor):
    """Supervisor of every JobActor of one engine."""

    handlers: ClassVar[dict[type[Any], str]] = {
        CreateJob: "on_create",
        StartJob: "on_start_job",
        CancelJob: "on_cancel",
        JobFinished: "on_job_finished",
        RecoverJobs: "on_recover",
    }

    def __init__(self, runtime: Runtime, *, max_concurrent_jobs: int) -> None:
        super().__init__()
        self.runtime = runtime
        self.max_jobs = max_concurrent_jobs
        self.state = ManagerState()
        self.jobs: dict[str, pykka.ActorRef[Any]] = {}

    def on_create(self, msg: CreateJob) -> JobCreated:
        """Check the inputs, store a CREATED job and return its id."""
        spec = self.runtime.registry.lookup(WORKFLOW, msg.workflow_id).definition
        assert isinstance(spec, WorkflowSpec)
        self.runtime.validator.check(spec)
        inputs = check_inputs(spec, msg.inputs)
        job = self.runtime.state.save(new_job_state(spec, inputs, priority_value(msg.priority)))
        self.runtime.publish(Event("JobCreated", job.job_id))
        if msg.start:
            self.on_start_job(StartJob(job.job_id))
        return JobCreated(job.job_id)

    def on_start_job(self, msg: StartJob) -> Ack:
        """Queue the job; it starts when a slot is free and it is first in line."""
        job = self.runtime.state.get(msg.job_id)
        queued, entry = move_job(job, JobEvent.ENQUEUE, "start_job")
        job = self.runtime.state.save(queued, [entry])
        self._enqueue(job)
        return Ack(job.job_id, job.status.value)

    def _enqueue(self, job: JobState) -> None:
        item = (-job.priority, self.state.arrivals, job.job_id)
        self.state = attrs.evolve(
            self.state,
            queue=tuple(sorted((*self.state.queue, item))),
            arrivals=self.state.arrivals + 1,
        )
        self.runtime.publish(Event("JobQueued", job.job_id))
        self._dispatch()

    def on_recover(self, msg: RecoverJobs) -> JobsRecovered:
        """Resume every unfinished job in the store that this engine does not run yet.

        Steps that were running are run again (at-least-once); succeeded
        steps keep their outputs; paused jobs stay paused; a job whose
        components are gone fails with the reason. Calling it twice is harmless.
        """
        queued = {item[2] for item in self.state.queue}
        resumed = []
        for job in self.runtime.state.list_jobs():
            if job.status.is_terminal or job.status is JobStatus.CREATED:
                continue
            if job.job_id in self.jobs or job.job_id in queued:
                continue
            job = self.runtime.state.save(*interrupted(job))
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
            self.runtime.validator.check(job.workflow)
        except WorkflowInvalid as exc:
            reasons = "; ".join(p.message for p in exc.result.errors)
            error = ErrorInfo("WorkflowInvalid", f"cannot resume after restart: {reasons}")
            failed, entry = move_job(
                job, JobEvent.FAIL, "recovery", error=error, finished_at=time.time()
            )
            job = self.runtime.state.save(failed, [entry])
            self.runtime.publish(Event("JobFailed", job.job_id, error=error))
        return job

    def on_cancel(self, msg: CancelJob) -> Ack:
        """Cancel a job wherever it is; cancelling a cancelled job is harmless."""
        job = self.runtime.state.get(msg.job_id)
        if job.status is JobStatus.CANCELLED:
            return Ack(job.job_id, job.status.value)
        ref = self.jobs.get(msg.job_id)
        if ref is not None:
            if job.status is JobStatus.CANCELLING:
                return Ack(job.job_id, job.status.value)
            next_job_status(job.job_id, job.status, JobEvent.CANCEL)  # refuse early, clearly
            ref.tell(encode(msg))
            return Ack(job.job_id, JobStatus.CANCELLING.value)
        cancelled, entry = move_job(job, JobEvent.CANCEL, "cancel_job", finished_at=time.time())
        status = self.runtime.state.save(cancelled, [entry]).status
        self.state = attrs.evolve(
            self.state, queue=tuple(q for q in self.state.queue if q[2] != job.job_id)
        )
        self.runtime.publish(Event("JobCancelled", job.job_id))
        return Ack(job.job_id, status.value)

    def on_job_finished(self, msg: JobFinished) -> None:
        """Free the job's slot and start the next in line."""
        self.jobs.pop(msg.job_id, None)
        self.state = attrs.evolve(self.state, running=self.state.running - {msg.job_id})
        self._dispatch()

    def _dispatch(self) -> None:
        while self.state.queue and len(self.state.running) < self.max_jobs:
            _, _, job_id = self.state.queue[0]
            self.state = attrs.evolve(
                self.state, queue=self.state.queue[1:], running=self.state.running | {job_id}
            )
            self.jobs[job_id] = JobActor.start(job_id, self.actor_ref, self.runtime)

    def on_stop(self) -> None:
        """Stop every JobActor (and through them every StepActor)."""
        for ref in list(self.jobs.values()):
            ref.stop(block=True)
        self.jobs.clear()


_INTERRUPTED = ErrorInfo(
    "Interrupted", "the engine stopped while this attempt ran; it is run again after recovery"
)


def interrupted(job: JobState) -> tuple[JobState, list[Transition]]:
    """The job as a new engine takes it over after the old one stopped.

    RUNNING goes back to QUEUED, PAUSING to PAUSED, CANCELLING to CANCELLED;
    attempts that were running are closed as interrupted and their steps are
    READY to run again; waiting retries are READY at once.
    """
    entries: list[Transition] = []
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
