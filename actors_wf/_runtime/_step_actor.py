"""StepActor: owns one running attempt of one step at a time.

The component runs on an executor; this actor's loop stays free, so a
``CancelStep`` takes effect the moment it arrives. The outcome goes from the
worker straight to the JobActor (one hop less on every step); this actor is
told the call ended, and only then goes back to the pool, so an attempt is
owned by exactly one actor for as long as its code runs. StepActors are
pooled (see ``_pool``): a message about an attempt it no longer owns is stale
and ignored.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any, ClassVar

import attrs
import pykka

from .._actor import EngineActor, tell_quietly
from .._codec import encode
from .._messages import AttemptEnded, CancelStep, RunStep, StepCancelled, StepFailed
from .._records import ErrorInfo
from .._registry import COMPONENT
from ._executor import StepContext, run_attempt
from ._runtime import Runtime

log = logging.getLogger("actors_wf.step")


@attrs.frozen
class StepActorState:
    """The attempt this actor owns (``None`` while idle) and whether it was cancelled."""

    run: RunStep | None = None
    cancelled: bool = False

    def owns(self, job_id: str, step_id: str, attempt: int) -> bool:
        """Whether a message names the attempt this actor owns now."""
        run = self.run
        return run is not None and (run.job_id, run.step_id, run.attempt) == (
            job_id,
            step_id,
            attempt,
        )


class StepActor(EngineActor):
    """Runs attempts, one at a time, and reports their outcomes to their JobActors."""

    handlers: ClassVar[dict[type[Any], str]] = {
        RunStep: "on_run",
        CancelStep: "on_cancel",
        AttemptEnded: "on_attempt_ended",
    }

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.state = StepActorState()
        self.ctx: StepContext | None = None

    def on_run(self, msg: RunStep) -> None:
        """Hand the call to the executor."""
        job = pykka.ActorRegistry.get_by_urn(msg.reply_to)
        self.state = StepActorState(run=msg)
        try:
            entry = self.runtime.registry.lookup(COMPONENT, msg.component)
        except Exception as exc:
            error = ErrorInfo.from_exception(exc, msg.step_id)
            if job is not None:
                job.tell(encode(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, 0.0, 0.0)))
            self._release()
            return
        ctx = self.ctx = StepContext(msg.job_id, msg.step_id, msg.attempt)
        me = self.actor_ref
        ended = encode(AttemptEnded(msg.job_id, msg.step_id, msg.attempt))

        def deliver(future: Future[bytes]) -> None:
            # Runs on the worker thread: only tells, never blocks.
            if not future.cancelled() and not ctx.cancelled and job is not None:
                tell_quietly(job, future.result())
            tell_quietly(me, ended)

        self.runtime.executor.submit(run_attempt, entry, msg, ctx).add_done_callback(deliver)

    def on_cancel(self, msg: CancelStep) -> None:
        """Ask the component to stop and report the step cancelled."""
        if not self.state.owns(msg.job_id, msg.step_id, msg.attempt) or self.state.cancelled:
            return
        if self.ctx is not None:
            self.ctx.cancel()
        self.state = attrs.evolve(self.state, cancelled=True)
        job = pykka.ActorRegistry.get_by_urn(self.state.run.reply_to) if self.state.run else None
        if job is not None:
            job.tell(encode(StepCancelled(msg.job_id, msg.step_id, msg.attempt)))

    def on_attempt_ended(self, msg: AttemptEnded) -> None:
        """The call has returned: this actor is free again."""
        if self.state.owns(msg.job_id, msg.step_id, msg.attempt):
            self._release()

    def _release(self) -> None:
        self.state = StepActorState()
        self.ctx = None
        self.runtime.steps.release(self.actor_ref)

    def on_stop(self) -> None:
        """A stop (engine shutdown) still signals a running component to stop."""
        if self.ctx is not None:
            self.ctx.cancel()
