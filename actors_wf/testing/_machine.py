"""``JobLifecycleMachine``: a hypothesis state machine over the jobs of your workflows."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from .._core._errors import InvalidTransition, JobNotFound
from .._core._kinds import EventKind
from .._core._records import JobState
from .._core._spec import WorkflowSpec
from .._core._status import JobStatus, StepStatus
from .._engine import Engine
from .._observe._events import Event
from .._runtime._clock import ManualClock
from .._runtime._faults import DelayOutcome, Fail
from ._assertions import assert_journal_replays, assert_transition_allowed
from ._engine import Components, SequentialIds, WorkflowSource, engine
from ._oracle import _backing_off
from .strategies import inputs_for

# Statuses in which nothing but a command changes a job: its journal can be read beside it.
_STILL = frozenset({JobStatus.CREATED, JobStatus.PAUSED}) | {s for s in JobStatus if s.is_terminal}
# Seconds of real time an invariant waits for what the engine does by itself.
SETTLE = 10.0


class JobLifecycleMachine(RuleBasedStateMachine):
    """Random commands, faults, time and restarts on jobs of your workflows; checked after each.

    Subclass it, say what to run, add invariants of your own, and let
    pytest collect the test case hypothesis makes of it::

        class MyJobs(testing.JobLifecycleMachine):
            components = {"etl.fetch": fetch, "etl.load": load}
            workflows = ["flows/etl.yaml"]

            @invariant()
            def loads_only_after_fetch(self):
                ...  # self.engine is the running engine, self.jobs the job ids

        TestMyJobs = MyJobs.TestCase

    The rules create jobs of the workflows (inputs drawn to fit them), start,
    pause, resume, cancel (soft and forced), retry and purge them, make a
    component's next attempt fail, advance the engine's
    :class:`~actors_wf.ManualClock`, and, with ``store = "sqlite"``, close
    the engine and start a new one on the same store that recovers the jobs.

    The invariants, after every rule: each job's status is reachable from
    the one seen before through the transition table; a job at rest replays
    from its journal; a COMPLETED or CANCELLED job never changes; no step
    succeeds twice; and once no job runs, every resource is back.

    Attributes:
        components: as :func:`~actors_wf.testing.engine` takes them.
        workflows: as :func:`~actors_wf.testing.engine` takes them.
        store: ``"memory"`` or ``"sqlite"`` (a new file per example).
        max_jobs: how many jobs an example creates at most.
        engine_options: more keywords for the :class:`~actors_wf.Engine`.
        engine: the running engine.
        jobs: the ids of the jobs created (and not purged), in order.
    """

    components: ClassVar[Components] = {}
    workflows: ClassVar[list[WorkflowSource]] = []
    store: ClassVar[str] = "memory"
    max_jobs: ClassVar[int] = 4
    engine_options: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self._tmp = tempfile.TemporaryDirectory(prefix="actors_wf_machine_")
        self._path = Path(self._tmp.name) / "jobs.db"
        self._ids = SequentialIds()
        self._engine_stack: contextlib.ExitStack | None = None
        self._moved = threading.Condition()  # an event, or an outcome held back
        self._armed: set[tuple[str, str, int]] = set()  # (job, step, attempt) backing off
        self._holds: dict[str, DelayOutcome] = {}
        self.jobs: list[str] = []
        self._seen: dict[str, JobStatus] = {}
        self._final: dict[str, JobState] = {}
        self.workflow_ids: list[str] = []
        self.engine = self._start(recover=False)

    def _start(self, *, recover: bool) -> Engine:
        stack = contextlib.ExitStack()
        store = str(self._path) if self.store == "sqlite" else "memory"
        self._engine_stack = stack
        options = {"store": store, "ids": self._ids, **self.engine_options}
        self.engine = stack.enter_context(engine(self.components, self.workflows, **options))
        stack.callback(self.engine.subscribe(self._on_event))
        self.workflow_ids = sorted(e.component_id for e in self.engine.registry.list("workflow"))
        if recover:  # once the components are registered: a job needs them to resume
            self.engine.recover()
        return self.engine

    def teardown(self) -> None:
        """Undo the faults, close the engine (checked for leaks), remove the store."""
        try:
            self._stack.close()
            if self._engine_stack is not None:
                self._engine_stack.close()
        finally:
            self._tmp.cleanup()

    # -- coming to rest ------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        with self._moved:
            if event.kind is EventKind.STEP_RETRYING and event.step_id is not None:
                self._armed.add((event.job_id, event.step_id, event.attempt or 0))
            self._moved.notify_all()

    def _notify(self) -> None:
        with self._moved:
            self._moved.notify_all()

    def _at_rest(self, job: JobState) -> bool:
        """Nothing moves the job but a rule: it is still, or waits on held outcomes or slots."""
        if job.status in _STILL:
            return True
        if job.status is JobStatus.QUEUED:  # it waits for a job slot the others hold
            limit: int = self.engine_options.get("max_concurrent_jobs", 100)
            active = (JobStatus.RUNNING, JobStatus.PAUSING, JobStatus.CANCELLING)
            return sum(j.status in active for j in self.states().values()) >= limit
        statuses = {sid: step.status for sid, step in job.steps.items()}
        running = {sid for sid, status in statuses.items() if status is StepStatus.RUNNING}
        held = {sid for hold in self._holds.values() for sid in hold.held_steps(job.job_id)}
        if not running <= held:
            return False
        resources = self.engine.resources
        full = any(used >= resources.capacity[n] for n, used in resources.in_use.items())
        # For a slot, if one is full; a pausing or cancelling job launches nothing more.
        waiting = job.status is JobStatus.RUNNING and StepStatus.READY in statuses.values()
        return bool(running) and (full or not waiting)

    def _backoff_due(self, job: JobState) -> bool:
        armed = {(step, attempt) for j, step, attempt in self._armed if j == job.job_id}
        return _backing_off(job, armed)

    def _settle(self) -> None:
        """Wait until every job is at rest, firing retry backoffs on the ManualClock.

        After every rule: what a rule did has fully happened before the next one
        (or the invariants) look, so an example replays the same.
        """
        clock = self.engine.clock
        deadline = time.monotonic() + SETTLE
        while True:
            with self._moved:
                pending = clock.pending if isinstance(clock, ManualClock) else []
                jobs = self.states().values()
                moving = [job for job in jobs if not self._at_rest(job)]
                if not moving:
                    return
                due = pending if any(self._backoff_due(job) for job in moving) else []
                if not due:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        shown = "\n".join(self.engine.state.describe(j.job_id) for j in moving)
                        raise AssertionError(f"jobs did not come to rest in {SETTLE:g}s:\n{shown}")
                    self._moved.wait(left)
                    continue
            assert isinstance(clock, ManualClock)
            clock.advance(max(0.0, due[0] - clock.now()))

    # -- rules -------------------------------------------------------------------------

    @initialize()
    def _has_workflows(self) -> None:
        if not self.workflow_ids:
            raise ValueError(f"{type(self).__name__}.workflows names no workflow to run")

    @rule(data=st.data(), start=st.booleans())
    def create(self, data: st.DataObject, start: bool) -> None:
        """Create a job of one of the workflows, with inputs drawn to fit it; maybe start it."""
        workflow_id = data.draw(st.sampled_from(self.workflow_ids), label="workflow")
        spec = self.engine.registry.lookup("workflow", workflow_id).definition
        assert isinstance(spec, WorkflowSpec)
        inputs = data.draw(inputs_for(spec), label="inputs")
        if len(self.jobs) >= self.max_jobs:  # after the draws: an example replays the same
            return
        job_id = self.engine.jobs_sync.create_job(workflow_id, inputs, start=start)
        self.jobs.append(job_id)
        self._settle()

    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        """Start a job."""
        self._send("start_job", data)

    @rule(data=st.data())
    def pause(self, data: st.DataObject) -> None:
        """Pause a job."""
        self._send("pause_job", data)

    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        """Resume a job."""
        self._send("resume_job", data)

    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """Retry a job."""
        self._send("retry_job", data)

    @rule(data=st.data(), force=st.booleans())
    def cancel(self, data: st.DataObject, force: bool) -> None:
        """Cancel a job, gently or by force."""
        self._send("cancel_job", data, force=force)

    def _send(self, command: str, data: st.DataObject, **options: Any) -> None:
        """Send a command to a job; a refusal must name the commands that were allowed."""
        job_id = self._job(data)
        if job_id is None:
            return
        try:
            getattr(self.engine.jobs_sync, command)(job_id, **options)
        except InvalidTransition as exc:
            assert command not in (exc.allowed or ()), f"{command} refused, yet allowed: {exc}"
        self._settle()

    def _job(self, data: st.DataObject) -> str | None:
        """One of the jobs; drawn the same way whatever the jobs are, so examples replay."""
        index = data.draw(st.integers(0, self.max_jobs - 1), label="job")
        return self.jobs[index % len(self.jobs)] if self.jobs else None

    @rule()
    def purge(self) -> None:
        """Delete the finished jobs."""
        self.engine.state.purge()
        for job_id in list(self.jobs):
            if self.engine.state.find(job_id) is None:
                self.jobs.remove(job_id)
                self._final.pop(job_id, None)
                self._seen.pop(job_id, None)

    @rule(data=st.data())
    def fail_next_attempt(self, data: st.DataObject) -> None:
        """The next attempt of one of the workflows' components raises (its retries apply)."""
        component = data.draw(st.sampled_from(self._used()), label="component")
        self._stack.enter_context(Fail(component, 1, RuntimeError("injected by the machine")))

    @rule(data=st.data())
    def hold(self, data: st.DataObject) -> None:
        """Hold back the outcomes of a component's attempts: its steps stay RUNNING."""
        component = data.draw(st.sampled_from(self._used()), label="component")
        if component not in self._holds:
            held = DelayOutcome(component, None, on_hold=self._notify)
            self._holds[component] = self._stack.enter_context(held)

    @rule()
    def release(self) -> None:
        """Let every held outcome through and hold no more."""
        holds, self._holds = self._holds, {}
        for held in holds.values():
            held.__exit__(None, None, None)
        self._settle()

    @rule(seconds=st.sampled_from([0.5, 2.0, 30.0, 600.0]))
    def advance_clock(self, seconds: float) -> None:
        """Move the engine's clock: retry backoffs, timeouts and grace periods fall due."""
        clock = self.engine.clock
        if isinstance(clock, ManualClock):
            clock.advance(seconds)
        self._settle()

    @precondition(lambda self: self.store == "sqlite")
    @rule()
    def restart(self) -> None:
        """Close the engine and start another on the same store, which recovers the jobs."""
        assert self._engine_stack is not None
        self._engine_stack.close()
        self._engine_stack = None
        self._start(recover=True)
        self._settle()

    def _used(self) -> list[str]:
        """The components the workflows run."""
        found: set[str] = set()
        for workflow_id in self.workflow_ids:
            spec = self.engine.registry.lookup("workflow", workflow_id).definition
            assert isinstance(spec, WorkflowSpec)
            found.update(step.component for step in spec.steps)
        return sorted(found)

    # -- invariants --------------------------------------------------------------------

    def states(self) -> dict[str, JobState]:
        """The jobs of :attr:`jobs` as stored now, by id (for invariants of your own)."""
        found = {}
        for job_id in self.jobs:
            with contextlib.suppress(JobNotFound):
                found[job_id] = self.engine.state.get(job_id)
        return found

    @invariant()
    def statuses_follow_the_transition_table(self) -> None:
        """Each job went from the status seen last to its status now by the table's moves."""
        for job_id, job in self.states().items():
            assert_transition_allowed(self._seen.get(job_id, JobStatus.CREATED), job.status)
            self._seen[job_id] = job.status

    @invariant()
    def jobs_at_rest_replay_from_their_journal(self) -> None:
        """A job nothing moves but a command (created, paused, ended) replays from its journal."""
        for job_id, job in self.states().items():
            if job.status in _STILL:
                assert_journal_replays(self.engine.state, job_id)

    @invariant()
    def finished_jobs_never_change(self) -> None:
        """A COMPLETED or CANCELLED job stays as it ended (FAILED ones may be retried)."""
        for job_id, job in self.states().items():
            if job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED):
                before = self._final.setdefault(job_id, job)
                assert before == job, f"job {job_id} changed after it ended"

    @invariant()
    def no_step_succeeds_twice(self) -> None:
        """A step that succeeded is never run again: not by a retry, a resume or a recovery."""
        for job_id in self.states():
            succeeded: set[str] = set()
            for entry in self.engine.state.history(job_id):
                if entry.step_id is None or entry.to_status != StepStatus.SUCCEEDED.value:
                    continue
                assert entry.step_id not in succeeded, (
                    f"step {entry.step_id!r} of job {job_id} succeeded twice"
                )
                succeeded.add(entry.step_id)

    @invariant()
    def resources_are_back_when_nothing_runs(self) -> None:
        """Once every job is at rest, no step slot or resource stays taken."""
        if all(job.status in _STILL for job in self.states().values()):
            resources = self.engine.resources
            assert resources.wait_idle(SETTLE), f"resources still taken: {resources.in_use}"


# A small budget: each example starts and stops an engine.
JobLifecycleMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None
)
