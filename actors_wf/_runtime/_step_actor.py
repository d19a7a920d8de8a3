"""StepActor: owns one running attempt of one step.

The component runs on an executor; this actor's loop stays free, so a
``CancelStep`` takes effect the moment it arrives. Once the attempt ends or is
cancelled the actor reports to its JobActor and stops; a late result of a
cancelled attempt finds it gone and is dropped.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any, ClassVar

import attrs
import pykka

from .._actor import EngineActor
from .._codec import encode
from .._messages import CancelStep, RunStep, StepCancelled, StepFailed, StepSucceeded
from .._records import ErrorInfo
from .._registry import COMPONENT
from ._executor import StepContext, run_attempt
from ._runtime import Runtime

log = logging.getLogger("actors_wf.step")


@attrs.frozen
class StepActorState:
    """The attempt this actor owns; ``None`` fields before ``RunStep`` arrives."""

    run: RunStep | None = None
    cancelled: bool = False


class StepActor(EngineActor):
    """Runs one attempt of a step and reports its outcome to the JobActor."""

    handlers: ClassVar[dict[type[Any], str]] = {
        RunStep: "on_run",
        CancelStep: "on_cancel",
        StepSucceeded: "on_outcome",
        StepFailed: "on_outcome",
    }

    def __init__(self, job: pykka.ActorRef[Any], runtime: Runtime) -> None:
        super().__init__()
        self.job = job
        self.runtime = runtime
        self.state = StepActorState()
        self.ctx: StepContext | None = None

    def on_run(self, msg: RunStep) -> None:
        """Hand the call to the executor."""
        self.state = attrs.evolve(self.state, run=msg)
        try:
            entry = self.runtime.registry.lookup(COMPONENT, msg.component)
        except Exception as exc:
            error = ErrorInfo.from_exception(exc, msg.step_id)
            self.on_outcome(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, 0.0, 0.0))
            return
        self.ctx = StepContext(msg.job_id, msg.step_id, msg.attempt)
        future = self.runtime.executor.submit(run_attempt, entry, msg, self.ctx)
        future.add_done_callback(self._deliver)

    def _deliver(self, future: Future[bytes]) -> None:
        # Runs on the worker thread (or the shutting-down caller's): only tell.
        if future.cancelled():
            return
        try:
            self.actor_ref.tell(future.result())
        except pykka.ActorDeadError:
            log.debug("dropped the late outcome of a stopped step")

    def on_outcome(self, msg: StepSucceeded | StepFailed) -> None:
        """Report the attempt's outcome to the JobActor, then stop."""
        if not self.state.cancelled:
            self.job.tell(encode(msg))
        self.stop()

    def on_cancel(self, msg: CancelStep) -> None:
        """Ask the component to stop, report the step cancelled, then stop."""
        if self.ctx is not None:
            self.ctx.cancel()
        self.state = attrs.evolve(self.state, cancelled=True)
        self.job.tell(encode(StepCancelled(msg.job_id, msg.step_id, msg.attempt)))
        self.stop()

    def on_stop(self) -> None:
        """A stop that was not asked for by a cancel still signals the component."""
        if self.ctx is not None:
            self.ctx.cancel()
