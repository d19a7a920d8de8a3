"""Assertions about jobs, with messages that show the job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core._records import JobState
from .._core._status import JOB_TRANSITIONS, JobStatus, StepStatus
from .._engine import Engine
from .._state._manager import StateManager
from .._state._transitions import replay


def assert_journal_replays(state: StateManager, job_id: str) -> None:
    """Replay the job's journal and check it reproduces the stored statuses.

    Every entry must start from the status the replay has reached and end
    where the transition table says; the result must be the job's stored
    status and each step's. Use it on ``engine.state`` after any test that
    moves a job.

    Raises:
        AssertionError: naming the first entry or status that does not fit.
        JobNotFound: no such job.
    """
    stored = state.get(job_id)
    # Up to the version read: a job may move on between the two reads.
    journal = [entry for entry in state.history(job_id) if entry.version <= stored.version]
    job, steps = replay(stored.steps, journal)
    where = f"job {job_id}"
    assert job is stored.status, f"{where}: the journal ends {job}, stored {stored.status}"
    for step_id, step in stored.steps.items():
        found = steps[step_id]
        assert found is step.status, (
            f"{where} step {step_id!r}: the journal ends {found}, stored {step.status}"
        )


def assert_replays(engine: Engine, job_id: str) -> None:
    """:func:`assert_journal_replays` on an engine's store, the job shown on failure.

    Raises:
        AssertionError: the journal does not explain the stored job.
    """
    try:
        assert_journal_replays(engine.state, job_id)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n\n{_shown(engine, job_id)}") from None


def reachable(before: JobStatus) -> frozenset[JobStatus]:
    """Every status the transition table leads to from ``before``, in one or more moves."""
    seen: set[JobStatus] = set()
    todo = [before]
    while todo:
        current = todo.pop()
        for (src, _), dst in JOB_TRANSITIONS.items():
            if src is current and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return frozenset(seen)


def assert_transition_allowed(before: JobStatus | str, after: JobStatus | str) -> None:
    """Check a job may go from ``before`` to ``after``: the same, or reachable by the table.

    An invariant of a state machine: a job observed in one status and then in
    another must have moved by the engine's own transitions, however many.

    Raises:
        AssertionError: naming both statuses and what ``before`` can lead to.
    """
    was, now = JobStatus(before), JobStatus(after)
    if now is was:
        return
    targets = reachable(was)
    leads_to = ", ".join(sorted(s.value for s in targets)) or "nothing"
    assert now in targets, (
        f"a job went {was.value} -> {now.value}, which no transitions lead to; "
        f"from {was.value} a job can reach: {leads_to}"
    )


def assert_job(
    engine: Engine,
    job_id: str,
    *,
    status: JobStatus | str | None = None,
    outputs: Mapping[str, Any] | None = None,
    steps: Mapping[str, StepStatus | str] | None = None,
) -> JobState:
    """Check a job's status, outputs and step statuses (each only if given); return the job.

    Raises:
        AssertionError: what differs, with the job's ``describe()`` below it.
        JobNotFound: no such job.
    """
    job = engine.state.get(job_id)
    problems = []
    if status is not None and job.status is not JobStatus(status):
        problems.append(f"status: expected {JobStatus(status).value}, got {job.status.value}")
    if outputs is not None and dict(job.outputs or {}) != dict(outputs):
        problems.append(f"outputs: expected {dict(outputs)!r}, got {job.outputs!r}")
    for step_id, wanted in (steps or {}).items():
        got = job.steps[step_id].status if step_id in job.steps else None
        if got is not StepStatus(wanted):
            shown = got.value if got is not None else "no such step"
            problems.append(f"step {step_id!r}: expected {StepStatus(wanted).value}, got {shown}")
    if problems:
        raise AssertionError(
            f"job {job_id}: " + "; ".join(problems) + f"\n\n{_shown(engine, job_id)}"
        )
    return job


def _shown(engine: Engine, job_id: str) -> str:
    try:
        return engine.state.describe(job_id)
    except Exception as exc:  # the assertion's own message matters more
        return f"(the job cannot be described: {exc})"
