"""A cancel that crosses a step's outcome ends the job in one legal state, never FAILED."""

import contextlib
from collections import Counter

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from actors_wf import COMPONENT, Engine, InvalidTransition, JobStatus

WAIT = 10.0
ROUNDS = 2000


def quick(x: int = 0) -> int:
    return x


def fails(x: int = 0) -> int:
    raise ValueError("no")


CHAIN = """
id: race
steps:
  - {id: a, component: t.quick}
  - {id: b, component: t.quick, depends_on: [a]}
"""
ONE = """
id: one
steps:
  - {id: a, component: t.quick}
"""
FAILING = """
id: failing
steps:
  - {id: a, component: t.fails, retry: {max_attempts: 3, initial_interval: 0.001}}
"""


def _engine(store: str | None = None) -> Engine:
    engine = Engine(store=store)
    engine.registry.register(COMPONENT, "t.quick", None, quick)
    engine.registry.register(COMPONENT, "t.fails", None, fails)
    for text in (CHAIN, ONE, FAILING):
        engine.registry.register_workflow(text)
    return engine


def _race(engine: Engine, workflow: str, rounds: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    jobs = engine.jobs_sync
    for _ in range(rounds):
        job = jobs.create_job(workflow, {})
        jobs.start_job(job)
        # Refused only when it had ended already: the outcome won before the cancel.
        with contextlib.suppress(InvalidTransition):
            jobs.cancel_job(job)
        state = jobs.wait(job, WAIT)
        seen[state.status.value if state.error is None else state.error.type] += 1
    return seen


@pytest.mark.parametrize("workflow", ["race", "one"])
def test_cancel_racing_a_success_ends_cancelled_or_completed(workflow):
    with _engine() as engine:
        seen = _race(engine, workflow, ROUNDS)
    assert set(seen) <= {"CANCELLED", "COMPLETED"}, seen
    assert seen["CANCELLED"] > 0, seen  # the race was really run


def test_cancel_racing_a_success_on_sqlite(tmp_path):
    with _engine(str(tmp_path / "jobs.db")) as engine:
        seen = _race(engine, "race", ROUNDS // 4)
    assert set(seen) <= {"CANCELLED", "COMPLETED"}, seen


def test_cancel_racing_a_failure_is_not_retried_and_never_an_engine_error():
    with _engine() as engine:
        seen = _race(engine, "failing", ROUNDS // 2)
    # The failure won (FAILED with the component's ValueError) or the cancel did.
    assert set(seen) <= {"CANCELLED", "ValueError"}, seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    commands=st.lists(
        st.sampled_from(["cancel", "force", "pause", "resume"]), min_size=1, max_size=6
    )
)
def test_commands_crossing_a_running_job_end_in_a_legal_final_state(commands):
    with _engine() as engine:
        jobs = engine.jobs_sync
        job = jobs.create_job("race", {})
        jobs.start_job(job)
        for command in commands:
            try:
                if command == "cancel":
                    jobs.cancel_job(job)
                elif command == "force":
                    jobs.cancel_job(job, force=True)
                elif command == "pause":
                    jobs.pause_job(job)
                else:
                    jobs.resume_job(job)
            except InvalidTransition:
                pass  # refused with the states it could take: legal
        with contextlib.suppress(InvalidTransition):  # it had ended
            jobs.cancel_job(job)  # ends a job left paused too
        state = jobs.wait(job, WAIT)
        assert state.status in (JobStatus.CANCELLED, JobStatus.COMPLETED), state.error
        assert all(s.status.is_terminal for s in state.steps.values())
