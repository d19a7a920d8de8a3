"""JobActor: supervisor of one job's steps, owner of its JobState while it runs.

Each step result is saved before the steps it unblocks start. Steps whose
dependencies are done start at once, in parallel, each on its own StepActor.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import attrs
import pykka

from .._actor import EngineActor, tell_quietly
from .._codec import encode
from .._messages import (
    CancelJob,
    CancelStep,
    JobFinished,
    RunStep,
    StepCancelled,
    StepFailed,
    StepSucceeded,
)
from .._plan import resolve
from .._records import Attempt, ErrorInfo, JobState, StepState
from .._state._events import Event
from .._status import JobEvent, JobStatus, StepEvent, StepStatus, next_job_status, next_step_status
from ._runtime import Runtime, plan_of
from ._step_actor import StepActor

log = logging.getLogger("actors_wf.job")

_JOB_EVENT_KINDS = {
    JobStatus.COMPLETED: "JobCompleted",
    JobStatus.FAILED: "JobFailed",
    JobStatus.CANCELLED: "JobCancelled",
}


class JobActor(EngineActor):
    """Runs one job: starts ready steps, records results, ends the job.

    ``self.state`` is the job's frozen :class:`JobState`; ``self.children``
    holds the refs of running StepActors, which are handles, not state.
    """

    handlers: ClassVar[dict[type[Any], str]] = {
        StepSucceeded: "on_step_succeeded",
        StepFailed: "on_step_failed",
        StepCancelled: "on_step_cancelled",
        CancelJob: "on_cancel",
    }

    def __init__(self, job_id: str, manager: pykka.ActorRef[Any], runtime: Runtime) -> None:
        super().__init__()
        self.job_id = job_id
        self.manager = manager
        self.runtime = runtime
        self.children: dict[str, pykka.ActorRef[Any]] = {}
        self.state: JobState = runtime.state.get(job_id)
        self.plan = plan_of(self.state.workflow)
        self.urn: str = self.actor_urn

    # -- life -------------------------------------------------------------

    def on_start(self) -> None:
        """Move the job to RUNNING and start every step that can start."""
        try:
            status = next_job_status(self.job_id, self.state.status, JobEvent.START)
            self.state = attrs.evolve(self.state, status=status, started_at=time.time())
            self.runtime.publish(Event("JobStarted", self.job_id))
            self._advance(self.plan.order)
        except Exception as exc:
            # Pykka does not call on_failure for on_start; do the same work.
            self.on_failure(type(exc), exc, exc.__traceback__)
            raise

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        """An engine bug killed this actor: fail the job and free its slot."""
        super().on_failure(exc_type, exc_value, tb)
        try:
            if not self.state.status.is_terminal:
                status = next_job_status(self.job_id, self.state.status, JobEvent.FAIL)
                error = ErrorInfo.from_exception(exc_value)
                self.state = attrs.evolve(
                    self.state, status=status, error=error, finished_at=time.time()
                )
                self._save()
        finally:
            self.manager.tell(encode(JobFinished(self.job_id, JobStatus.FAILED.value)))
            self.on_stop()

    def on_stop(self) -> None:
        """Cancel every attempt still running (engine shutdown)."""
        self._cancel_children(force=True)

    # -- handlers -----------------------------------------------------------

    def on_step_succeeded(self, msg: StepSucceeded) -> None:
        """Record the output, then start what it unblocked or finish the job."""
        step = self._current(msg.step_id, msg.attempt)
        if step is None:
            return
        self.children.pop(msg.step_id, None)
        done = self._end_attempt(step, msg.finished_at, None)
        status = next_step_status(self.job_id, step.step_id, step.status, StepEvent.SUCCEED)
        self.state = self.state.with_step(attrs.evolve(done, status=status, output=msg.output))
        self.runtime.publish(
            Event(
                "StepSucceeded",
                self.job_id,
                step_id=msg.step_id,
                attempt=msg.attempt,
                output=msg.output,
            )
        )
        self._advance(self.plan.dependants[msg.step_id])

    def on_step_failed(self, msg: StepFailed) -> None:
        """Record the failure and fail the job (retries come from the policy)."""
        step = self._current(msg.step_id, msg.attempt)
        if step is None:
            return
        self.children.pop(msg.step_id, None)
        done = self._end_attempt(step, msg.finished_at or time.time(), msg.error)
        status = next_step_status(self.job_id, step.step_id, step.status, StepEvent.FAIL)
        self.state = self.state.with_step(attrs.evolve(done, status=status, error=msg.error))
        self.runtime.publish(
            Event(
                "StepFailed",
                self.job_id,
                step_id=msg.step_id,
                attempt=msg.attempt,
                error=msg.error,
            )
        )
        self._fail(msg.error)

    def on_step_cancelled(self, msg: StepCancelled) -> None:
        """Record a cancelled attempt; the job is cancelled once none runs."""
        step = self._current(msg.step_id, msg.attempt)
        if step is None:
            return
        self.children.pop(msg.step_id, None)
        done = self._end_attempt(step, time.time(), None)
        status = next_step_status(self.job_id, step.step_id, step.status, StepEvent.CANCEL)
        self.state = self.state.with_step(attrs.evolve(done, status=status))
        self._finish_cancel_if_quiet()

    def on_cancel(self, msg: CancelJob) -> None:
        """Cancel every running step; the job ends CANCELLED when they have stopped."""
        status = next_job_status(self.job_id, self.state.status, JobEvent.CANCEL)
        self.state = attrs.evolve(self.state, status=status)
        self._cancel_idle_steps()
        for step_id, ref in self.children.items():
            attempt = len(self.state.steps[step_id].attempts)
            ref.tell(encode(CancelStep(self.job_id, step_id, attempt, msg.force)))
        self._finish_cancel_if_quiet()

    def _cancel_children(self, *, force: bool) -> None:
        for step_id, ref in self.children.items():
            attempt = len(self.state.steps[step_id].attempts)
            tell_quietly(ref, encode(CancelStep(self.job_id, step_id, attempt, force)))
        self.children.clear()

    # -- the flow ----------------------------------------------------------

    def _advance(self, candidates: tuple[str, ...] | list[str]) -> None:
        """Start the candidates that are ready, then save; finish if all are done."""
        done = {sid for sid, s in self.state.steps.items() if s.status is StepStatus.SUCCEEDED}
        to_run = [
            sid
            for sid in candidates
            if self.state.steps[sid].status is StepStatus.PENDING and self.plan.ready(sid, done)
        ]
        runs = [run for sid in to_run if (run := self._prepare(sid)) is not None]
        if len(done) == len(self.state.steps):
            self._complete()
            return
        self._save()
        for run in runs:
            self._launch(run)

    def _prepare(self, step_id: str) -> RunStep | None:
        """Move a step to RUNNING with a new attempt; ``None`` if its inputs fail."""
        spec = self.state.workflow.step(step_id)
        step = self.state.steps[step_id]
        status = next_step_status(self.job_id, step_id, step.status, StepEvent.READY)
        status = next_step_status(self.job_id, step_id, status, StepEvent.START)
        attempt = Attempt(len(step.attempts) + 1, time.time())
        step = attrs.evolve(step, status=status, attempts=(*step.attempts, attempt))
        self.state = self.state.with_step(step)
        outputs = {sid: s.output for sid, s in self.state.steps.items()}
        try:
            inputs = resolve(spec.inputs, self.state.inputs, outputs)
        except LookupError as exc:
            self.actor_ref.tell(
                encode(
                    StepFailed(
                        self.job_id,
                        step_id,
                        attempt.number,
                        ErrorInfo("ReferenceError", str(exc), step_id=step_id),
                        attempt.started_at,
                        time.time(),
                    )
                )
            )
            return None
        return RunStep(
            self.job_id, step_id, attempt.number, spec.component, inputs, self.urn, spec.timeout
        )

    def _launch(self, run: RunStep) -> None:
        child = self.runtime.steps.acquire(lambda: StepActor.start(self.runtime))
        self.children[run.step_id] = child
        child.tell(encode(run))
        self.runtime.publish(
            Event("StepStarted", self.job_id, step_id=run.step_id, attempt=run.attempt)
        )

    def _complete(self) -> None:
        outputs = {sid: s.output for sid, s in self.state.steps.items()}
        try:
            result = resolve(self.state.workflow.outputs, self.state.inputs, outputs)
        except LookupError as exc:
            self._fail(ErrorInfo("ReferenceError", f"workflow outputs: {exc}"))
            return
        self._end(JobEvent.COMPLETE, outputs=result)

    def _fail(self, error: ErrorInfo) -> None:
        self._cancel_idle_steps()
        self._cancel_children(force=False)  # their results no longer matter
        self._end(JobEvent.FAIL, error=error)

    def _finish_cancel_if_quiet(self) -> None:
        if self.state.status is JobStatus.CANCELLING and not self.children:
            self._end(JobEvent.CANCELLED)
        else:
            self._save()

    def _cancel_idle_steps(self) -> None:
        for step in self.state.steps.values():
            if step.status in (StepStatus.PENDING, StepStatus.READY, StepStatus.RETRY_WAIT):
                status = next_step_status(self.job_id, step.step_id, step.status, StepEvent.CANCEL)
                self.state = self.state.with_step(attrs.evolve(step, status=status))

    def _end(self, event: JobEvent, **changes: Any) -> None:
        status = next_job_status(self.job_id, self.state.status, event)
        self.state = attrs.evolve(self.state, status=status, finished_at=time.time(), **changes)
        self._save()
        self.runtime.publish(
            Event(
                _JOB_EVENT_KINDS[status],
                self.job_id,
                output=self.state.outputs,
                error=self.state.error,
            )
        )
        self.manager.tell(encode(JobFinished(self.job_id, status.value)))
        self.stop()

    # -- helpers -------------------------------------------------------------

    def _current(self, step_id: str, attempt: int) -> StepState | None:
        """The step, if this message is about its live attempt; else ``None`` (late)."""
        if self.state.status.is_terminal:
            return None
        step = self.state.steps.get(step_id)
        if step is None or step.status is not StepStatus.RUNNING or len(step.attempts) != attempt:
            log.debug("job %s: dropped a late message for step %s", self.job_id, step_id)
            return None
        return step

    @staticmethod
    def _end_attempt(step: StepState, finished_at: float, error: ErrorInfo | None) -> StepState:
        last = attrs.evolve(step.attempts[-1], finished_at=finished_at, error=error)
        return attrs.evolve(step, attempts=(*step.attempts[:-1], last))

    def _save(self) -> None:
        self.state = self.runtime.state.save(self.state)
