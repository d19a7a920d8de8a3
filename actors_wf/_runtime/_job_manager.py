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
from .._messages import Ack, CancelJob, CreateJob, JobCreated, JobFinished, StartJob
from .._records import PRIORITIES, JobState, StepState
from .._registry import WORKFLOW
from .._spec import WorkflowSpec
from .._state._events import Event
from .._status import JobEvent, JobStatus, next_job_status
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
        status = next_job_status(job.job_id, job.status, JobEvent.ENQUEUE)
        self.runtime.state.save(attrs.evolve(job, status=status))
        item = (-job.priority, self.state.arrivals, job.job_id)
        self.state = attrs.evolve(
            self.state,
            queue=tuple(sorted((*self.state.queue, item))),
            arrivals=self.state.arrivals + 1,
        )
        self.runtime.publish(Event("JobQueued", job.job_id))
        self._dispatch()
        return Ack(job.job_id, status.value)

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
        status = next_job_status(job.job_id, job.status, JobEvent.CANCEL)
        self.runtime.state.save(attrs.evolve(job, status=status, finished_at=time.time()))
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
