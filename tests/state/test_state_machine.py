"""A state machine over the state layer: random job and step events in random orders."""

import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors_wf import InvalidTransition, JobStatus, Snapshot, StateManager
from actors_wf._core._status import JOB_TRANSITIONS, STEP_TRANSITIONS, JobEvent, StepEvent
from actors_wf._state._sqlite import SQLiteStore
from actors_wf._state._transitions import move_job, move_step, replay
from tests.support.workflows import new_job

JOBS = ("j0", "j1", "j2")
STEPS = ("a", "b", "c")
# Leaving a terminal status (retry_job) is the job manager's; this machine
# checks that nothing else ever changes a finished job.
EVENTS = [e for e in JobEvent if e is not JobEvent.RETRY]


class JobStates(RuleBasedStateMachine):
    store_kind = "memory"

    def __init__(self):
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        store = SQLiteStore(Path(self.tmp.name) / "j.db") if self.store_kind == "sqlite" else None
        self.manager = StateManager(store)
        for job_id in JOBS:
            self.manager.save(new_job(job_id, STEPS))
        self.finished: dict[str, object] = {}
        self.snapshots: list[Snapshot] = []

    def teardown(self):
        self.manager.close()
        self.tmp.cleanup()

    def _apply(self, job_id, move):
        before = self.manager.get(job_id)
        try:
            after, entry = move(before)
            self.manager.save(after, [entry])
        except InvalidTransition as exc:
            assert self.manager.get(job_id) == before, "a refused change left a trace"
            assert exc.allowed is not None
            return False
        return True

    @rule(job=st.sampled_from(JOBS), event=st.sampled_from(EVENTS))
    def job_event(self, job, event):
        current = self.manager.get(job).status
        done = self._apply(job, lambda s: move_job(s, event, "test"))
        assert done == ((current, event) in JOB_TRANSITIONS)

    @rule(
        job=st.sampled_from(JOBS),
        step=st.sampled_from(STEPS),
        event=st.sampled_from(list(StepEvent)),
    )
    def step_event(self, job, step, event):
        state = self.manager.get(job)
        allowed = (state.steps[step].status, event) in STEP_TRANSITIONS
        done = self._apply(job, lambda s: move_step(s, step, event, "test"))
        assert done == (allowed and not state.status.is_terminal)

    @rule(job=st.sampled_from(JOBS), data=st.data())
    def step_success_or_failure_or_retry(self, job, data):
        """The usual path of a step: ready, start, then succeed, fail or wait to retry."""
        end = data.draw(st.sampled_from([StepEvent.SUCCEED, StepEvent.FAIL, StepEvent.RETRY]))
        step = data.draw(st.sampled_from(STEPS))
        for event in (StepEvent.READY, StepEvent.START, end):
            self.step_event(job, step, event)

    @rule(job=st.sampled_from(JOBS), status=st.sampled_from(list(JobStatus)))
    def update_status(self, job, status):
        target = status
        before = self.manager.get(job)
        if before.status.is_terminal and target is JobStatus.QUEUED:
            return  # that is retry_job, outside this machine (see EVENTS)
        try:
            self.manager.update_state(job, {"status": target})
        except InvalidTransition:
            assert self.manager.get(job) == before

    @rule(job=st.sampled_from(JOBS))
    def take_snapshot(self, job):
        self.snapshots.append(self.manager.create_snapshot(job))

    @precondition(lambda self: self.snapshots)
    @rule(data=st.data())
    def restore(self, data):
        snap = data.draw(st.sampled_from(self.snapshots))
        current = self.manager.get(snap.job_id)
        if current.status.is_terminal:
            return  # restoring over a finished job is allowed, but would undo "final"
        try:
            self.manager.restore_snapshot(snap)
        except InvalidTransition:
            assert current.status.value in ("QUEUED", "RUNNING", "PAUSING", "CANCELLING")

    @invariant()
    def journal_replays_to_the_stored_state(self):
        for job_id in JOBS:
            state = self.manager.get(job_id)
            job, steps = replay(STEPS, self.manager.history(job_id))
            assert job is state.status
            assert steps == {s: state.steps[s].status for s in STEPS}

    @invariant()
    def terminal_jobs_never_change(self):
        for job_id in JOBS:
            state = self.manager.get(job_id)
            if job_id in self.finished:
                assert state == self.finished[job_id]
            elif state.status.is_terminal:
                self.finished[job_id] = state


TestJobStatesInMemory = JobStates.TestCase
TestJobStatesInMemory.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)


class SQLiteJobStates(JobStates):
    store_kind = "sqlite"


TestJobStatesOnSQLite = SQLiteJobStates.TestCase
TestJobStatesOnSQLite.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
