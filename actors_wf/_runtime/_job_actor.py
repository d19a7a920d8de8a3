"""JobActor: supervisor of one job's steps, owner of its JobState while it runs.

Each step result is saved before the steps it unblocks start. Steps whose
dependencies are done start at once, in parallel, each on its own StepActor.
"""

from __future__ import annotations

import functools
import itertools
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import pykka

from .._core._actor import EngineActor, retell, tell_quietly
from .._core._codec import encode
from .._core._conditions import ConditionError, evaluate, parse_condition
from .._core._errors import InvalidTransition, StoreError
from .._core._kinds import EventKind, FailureKind
from .._core._messages import (
    CancelJob,
    CancelStep,
    ChildEnded,
    JobFinished,
    PauseJob,
    ResourcesFree,
    ResumeJob,
    RunStep,
    StartChild,
    StepCancelled,
    StepFailed,
    StepSucceeded,
    UpdateJob,
    WaitTimedOut,
    WakeStep,
)
from .._core._plan import Ref, lookup, parse_ref, resolve
from .._core._records import Attempt, ErrorInfo, JobState, StepState, step_map
from .._core._spec import ComponentDefinition, StepSpec
from .._core._status import JobEvent, JobStatus, StepEvent, StepStatus
from .._observe._events import Event
from .._registry._entry import COMPONENT
from .._state._transitions import JournalEntry, move_job, step_after
from ._maps import MapRun, map_output
from ._services import Services, plan_of
from ._step_actor import StepActor
from ._step_settings import NO_DEFINITION, StepSettings, merged_settings, retry_delay

log = logging.getLogger("actors_wf.job")

_JOB_EVENT_KINDS = {
    JobStatus.COMPLETED: EventKind.JOB_COMPLETED,
    JobStatus.FAILED: EventKind.JOB_FAILED,
    JobStatus.CANCELLED: EventKind.JOB_CANCELLED,
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
        WakeStep: "on_wake",
        ResourcesFree: "on_resources_free",
        PauseJob: "on_pause",
        ResumeJob: "on_resume",
        UpdateJob: "on_update",
        WaitTimedOut: "on_wait_timed_out",
        ChildEnded: "on_child_ended",
    }

    def __init__(self, job_id: str, manager: pykka.ActorRef[Any], services: Services) -> None:
        super().__init__()
        self.job_id = job_id
        self.manager = manager
        self.services = services
        self.children: dict[str, pykka.ActorRef[Any]] = {}
        ref = self.actor_ref
        # From here to on_stop this actor is the job's one writer.
        self.notify = lambda number: tell_quietly(ref, encode(UpdateJob(job_id, number)))
        self.state: JobState = services.state.own(job_id, self.notify)
        self.base = self.state  # the last stored state
        # The steps as this handler has moved them so far. A handler changes
        # steps here and in ``moved``; ``_save`` makes the next JobState once,
        # its steps a new version of the stored StepMap with the moved ones.
        self.steps: dict[str, StepState] = dict(self.state.steps)
        self.moved: dict[str, StepState] = {}  # the steps moved since the last save
        self.pending: list[JournalEntry] = []  # journal entries not yet stored
        # Events of changes not yet stored: published once they are (see _publish).
        self.held_events: list[Callable[[], None]] = []
        self.plan = plan_of(self.state.workflow)
        self.urn: str = self.actor_urn
        self.deadlines: dict[str, float] = {}  # step id -> total_timeout deadline (clock time)
        steps = self.steps.values()
        self.outputs = _outputs(self.steps)  # of the SUCCEEDED steps, by step id
        # SKIPPED or FAILED steps: what a step's defaults stand in for (kept only if one has some).
        self.tolerant = bool(self.plan.tolerates)
        self.missed = _missed(self.steps) if self.tolerant else set()
        self.open = sum(not s.status.is_terminal for s in steps)
        self.ready: dict[str, None] = {}  # READY steps waiting for resources, in order
        self.due: set[str] = set()  # retries whose wait ended while the job was pausing
        self.held: dict[str, dict[str, int]] = {}  # step id -> resources it holds
        self.owes_offer = False  # room given back, not yet offered to other jobs
        self.random = random.random
        self.settings: dict[str, StepSettings] = {}
        self.maps: dict[str, MapRun] = {}  # for_each steps expanded by this actor
        self.item_of: dict[str, tuple[str, int]] = {}  # an item's step id -> (its map, index)
        self.added = False  # steps (items) added since the last save
        self.waiting = {sid: None for sid, s in self.steps.items() if s.status is _WAITING}
        self.subjobs: dict[str, str] = {}  # step id -> the child job it runs, while it runs
        self.starting: list[StartChild] = []  # child jobs to start once the parent is stored

    # -- life -------------------------------------------------------------

    def _start_actor_loop(self) -> None:
        # A thread of the engine's, not one of its own: a job would pay a thread's start.
        self.services.loops.run(self._actor_loop)

    def on_start(self) -> None:
        """Move the job to RUNNING and start every step that can start."""
        self.services.jobs[self.urn] = self.actor_ref
        try:
            self._job(JobEvent.START, started_at=self.state.started_at or time.time())
            self._publish(self.services.publish, Event(EventKind.JOB_STARTED, self.job_id))
            for step in list(self.steps.values()):
                if step.status is StepStatus.RETRY_WAIT:  # paused or restarted during a wait
                    self._step(step.step_id, StepEvent.WAKE, "job resumed")
            for step_id in self.waiting:  # waiting for a signal since before a pause or a crash
                self._arm(step_id)
            self._take_signals()
            self._advance(self.plan.order)
        except StoreError as exc:
            self._store_failed(exc)
        except Exception as exc:
            # Pykka does not call on_failure for on_start; do the same work.
            self.on_failure(type(exc), exc, exc.__traceback__)
            raise
        finally:
            self._offer()  # a recovered map's items may have given room back

    def on_receive(self, message: Any) -> Any:
        """Handle a message, then offer the room its steps gave back and did not take again.

        A handler that raises kills this actor, whose ``on_stop`` offers it.
        """
        reply = EngineActor.on_receive(self, message)
        if self.owes_offer:
            self._offer()
        return reply

    stopping_errors = (StoreError,)

    def on_stopping_error(self, error: Exception) -> None:
        """A store that cannot be written stops the job (see ``_store_failed``)."""
        assert isinstance(error, StoreError)
        self._store_failed(error)

    def _store_failed(self, error: StoreError) -> None:
        """The store refused a write: stop here, keeping what was committed.

        The job's running attempts are stopped and its waiters get the error;
        the store keeps the job as last committed (RUNNING, say), so that
        ``engine.recover()`` runs it on once the store can be written again.
        """
        log.error("job %s stopped: %s", self.job_id, error)
        self._cancel_children(force=True)
        self._give_back_all()
        # The manager first: a recover() the waiter sends next finds the job free.
        self._tell_finished(self.base.status.value)
        self.services.state.interrupt(self.job_id, error)
        self.services.publish(
            Event(EventKind.JOB_INTERRUPTED, self.job_id, error=ErrorInfo.from_exception(error))
        )
        self.stop()

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        """An engine bug killed this actor: fail the job and free its slot."""
        super().on_failure(exc_type, exc_value, tb)
        try:
            if not self.state.status.is_terminal:
                error = ErrorInfo.from_exception(exc_value)
                self._job(JobEvent.FAIL, "engine error", error=error, finished_at=time.time())
                self._save()
        finally:
            self._tell_finished(JobStatus.FAILED.value)
            self.on_stop()

    def _tell_finished(self, status: str) -> None:
        """Tell the manager this actor is done with the job (``status``: where it rests)."""
        tell_quietly(self.manager, encode(JobFinished(self.job_id, status, self.urn)))

    def on_stop(self) -> None:
        """Cancel every attempt still running (engine shutdown)."""
        self._cancel_children(force=True)
        self._give_back_all()
        self.services.jobs.pop(self.urn, None)
        self.services.state.disown(self.job_id, self.notify)

    # -- handlers -----------------------------------------------------------

    def on_step_succeeded(self, msg: StepSucceeded) -> None:
        """Record the output, then start what it unblocked or finish the job."""
        closed = self._close_attempt(msg.step_id, msg.attempt, msg.finished_at, None, msg.worker)
        if closed is None:
            return
        self._step(msg.step_id, _SUCCEED, output=msg.output, attempts=closed)
        self._step_event(
            _STEP_SUCCEEDED,
            msg.step_id,
            msg.attempt,
            msg.started_at,
            msg.finished_at,
            output=msg.output,
            **({"worker": msg.worker} if msg.worker else _NO_EXTRA),
        )
        dependants = self.plan.dependants.get(msg.step_id)
        self._advance(dependants if dependants is not None else self._item_ended(msg.step_id))

    def on_step_failed(self, msg: StepFailed) -> None:
        """Retry the step if its policy allows, else fail it (and the job, or skip on)."""
        finished = msg.finished_at or time.time()
        closed = self._close_attempt(msg.step_id, msg.attempt, finished, msg.error, msg.worker)
        if closed is None:
            return
        delay = self._retry_delay(msg.step_id, msg.error)
        if delay is not None and self.state.status is not JobStatus.CANCELLING:
            self._retry(msg, delay, closed)
            return
        self._step(
            msg.step_id, StepEvent.FAIL, f"{msg.error.type}", error=msg.error, attempts=closed
        )
        kind = EventKind.STEP_TIMED_OUT if msg.error.type in _TIMEOUTS else EventKind.STEP_FAILED
        self._step_event(
            kind,
            msg.step_id,
            msg.attempt,
            msg.started_at,
            msg.finished_at,
            error=msg.error,
            **({"worker": msg.worker} if msg.worker else _NO_EXTRA),
        )
        if self.state.status is JobStatus.CANCELLING:
            self._finish_cancel_if_quiet()  # failed before the cancel reached it
        elif msg.step_id in self.item_of:
            self._item_failed(msg.step_id, msg.error)
        elif self.plan.step(msg.step_id).on_failure == "continue":
            self._advance(self._skip_after(msg.step_id))
        else:
            self._fail(msg.error)

    def _retry(self, msg: StepFailed, delay: float, closed: tuple[Attempt, ...]) -> None:
        cause = f"{msg.error.type}; attempt {msg.attempt + 1} in {delay:.3g}s"
        self._step(msg.step_id, StepEvent.RETRY, cause, error=msg.error, attempts=closed)
        self._advance([])  # saves, and starts a READY step the freed slot lets in
        me, wake = self.actor_ref, encode(WakeStep(self.job_id, msg.step_id, msg.attempt))
        self.services.clock.call_later(delay, lambda: tell_quietly(me, wake))
        # Published once the timer is set, so that a test driving a ManualClock
        # can advance it as soon as it sees the event.
        self._step_event(
            EventKind.STEP_RETRYING,
            msg.step_id,
            msg.attempt,
            msg.started_at,
            msg.finished_at,
            error=msg.error,
            **({"worker": msg.worker} if msg.worker else _NO_EXTRA),
        )

    def on_wake(self, msg: WakeStep) -> None:
        """The backoff is over: run the step again (unless the job moved on meanwhile)."""
        step = self.steps.get(msg.step_id)
        if step is None or step.status is not StepStatus.RETRY_WAIT:
            return
        if len(step.attempts) != msg.attempt:
            return
        if self.state.status is not JobStatus.RUNNING:
            self.due.add(msg.step_id)  # pausing: it waits for the resume
            return
        self._step(msg.step_id, StepEvent.WAKE)
        self._advance([msg.step_id])

    def on_pause(self, msg: PauseJob) -> None:
        """Start no new step and fire no retry; PAUSED once the running steps have ended."""
        if self.state.status is not JobStatus.RUNNING:
            return
        self._job(JobEvent.PAUSE, "pause_job")
        self.services.resources.forget(self.urn)
        for child_id in self.subjobs.values():  # resumed by this job's next JobActor
            retell(self.manager, PauseJob(child_id))
        self._pause_if_quiet()

    def on_resume(self, msg: ResumeJob) -> None:
        """Go on where it stopped (the job was still pausing)."""
        if self.state.status is JobStatus.PAUSED:
            # Paused and ending already: the manager, which has our JobFinished
            # before this, queues the job again.
            retell(self.manager, msg)
            return
        if self.state.status is not JobStatus.PAUSING:
            return
        self._job(JobEvent.RESUME, "resume_job")
        self._publish(self.services.publish, Event(EventKind.JOB_RESUMED, self.job_id))
        for step_id in sorted(self.due):
            if self.steps[step_id].status is StepStatus.RETRY_WAIT:
                self._step(step_id, StepEvent.WAKE, "job resumed")
        self.due.clear()
        self._advance(self.plan.order)

    def on_update(self, msg: UpdateJob) -> None:
        """A user's update to this job (``update_state``, ``transaction``): apply it now."""
        self.services.state.serve(msg.request, self.state, self._store_update)

    def _store_update(self, new: JobState, entries: Sequence[JournalEntry]) -> JobState:
        """Store a user's update and carry on from it: its steps are the job's steps now.

        A step the user ended (SKIPPED, say) skips the steps that need it; one
        made READY or PENDING runs when it can.
        """
        self._refuse_owned_changes(new)
        stored = self.services.state.save(new, entries)
        before = self.steps
        self.state = self.base = stored
        self.steps = dict(stored.steps)
        self.outputs = _outputs(self.steps)
        self.open = sum(s.status not in _ENDED for s in self.steps.values())
        self.ready = {sid: None for sid in self.ready if self.steps[sid].status is _READY}
        self.due = {sid for sid in self.due if self.steps[sid].status is StepStatus.RETRY_WAIT}
        self.waiting = {sid: None for sid in self.waiting if self.steps[sid].status is _WAITING}
        if self.tolerant:
            self.missed = _missed(self.steps)
        for sid, step in self.steps.items():
            ended = step.status in _ENDED and before[sid].status not in _ENDED
            if ended and step.status is not _SUCCEEDED:  # one made SUCCEEDED feeds what needs it
                self._skip_after(sid)
        self._take_signals()  # a signal sent to the job (engine.jobs.signal) comes this way
        self._advance(self.plan.order)
        return self.state

    def _refuse_owned_changes(self, new: JobState) -> None:
        """The job's status and its running steps change by commands and outcomes only."""
        if new.status is not self.state.status:
            raise InvalidTransition(
                f"job {self.job_id} (running)",
                self.state.status.value,
                f"-> {new.status.value} by update_state",
                ("pause_job", "resume_job", "cancel_job"),
            )
        for step_id in self.children:
            if new.steps[step_id] != self.steps[step_id]:
                raise InvalidTransition(
                    f"step {step_id!r} of job {self.job_id}",
                    "RUNNING",
                    "a change by update_state",
                    ("its attempt's end", "cancel_job"),
                )

    def _pause_if_quiet(self) -> None:
        """PAUSED when nothing runs any more: this actor ends, the job keeps its place."""
        if self.state.status is not JobStatus.PAUSING or self.children:
            self._save()
            return
        self._give_back_all()
        self._job(JobEvent.PAUSED, "no step running")
        self._save()
        self.services.publish(Event(EventKind.JOB_PAUSED, self.job_id))
        self._tell_finished(self.state.status.value)
        self.stop()

    def _retry_delay(self, step_id: str, error: ErrorInfo) -> float | None:
        """Seconds until the next attempt, or ``None`` when the step must fail now."""
        policy = self._settings(step_id).retry
        delay = retry_delay(policy, len(self.steps[step_id].attempts), error, self.random)
        if delay is None:
            return None
        deadline = self.deadlines.get(step_id)
        if deadline is not None and self.services.clock.now() + delay >= deadline:
            return None  # the next attempt could not even start within total_timeout
        return delay

    def _settings(self, step_id: str) -> StepSettings:
        """What a step's attempts run with: its spec over its component's definition.

        Read once per job and step, at its first launch: a component registered
        again meanwhile does not change a job that has started using it.
        """
        settings = self.settings.get(step_id)
        if settings is None:
            if step_id in self.item_of:  # an item runs as its map step says
                settings = self.settings[step_id] = self._settings(self.item_of[step_id][0])
                return settings
            spec = self.plan.step(step_id)
            try:
                definition = self.services.registry.lookup(COMPONENT, spec.component).definition
            except LookupError:
                definition = None  # the StepActor reports the missing component
            if not isinstance(definition, ComponentDefinition):
                definition = NO_DEFINITION
            settings = self.settings[step_id] = merged_settings(spec, definition)
        return settings

    def _skip_after(self, step_id: str) -> list[str]:
        """SKIP every step that needs ``step_id``, directly or not.

        A step with a default for every input that reads a skipped step is
        not skipped: it is returned, to run when its other dependencies are done.
        """
        todo = [(step_id, sid) for sid in self.plan.dependants[step_id]]
        runs_on = []
        while todo:
            missed, sid = todo.pop()
            if self.steps[sid].status not in (StepStatus.PENDING, StepStatus.READY):
                continue
            if missed in self.plan.tolerates.get(sid, ()):
                runs_on.append(sid)
                continue
            self._step(sid, StepEvent.SKIP, f"{missed!r} did not succeed")
            todo.extend((sid, d) for d in self.plan.dependants[sid])
        return runs_on

    def on_step_cancelled(self, msg: StepCancelled) -> None:
        """Record a cancelled attempt; the job is cancelled once none runs."""
        closed = self._close_attempt(msg.step_id, msg.attempt, time.time(), None)
        if closed is None:
            return
        self._step(msg.step_id, StepEvent.CANCEL, "job cancelled", attempts=closed)
        self._finish_cancel_if_quiet()

    def on_cancel(self, msg: CancelJob) -> None:
        """Cancel every running step; the job ends CANCELLED when they have stopped.

        A second, forced cancel while cancelling cuts the grace period short.
        One that crossed the job's end is dropped (the end won); one that
        crossed its pause goes back to the manager, which cancels a paused job.
        """
        if self.state.status.is_terminal:
            return
        if self.state.status is JobStatus.PAUSED:
            retell(self.manager, msg)
            return
        if self.state.status is not JobStatus.CANCELLING:
            self._job(JobEvent.CANCEL, "cancel_job")
            self.services.resources.forget(self.urn)
        elif not msg.force:
            return
        self._cancel_idle_steps()
        for step_id, ref in self.children.items():
            attempt = len(self.steps[step_id].attempts)
            ref.tell(encode(CancelStep(self.job_id, step_id, attempt, msg.force)))
        for child_id in self.subjobs.values():  # a child job ends CANCELLED, then tells us
            retell(self.manager, CancelJob(child_id, msg.force))
        self._finish_cancel_if_quiet()

    def _cancel_children(self, *, force: bool) -> None:
        for step_id, ref in self.children.items():
            attempt = len(self.steps[step_id].attempts)
            tell_quietly(ref, encode(CancelStep(self.job_id, step_id, attempt, force)))
        self.children.clear()

    # -- the flow ----------------------------------------------------------

    def _advance(self, candidates: tuple[str, ...] | list[str]) -> None:
        """Start the candidates that are ready and fit in the resources, then save.

        Steps whose dependencies are done but that find no room stay READY; the
        resources tell this actor when something was given back. When every
        step has ended, the job ends.
        """
        steps = self.steps
        fresh: list[str] = []
        more: list[str] = []  # steps a skip or an item lets run next
        failure = None
        dynamic, item_of = self.plan.dynamic, self.item_of
        for sid in itertools.chain(candidates, more):
            status = steps[sid].status
            if sid in dynamic:
                failure = self._dynamic(sid, status, more, fresh)
                if failure is not None:
                    break
            elif status is _PENDING:
                if sid in item_of or self.plan.ready(sid, self.outputs, self.missed):
                    self.ready[sid] = None  # moved to READY below, or to RUNNING at once
                    fresh.append(sid)
            elif status is _READY:
                self.ready[sid] = None  # woken from a retry wait, or recovered
        if failure is not None:
            self._fail(failure)
            return
        runs = []
        launching = self.state.status is _JOB_RUNNING
        while launching and self.ready:
            sid = next(iter(self.ready))  # the oldest; no copy of a long queue per result
            settings = self._settings(sid)
            need = settings.need
            if not self.services.resources.try_acquire(need, self.urn):
                # First come, first served within a job, and O(1) per release:
                # the steps behind this one wait too.
                self.services.resources.wait(self.urn, self._on_free, need)
                break
            del self.ready[sid]
            self.held[sid] = need
            run = self._prepare(sid, settings)
            if run is not None:
                runs.append(run)
        for sid in fresh:
            if self.steps[sid].status is _PENDING:
                self._step(sid, _BE_READY)
        if self.state.status is _JOB_CANCELLING:
            self._finish_cancel_if_quiet()  # an outcome crossed the cancel
            return
        if self.open == 0:
            self._complete()
            return
        if self.state.status is _JOB_PAUSING:
            self._pause_if_quiet()
            return
        self._save()
        for run in runs:
            self._launch(run)
        for start in self.starting:  # after the save: a crash before it leaves no orphan
            tell_quietly(self.manager, encode(start))
        self.starting.clear()

    def _dynamic(
        self, sid: str, status: StepStatus, more: list[str], fresh: list[str]
    ) -> ErrorInfo | None:
        """A candidate that decides at run time: a condition, a map, a wait, a child job.

        Returns the job's error when one of them fails it.
        """
        spec = self.plan.specs[sid]
        if status is _PENDING:
            if not self.plan.ready(sid, self.outputs, self.missed):
                return None
            if spec.when is not None:
                holds, failure = self._condition(sid, more)
                if not holds:
                    return failure
            if spec.for_each is not None:
                return self._expand(sid, more)
            if spec.wait_for is not None:
                more.extend(self._wait(sid))
                return None
            if spec.workflow is not None:
                return self._run_child(sid, more)
            self.ready[sid] = None  # a component step whose condition holds
            fresh.append(sid)
            return None
        if spec.for_each is not None:
            if sid not in self.maps and status in (_READY, _RUNNING):
                return self._expand(sid, more)  # taken over: recovered, or resumed
            return None
        if spec.workflow is not None:
            if sid not in self.subjobs and status in (_READY, _RUNNING):
                return self._run_child(sid, more)  # retried, or taken over
            return None
        if status is _READY:
            if spec.wait_for is not None:  # its wait timed out and is retried
                more.extend(self._wait(sid))
            else:
                self.ready[sid] = None  # woken from a retry wait, or recovered
        return None

    def _condition(self, step_id: str, more: list[str]) -> tuple[bool, ErrorInfo | None]:
        """Whether a step's ``when:`` holds; a false one SKIPs it (and what needs it).

        A condition that cannot be read FAILs the step; the job fails too
        (the error is returned) unless the step says ``on_failure: continue``.
        """
        spec = self.plan.specs[step_id]
        assert spec.when is not None
        try:
            holds = evaluate(parse_condition(spec.when), self._value_of)
        except (ConditionError, LookupError) as exc:
            error = ErrorInfo(FailureKind.CONDITION_FAILED, f"when: {exc}", step_id=step_id)
            self._step(step_id, StepEvent.FAIL, "when: could not be read", error=error)
            if spec.on_failure == "continue":
                more.extend(self._skip_after(step_id))
                return False, None
            return False, error
        if not holds:
            self._step(step_id, StepEvent.SKIP, f"when: {spec.when} is false")
            more.extend(self._skip_after(step_id))
        return holds, None

    # -- maps (for_each) -------------------------------------------------------

    def _spec_of(self, step_id: str) -> StepSpec:
        """A step's spec; an item's is its map step's."""
        spec = self.plan.specs.get(step_id)
        return spec if spec is not None else self.plan.specs[self.item_of[step_id][0]]

    def _item_inputs(self, step_id: str) -> dict[str, Any]:
        """An item's inputs: its map step's, with ``$item`` and ``$index`` its own."""
        map_id, index = self.item_of[step_id]
        value = self.maps[map_id].items[index]
        return self.plan.inputs_of(map_id, self.state.inputs, self.outputs, value, index)

    def _expand(self, step_id: str, more: list[str]) -> ErrorInfo | None:
        """Start a map step: read its list, add its items (once), let the first ones start.

        A job taken over after a restart or a pause finds its items in its
        steps: those that succeeded stay so, the others run.
        """
        spec = self.plan.specs[step_id]
        assert spec.for_each is not None
        try:
            items = self._value_of(parse_ref(spec.for_each) or Ref("inputs", ""))
        except LookupError as exc:
            items = exc
        if not isinstance(items, list):
            what = items if isinstance(items, LookupError) else f"a {type(items).__name__}"
            error = ErrorInfo(
                FailureKind.NOT_A_LIST,
                f"for_each: {spec.for_each} is {what}, not a list",
                step_id=step_id,
            )
            return self._map_failed(step_id, error, more)
        if self.steps[step_id].status is not _RUNNING:
            self._step(step_id, _START, f"{len(items)} items")
        run = self.maps[step_id] = MapRun(step_id, items, spec.max_parallel, self.steps)
        for index, sid in enumerate(run.ids):
            self.item_of[sid] = (step_id, index)
            if sid not in self.steps:
                self.steps[sid] = StepState(sid)
                self.added = True
                self.open += 1
        if run.done:
            more.extend(self._map_succeeded(run))
        else:
            more.extend(run.admit(self.steps))
        return None

    def _item_ended(self, item: str) -> list[str]:
        """An item ended: let the next start, or end the map step when it was the last."""
        run = self.maps.get(self.item_of[item][0])
        if run is None or self.steps[run.step_id].status is not _RUNNING:
            return []  # its map was cancelled or failed while this item ran
        run.item_ended()
        return self._map_succeeded(run) if run.done else run.admit(self.steps)

    def _map_succeeded(self, run: MapRun) -> list[str]:
        spec = self.plan.specs[run.step_id]
        output = map_output(run, self.steps, spec.on_item_failure)
        self._step(run.step_id, _SUCCEED, f"{len(run.ids)} items", output=output)
        del self.maps[run.step_id]
        return list(self.plan.dependants[run.step_id])

    def _item_failed(self, item: str, error: ErrorInfo) -> None:
        """An item failed for good: its map goes on (skip, collect) or fails (fail_job)."""
        map_id, index = self.item_of[item]
        if self.plan.specs[map_id].on_item_failure != "fail_job" or map_id not in self.maps:
            self._advance(self._item_ended(item))
            return
        self.maps[map_id].item_ended()
        failed = ErrorInfo(
            error.type, f"item {index} ({item}): {error.message}", error.traceback, map_id
        )
        more: list[str] = []
        failure = self._map_failed(map_id, failed, more)
        if failure is not None:
            self._fail(failure)
        else:
            self._advance(more)

    def _map_failed(self, step_id: str, error: ErrorInfo, more: list[str]) -> ErrorInfo | None:
        """FAIL a map step (and stop its other items); the job's error unless it continues."""
        run = self.maps.pop(step_id, None)
        if run is not None:
            self._stop_items(run)
        if self.steps[step_id].status is _READY:  # taken over: no READY -> FAILED move
            self._step(step_id, _START, "taken over")
        self._step(step_id, StepEvent.FAIL, error.message, error=error)
        if self.plan.specs[step_id].on_failure == "continue":
            more.extend(self._skip_after(step_id))
            return None
        return error

    def _stop_items(self, run: MapRun) -> None:
        """Cancel the items of a map that failed: their results no longer matter."""
        now = time.time()
        for sid in run.ids:
            status = self.steps[sid].status
            ref = self.children.pop(sid, None)
            if ref is not None:
                attempts = self.steps[sid].attempts
                tell_quietly(ref, encode(CancelStep(self.job_id, sid, len(attempts), False)))
                last = attempts[-1]
                closed = (*attempts[:-1], Attempt(last.number, last.started_at, now, None))
                self._give_back(sid)
                self._step(sid, StepEvent.CANCEL, "its map failed", attempts=closed)
            elif status in (StepStatus.PENDING, StepStatus.READY, StepStatus.RETRY_WAIT):
                self.ready.pop(sid, None)
                self._step(sid, StepEvent.CANCEL, "its map failed")

    # -- signals (wait_for) ---------------------------------------------------------

    def _wait(self, step_id: str) -> list[str]:
        """Start waiting for the step's signal, holding no thread; take one kept already."""
        spec = self.plan.specs[step_id]
        assert spec.wait_for is not None
        step = self.steps[step_id]
        attempt = Attempt(len(step.attempts) + 1, time.time())
        cause = f"waits for signal {spec.wait_for.signal!r}"
        self._step(step_id, StepEvent.WAIT, cause, attempts=(*step.attempts, attempt))
        self.waiting[step_id] = None
        self._arm(step_id)
        self._publish(
            self.services.events.publish_step,
            _STEP_STARTED,
            self.job_id,
            step_id,
            attempt.number,
            self._component_of(step_id),
            workflow=self.state.workflow.id,
        )
        return self._take_signals()

    def _arm(self, step_id: str) -> None:
        """Time the wait out at its timeout, counted from when it began (so across restarts)."""
        wait_for = self.plan.specs[step_id].wait_for
        if wait_for is None or wait_for.timeout is None:
            return
        attempt = self.steps[step_id].attempts[-1]
        left = max(attempt.started_at + wait_for.timeout - time.time(), 0.0)
        me, late = self.actor_ref, encode(WaitTimedOut(self.job_id, step_id, attempt.number))
        self.services.clock.call_later(left, lambda: tell_quietly(me, late))

    def _take_signals(self) -> list[str]:
        """Give each waiting step the oldest signal kept for it; return what may run next."""
        if not self.state.signals or not self.waiting:
            return []
        kept = {name: list(payloads) for name, payloads in self.state.signals.items()}
        more: list[str] = []
        for step_id in list(self.waiting):
            wait_for = self.plan.specs[step_id].wait_for
            assert wait_for is not None
            payloads = kept.get(wait_for.signal)
            if payloads:
                more += self._signalled(step_id, payloads.pop(0))
        self.state = attrs.evolve(self.state, signals={k: v for k, v in kept.items() if v})
        return more

    def _signalled(self, step_id: str, payload: Any) -> list[str]:
        """The step got its signal: the payload is its output."""
        del self.waiting[step_id]
        step = self.steps[step_id]
        last, now = step.attempts[-1], time.time()
        closed = (*step.attempts[:-1], Attempt(last.number, last.started_at, now, None))
        self._step(step_id, _SUCCEED, "signal", output=payload, attempts=closed)
        self._step_event(
            _STEP_SUCCEEDED, step_id, last.number, last.started_at, now, output=payload
        )
        return list(self.plan.dependants[step_id])

    def on_wait_timed_out(self, msg: WaitTimedOut) -> None:
        """No signal in time: the wait fails, and its retry policy may wait again."""
        step = self.steps.get(msg.step_id)
        if step is None or step.status is not _WAITING or len(step.attempts) != msg.attempt:
            return  # the signal came first, or the wait was cancelled
        wait_for = self.plan.specs[msg.step_id].wait_for
        assert wait_for is not None and wait_for.timeout is not None
        error = ErrorInfo(
            FailureKind.SIGNAL_TIMEOUT,
            f"no signal {wait_for.signal!r} within {wait_for.timeout:g} s",
            step_id=msg.step_id,
        )
        started = step.attempts[-1].started_at
        self.on_step_failed(
            StepFailed(self.job_id, msg.step_id, msg.attempt, error, started, time.time())
        )

    # -- sub-workflows (workflow:) ------------------------------------------------------

    def _run_child(self, step_id: str, more: list[str]) -> ErrorInfo | None:
        """Run the step's workflow as a child job; or take over the child it had.

        The child's id is stored with this job before the child is created, so
        a job taken over after a crash finds its child and never makes two.
        """
        step = self.steps[step_id]
        known = self.state.children.get(step_id)
        last = step.attempts[-1] if step.attempts else None
        interrupted = (
            last is not None
            and last.error is not None
            and (last.error.type == FailureKind.INTERRUPTED)
        )
        if known is not None and (step.status is _RUNNING or interrupted):
            self._adopt(step_id, known)
            return None
        spec = self.plan.specs[step_id]
        assert spec.workflow is not None
        try:
            inputs = self.plan.inputs_of(step_id, self.state.inputs, self.outputs)
        except LookupError as exc:
            error = ErrorInfo(FailureKind.UNRESOLVED_REFERENCE, str(exc), step_id=step_id)
            return self._step_failed_early(step_id, error, more)
        child_id = uuid.uuid4().hex
        attempt = Attempt(len(step.attempts) + 1, time.time())
        cause = f"child job {child_id}"
        self._step(step_id, _START, cause, attempts=(*step.attempts, attempt))
        self.state = attrs.evolve(self.state, children={**self.state.children, step_id: child_id})
        self.subjobs[step_id] = child_id
        self.starting.append(
            StartChild(child_id, spec.workflow, inputs, self.job_id, step_id, self.state.priority)
        )
        return None

    def _adopt(self, step_id: str, child_id: str) -> None:
        """Go on with a child started before a pause or a crash: wait for it, or settle now."""
        step = self.steps[step_id]
        if step.status is not _RUNNING:  # READY after a crash: the same child, a new attempt
            attempt = Attempt(len(step.attempts) + 1, time.time())
            cause = f"child job {child_id}, taken over"
            self._step(step_id, _START, cause, attempts=(*step.attempts, attempt))
        self.subjobs[step_id] = child_id
        child = self.services.state.find(child_id)
        if child is None:  # this job was stored, and then the engine stopped: start it now
            spec = self.plan.specs[step_id]
            assert spec.workflow is not None
            inputs = self.plan.inputs_of(step_id, self.state.inputs, self.outputs)
            self.starting.append(
                StartChild(
                    child_id, spec.workflow, inputs, self.job_id, step_id, self.state.priority
                )
            )
        elif child.status.is_terminal:
            tell_quietly(self.actor_ref, encode(ChildEnded(self.job_id, step_id, child_id)))
        elif child.status is JobStatus.PAUSED:  # paused with this job: resumed with it
            retell(self.manager, ResumeJob(child_id))

    def _step_failed_early(
        self, step_id: str, error: ErrorInfo, more: list[str]
    ) -> ErrorInfo | None:
        """FAIL a step that could not even start; the job's error unless it continues."""
        if self.steps[step_id].status is _READY:
            self._step(step_id, _START, "could not start")
        self._step(step_id, StepEvent.FAIL, error.message, error=error)
        if self.plan.specs[step_id].on_failure == "continue":
            more.extend(self._skip_after(step_id))
            return None
        return error

    def on_child_ended(self, msg: ChildEnded) -> None:
        """A step's child job has ended: its outputs, error or cancel are the step's."""
        if self.subjobs.get(msg.step_id) != msg.child_id:
            return  # an earlier child, or the step was settled already
        child = self.services.state.find(msg.child_id)
        if child is None or not child.status.is_terminal:
            return
        step = self.steps[msg.step_id]
        number = len(step.attempts)
        started = step.attempts[-1].started_at
        ended = child.finished_at or time.time()
        if child.status is JobStatus.COMPLETED:
            self.on_step_succeeded(
                StepSucceeded(
                    self.job_id, msg.step_id, number, child.outputs or {}, started, ended
                )
            )
        elif child.status is JobStatus.CANCELLED and self.state.status is JobStatus.CANCELLING:
            self.on_step_cancelled(StepCancelled(self.job_id, msg.step_id, number))
        else:
            self.on_step_failed(
                StepFailed(
                    self.job_id,
                    msg.step_id,
                    number,
                    _child_error(child, msg.step_id),
                    started,
                    ended,
                )
            )

    def _component_of(self, step_id: str) -> str:
        spec = self._spec_of(step_id)
        if spec.wait_for is not None:
            return f"signal:{spec.wait_for.signal}"
        if spec.workflow is not None:
            return f"workflow:{spec.workflow}"
        return spec.component

    def _value_of(self, ref: Ref) -> Any:
        return lookup(ref, self.state.inputs, self.outputs)

    def _on_free(self) -> None:
        tell_quietly(self.actor_ref, encode(ResourcesFree(self.job_id)))

    def on_resources_free(self, msg: ResourcesFree) -> None:
        """Room this job waited for is free: try the READY steps again, or pass it on."""
        if self.state.status is _JOB_RUNNING and self.ready:
            self._advance([])
        else:
            self.services.resources.forget(self.urn)

    def _give_back(self, step_id: str) -> None:
        need = self.held.pop(step_id, None)
        if need is not None:
            # Offered to other jobs once this message is handled (on_receive): this
            # job's own next steps, which _advance starts, take it first.
            resources = self.services.resources
            resources.give_back(need)
            if resources.others_wait(self.urn):  # else nobody to offer it to: the common case
                self.owes_offer = True

    def _offer(self) -> None:
        if self.owes_offer:
            self.owes_offer = False
            self.services.resources.offer()

    def _give_back_all(self) -> None:
        self.services.resources.forget(self.urn)
        for step_id in list(self.held):
            self._give_back(step_id)
        self._offer()

    def _prepare(self, step_id: str, settings: StepSettings) -> RunStep | None:
        """Move a step to RUNNING with a new attempt and make its RunStep.

        ``None`` if its inputs fail. The attempt runs with the step's time
        limits, else its component's.
        """
        spec = self.plan.specs.get(step_id) or self._spec_of(step_id)
        step = self.steps[step_id]
        number = len(step.attempts) + 1
        attempt = Attempt(number, time.time())
        # From PENDING (it never waited for a slot) or READY.
        self._step(step_id, _START, attempts=(*step.attempts, attempt))
        try:
            if step_id in self.item_of:
                inputs = self._item_inputs(step_id)
            else:
                inputs = self.plan.inputs_of(step_id, self.state.inputs, self.outputs)
        except LookupError as exc:
            error = ErrorInfo(FailureKind.UNRESOLVED_REFERENCE, str(exc), step_id=step_id)
            failed = StepFailed(
                self.job_id, step_id, number, error, attempt.started_at, time.time()
            )
            self.actor_ref.tell(encode(failed))
            return None
        timeout, total = settings.timeout, settings.total_timeout
        if total is not None:
            now = self.services.clock.now()
            deadline = self.deadlines.setdefault(step_id, now + total)
            timeout = min(timeout or total, max(deadline - now, 0.0))
        return RunStep(
            self.job_id,
            step_id,
            number,
            spec.component,
            inputs,
            self.urn,
            timeout,
            settings.heartbeat_timeout,
            self._placement(spec, settings) if settings.elsewhere else None,
        )

    def _placement(self, spec: StepSpec, settings: StepSettings) -> dict[str, Any]:
        """Where a step on a named executor runs, and with what (see ``RunStep.placement``)."""
        return {
            "executor": spec.executor or "",
            "priority": self.state.priority,
            "resources": settings.placed,
        }

    def _launch(self, run: RunStep) -> None:
        child = self.services.steps.acquire(self._new_step_actor)
        self.children[run.step_id] = child
        self.services.events.publish_step(
            _STEP_STARTED,
            self.job_id,
            run.step_id,
            run.attempt,
            run.component,
            workflow=self.state.workflow.id,
        )
        child.tell(encode(run))  # last: the StepActor's thread wakes wanting the GIL

    def _new_step_actor(self) -> pykka.ActorRef[Any]:
        return StepActor.start(self.services)

    def _step_event(
        self,
        kind: EventKind,
        step_id: str,
        attempt: int,
        started: float,
        finished: float,
        **extra: Any,
    ) -> None:
        """Publish a step's end with its component and timings (for metrics)."""
        launched = self.steps[step_id].attempts[attempt - 1].started_at
        ran = started > 0  # 0: it never reached its code (input error, no component)
        events = self.services.events
        spec = self.plan.specs.get(step_id)
        component = spec.component if spec is not None and spec.component else ""
        args = (
            kind,
            self.job_id,
            step_id,
            attempt,
            component or self._component_of(step_id),
            max(finished - started, 0.0) if ran else None,
            max(started - launched, 0.0) if ran else None,
        )
        workflow = self.state.workflow.id
        if self.pending and events.watched:  # see _publish
            self.held_events.append(
                functools.partial(events.publish_step, *args, workflow=workflow, **extra)
            )
        else:
            events.publish_step(*args, workflow=workflow, **extra)

    def _publish(self, publish: Callable[..., None], *args: Any, **extra: Any) -> None:
        """Publish now, or once the changes not yet stored are stored.

        A subscriber that reads the job on an event finds what the event reports.
        """
        if self.pending and self.services.events.watched:
            self.held_events.append(functools.partial(publish, *args, **extra))
        else:
            publish(*args, **extra)

    def _complete(self) -> None:
        outputs = {sid: s.output for sid, s in self.steps.items()}
        try:
            result = resolve(self.state.workflow.outputs, self.state.inputs, outputs)
        except LookupError as exc:
            self._fail(ErrorInfo(FailureKind.UNRESOLVED_REFERENCE, f"workflow outputs: {exc}"))
            return
        self._end(JobEvent.COMPLETE, outputs=result)

    def _fail(self, error: ErrorInfo) -> None:
        self._cancel_idle_steps()
        self._cancel_running("job failed")
        self._end(JobEvent.FAIL, error=error)

    def _cancel_running(self, cause: str) -> None:
        """Stop the running attempts: their results no longer matter, so they end CANCELLED."""
        running = [*self.children, *self.subjobs]
        self._cancel_children(force=False)
        for child_id in self.subjobs.values():
            retell(self.manager, CancelJob(child_id))
        self.subjobs.clear()
        now = time.time()
        for step_id in running:
            attempts = self.steps[step_id].attempts
            last = attempts[-1]
            closed = (*attempts[:-1], Attempt(last.number, last.started_at, now, None))
            self._step(step_id, StepEvent.CANCEL, cause, attempts=closed)

    def _finish_cancel_if_quiet(self) -> None:
        """CANCELLED once no attempt runs; COMPLETED if every step's outcome beat the cancel."""
        if self.state.status is not JobStatus.CANCELLING or self.children or self.subjobs:
            self._save()
        elif all(s.status is _SUCCEEDED for s in self.steps.values()):
            self._complete()
        else:
            self._end(JobEvent.CANCELLED)

    def _cancel_idle_steps(self) -> None:
        for step in list(self.steps.values()):
            idle = step.status in _IDLE
            if idle or (step.status is _RUNNING and step.step_id in self.maps):
                self._step(step.step_id, StepEvent.CANCEL, f"job {self.state.status.value}")

    def _end(self, event: JobEvent, **changes: Any) -> None:
        self._give_back_all()
        self._job(event, finished_at=time.time(), **changes)
        self._save()
        status = self.state.status
        self.services.publish(
            Event(
                _JOB_EVENT_KINDS[status],
                self.job_id,
                output=self.state.outputs,
                error=self.state.error,
            )
        )
        self._tell_finished(status.value)
        self.stop()

    # -- state changes -----------------------------------------------------------

    def _job(self, event: JobEvent, cause: str = "", **changes: Any) -> None:
        self.state, entry = move_job(self.state, event, cause, **changes)
        self.pending.append(entry)

    def _step(self, step_id: str, event: StepEvent, cause: str = "", **changes: Any) -> None:
        step = self.steps[step_id]
        was = step.status
        step, entry = step_after(self.job_id, step, event, cause, **changes)
        self.steps[step_id] = self.moved[step_id] = step
        self.pending.append(entry)
        now = step.status
        # Kept as we go, not recounted: a 1,000-step job must not pay O(n) per step.
        self.open += (was in _ENDED) - (now in _ENDED)
        if now is _SUCCEEDED:
            self.outputs[step_id] = step.output
        elif self.tolerant:
            if now is _SKIPPED or now is _FAILED:
                self.missed.add(step_id)
            elif was is _SKIPPED or was is _FAILED:
                self.missed.discard(step_id)  # reset by a job retry

    def _close_attempt(
        self,
        step_id: str,
        attempt: int,
        finished_at: float,
        error: ErrorInfo | None,
        worker: str = "",
    ) -> tuple[Attempt, ...] | None:
        """The step's attempts with the live one ended; ``None`` if the message is late.

        The caller stores them with the step's next status: one new state, not two.
        """
        step = self.steps.get(step_id)
        live = (
            not self.state.status.is_terminal
            and step is not None
            and (step.status is _RUNNING or step.status is _WAITING)
            and len(step.attempts) == attempt
        )
        if not live:
            log.debug("job %s: dropped a late message for step %s", self.job_id, step_id)
            return None
        assert step is not None
        self.children.pop(step_id, None)
        if self.waiting:
            self.waiting.pop(step_id, None)
        if self.subjobs:
            self.subjobs.pop(step_id, None)
        self._give_back(step_id)
        live_attempt = step.attempts[-1]
        last = Attempt(
            live_attempt.number, live_attempt.started_at, finished_at, error, worker or None
        )
        return (*step.attempts[:-1], last)

    def _save(self) -> None:
        """Store the state with its journal entries (this actor is the job's one writer)."""
        if not self.pending:
            return  # every change comes with a journal entry: nothing moved
        # A new version of the stored steps that shares all but the moved ones
        # (a map's new items make a new one, once).
        steps = step_map(self.steps) if self.added else self.state.steps.updated(self.moved)
        self.added = False
        self.state = self.base = self.services.state.save(self.state, self.pending, steps=steps)
        self.pending = []
        self.moved = {}
        if self.held_events:
            held, self.held_events = self.held_events, []
            for publish in held:
                publish()


# A step event's extra fields when none is set: a plain step passes no worker=None.
_NO_EXTRA: dict[str, Any] = {}

# Members read on every step, as module globals: on Python 3.11 a read through
# the Enum class takes the slow attribute path (docs/performance.md).
_PENDING, _READY, _RUNNING, _SUCCEEDED, _SKIPPED, _FAILED, _WAITING = (
    StepStatus.PENDING,
    StepStatus.READY,
    StepStatus.RUNNING,
    StepStatus.SUCCEEDED,
    StepStatus.SKIPPED,
    StepStatus.FAILED,
    StepStatus.WAITING,
)
_IDLE = frozenset(
    {StepStatus.PENDING, StepStatus.READY, StepStatus.RETRY_WAIT, StepStatus.WAITING}
)
_JOB_RUNNING, _JOB_PAUSING, _JOB_CANCELLING = (
    JobStatus.RUNNING,
    JobStatus.PAUSING,
    JobStatus.CANCELLING,
)
_SUCCEED, _START, _BE_READY = StepEvent.SUCCEED, StepEvent.START, StepEvent.READY
_STEP_STARTED, _STEP_SUCCEEDED = EventKind.STEP_STARTED, EventKind.STEP_SUCCEEDED
_ENDED = frozenset(status for status in StepStatus if status.is_terminal)  # no call per test
_TIMEOUTS = frozenset({FailureKind.STEP_TIMEOUT, FailureKind.STEP_ABANDONED})


def _outputs(steps: Mapping[str, StepState]) -> dict[str, Any]:
    """The outputs of the SUCCEEDED steps: what ``$steps.ID.output`` reads."""
    return {sid: s.output for sid, s in steps.items() if s.status is StepStatus.SUCCEEDED}


def _missed(steps: Mapping[str, StepState]) -> set[str]:
    """The steps that ended without an output: a step's ``defaults`` stand in for them."""
    return {sid for sid, s in steps.items() if s.status in (StepStatus.SKIPPED, StepStatus.FAILED)}


def _child_error(child: JobState, step_id: str) -> ErrorInfo:
    """The error a step gets from its child job: the child's, naming the child and its step."""
    if child.status is JobStatus.CANCELLED:
        return ErrorInfo(
            FailureKind.CHILD_CANCELLED, f"child job {child.job_id} was cancelled", step_id=step_id
        )
    error = child.error or ErrorInfo(FailureKind.CHILD_FAILED, "no error recorded")
    where = f" at step {error.step_id!r}" if error.step_id else ""
    return ErrorInfo(
        error.type,
        f"child job {child.job_id} failed{where}: {error.message}",
        error.traceback,
        step_id,
    )
