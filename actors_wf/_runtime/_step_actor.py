"""StepActor: owns one running attempt of one step at a time.

The component runs on an executor; this actor's loop stays free, so a
``CancelStep`` or a timeout takes effect the moment it arrives. The outcome
goes from the worker straight to the JobActor (one hop less on every step).
This actor goes back to the pool only once the call has returned, so an
attempt is owned by exactly one actor for as long as its code runs: told so
(``AttemptEnded``) when it has timers armed or is stopping the attempt;
otherwise the worker puts it back itself (``StepContext.returned`` settles
the race with a cancel), which saves a message and a thread wake-up per step.

Stopping an attempt (a cancel, a timeout): the component is asked to stop
(``ctx.cancelled``); the attempt's end is awaited for the grace period
(none when forced). An attempt that ends in time is reported cancelled or
timed out, and a timed-out one may be retried: it is known to be over. One
that does not: in a process it is killed, then reported; in a thread it
cannot be stopped, so a timed-out step fails as *abandoned* (never retried
beside itself) and a cancelled one is reported cancelled while its thread
runs on, logged.

StepActors are pooled (see ``_pool``): a message about an attempt the actor
no longer owns is stale and ignored.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import attrs
import pykka

from .._core._actor import EngineActor, tell_quietly
from .._core._codec import encode
from .._core._kinds import FailureKind
from .._core._messages import (
    AttemptEnded,
    AttemptTimedOut,
    CancelStep,
    GraceOver,
    RunStep,
    StepCancelled,
    StepFailed,
)
from .._core._records import ErrorInfo
from .._registry._entry import COMPONENT
from ._attempt import StepContext
from ._clock import Timer
from ._executor import ExecutorClosed
from ._services import Services

log = logging.getLogger("actors_wf.step")


@attrs.frozen
class StepActorState:
    """The attempt this actor owns (``None`` while idle) and how it is ending.

    Attributes:
        run: the attempt.
        stopping: why it is being stopped: ``cancel``, ``timeout``,
            ``heartbeat``; empty while it runs.
        reported: whether the JobActor has been told how it ended.
    """

    run: RunStep | None = None
    stopping: str = ""
    reported: bool = False

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
        AttemptTimedOut: "on_timed_out",
        GraceOver: "on_grace_over",
    }

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.state = StepActorState()
        self.ctx: StepContext | None = None
        self.job: pykka.ActorRef[Any] | None = None
        self.timers: list[Timer] = []

    def on_run(self, msg: RunStep) -> None:
        """Hand the call to the executor and arm the attempt's timers."""
        job = self.job = self.services.jobs.get(msg.reply_to)
        self.state = StepActorState(run=msg)
        try:
            entry = self.services.registry.lookup(COMPONENT, msg.component)
        except Exception as exc:
            error = ErrorInfo.from_exception(exc, msg.step_id)
            self._report(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, 0.0, 0.0))
            self._release()
            return
        clock = self.services.clock
        ctx = self.ctx = StepContext(msg.job_id, msg.step_id, msg.attempt, clock.now)
        me, pool = self.actor_ref, self.services.steps
        self.timers = []
        # Timers first: once the component runs, its deadlines are set (tests rely on it).
        if msg.timeout is not None:
            self._later(msg.timeout, AttemptTimedOut(msg.job_id, msg.step_id, msg.attempt))
        if msg.heartbeat_timeout is not None:
            self._watch_heartbeat(msg)
        # With no timer armed, nothing but a cancel can still concern this attempt
        # once its call has returned; ctx.returned() settles that race. Then the
        # worker frees this actor itself: no AttemptEnded, one wake-up less.
        quiet = not self.timers
        timers = self.timers

        def deliver(outcome: bytes) -> None:
            # Runs on the worker thread: only tells, never blocks.
            if quiet and ctx.returned():
                pool.release(me)  # first: the JobActor, once told, wants this thread's GIL
                if job is not None:
                    tell_quietly(job, outcome)
                return
            if not ctx.cancelled and job is not None:
                for timer in timers:  # the call returned: its deadlines are moot from now
                    timer.cancel()
                tell_quietly(job, outcome)
            tell_quietly(me, encode(AttemptEnded(msg.job_id, msg.step_id, msg.attempt)))

        try:
            executor = msg.placement["executor"] if msg.placement else ""
            self.services.executor_for(entry, executor).start(entry, msg, ctx, deliver)
        except ExecutorClosed:  # the engine closes: its jobs are interrupted, not failed
            log.debug(
                "step %r of job %s not started: the engine is closing", msg.step_id, msg.job_id
            )
            self._release()

    def _watch_heartbeat(self, msg: RunStep) -> None:
        assert msg.heartbeat_timeout is not None and self.ctx is not None
        quiet = self.services.clock.now() - self.ctx.last_heartbeat
        left = msg.heartbeat_timeout - quiet
        timed_out = AttemptTimedOut(msg.job_id, msg.step_id, msg.attempt, "heartbeat")
        self._later(max(left, 0.0), timed_out)

    def on_timed_out(self, msg: AttemptTimedOut) -> None:
        """Stop an attempt that ran out of time (or recheck a heartbeat that came in)."""
        if not self.state.owns(msg.job_id, msg.step_id, msg.attempt) or self.state.stopping:
            return
        run = self.state.run
        assert run is not None and self.ctx is not None
        beat_since = self.services.clock.now() - self.ctx.last_heartbeat
        if msg.reason == "heartbeat" and beat_since < (run.heartbeat_timeout or 0.0):
            self._watch_heartbeat(run)  # it beat meanwhile: watch again
            return
        self._stop_attempt(msg.reason, force=False)

    def on_cancel(self, msg: CancelStep) -> None:
        """Ask the component to stop; report once it has (or the grace period is over)."""
        if not self.state.owns(msg.job_id, msg.step_id, msg.attempt):
            return
        if self.state.stopping:
            if msg.force:
                self._give_up(forced=True)
            return
        self._stop_attempt("cancel", force=msg.force)

    def _stop_attempt(self, why: str, *, force: bool) -> None:
        run = self.state.run
        assert run is not None and self.ctx is not None
        if not self.ctx.cancel():
            # The call returned first: its outcome is on its way to the JobActor
            # and the worker has put this actor back in the pool.
            return
        self.state = attrs.evolve(self.state, stopping=why)
        if force:
            self._give_up(forced=True)
        else:
            self._later(
                self.services.cancel_grace, GraceOver(run.job_id, run.step_id, run.attempt)
            )

    def on_grace_over(self, msg: GraceOver) -> None:
        """The attempt did not stop in time: kill its process, or abandon its thread."""
        if not self.state.owns(msg.job_id, msg.step_id, msg.attempt):
            return
        self._give_up(forced=False)

    def _give_up(self, *, forced: bool) -> None:
        """Kill the attempt's process, or abandon its thread (forced: without a grace period)."""
        if self.state.reported:
            return
        run = self.state.run
        assert run is not None and self.ctx is not None
        if self.ctx.kill():
            return  # its process is gone: AttemptEnded follows and reports it
        why = (
            "was forced to stop"
            if forced
            else f"did not stop within {self.services.cancel_grace:g}s"
        )
        log.warning(
            "step %r of job %s (attempt %d) %s; its thread runs on until it returns",
            run.step_id,
            run.job_id,
            run.attempt,
            why,
        )
        if self.state.stopping == "cancel":
            self._report(StepCancelled(run.job_id, run.step_id, run.attempt))
        else:
            self._report(self._failure(run, FailureKind.STEP_ABANDONED, abandoned=True))

    def on_attempt_ended(self, msg: AttemptEnded) -> None:
        """The call has returned: report a stopped attempt, and be free again."""
        if not self.state.owns(msg.job_id, msg.step_id, msg.attempt):
            return
        run = self.state.run
        assert run is not None
        if self.state.stopping and not self.state.reported:
            if self.state.stopping == "cancel":
                self._report(StepCancelled(run.job_id, run.step_id, run.attempt))
            else:
                self._report(self._failure(run, FailureKind.STEP_TIMEOUT))
        self._release()

    def _failure(self, run: RunStep, kind: str, *, abandoned: bool = False) -> StepFailed:
        why = self.state.stopping
        limit = run.timeout if why == "timeout" else run.heartbeat_timeout
        what = "ran past its timeout" if why == "timeout" else "stopped sending heartbeats"
        message = f"step {run.step_id!r} attempt {run.attempt} {what} ({limit:g}s)"
        if abandoned:
            message += (
                f" and did not stop within {self.services.cancel_grace:g}s; its thread runs on, "
                "so the step is not retried (use isolation: process to make it killable)"
            )
        now = self.services.clock.now()
        error = ErrorInfo(kind, message, step_id=run.step_id)
        return StepFailed(run.job_id, run.step_id, run.attempt, error, now, now)

    def _report(self, message: Any) -> None:
        self.state = attrs.evolve(self.state, reported=True)
        if self.job is not None:
            tell_quietly(self.job, encode(message))

    def _later(self, delay: float, message: Any) -> None:
        me, data = self.actor_ref, encode(message)
        self.timers.append(self.services.clock.call_later(delay, lambda: tell_quietly(me, data)))

    def _release(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers = []
        self.state = StepActorState()
        self.ctx = None
        self.job = None
        self.services.steps.release(self.actor_ref)

    def on_stop(self) -> None:
        """A stop (engine shutdown) still signals a running component to stop."""
        for timer in self.timers:
            timer.cancel()
        if self.ctx is not None and self.ctx.cancel():  # False: that call has returned
            self.ctx.kill()
