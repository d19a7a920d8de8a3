"""The test kit: what a user's own tests need to drive and check the engine.

- :class:`ManualClock`: time that moves only when the test says, so retries,
  timeouts and backoffs are tested without a sleep.
- :func:`assert_journal_replays`: a job's journal, replayed through the
  transition table from CREATED, must end where the stored job is.

(A later issue adds fault injection, hypothesis strategies, a reference
runner and a state machine to subclass.)
"""

from __future__ import annotations

from ._runtime._clock import ManualClock
from ._state._manager import StateManager
from ._state._transitions import replay

__all__ = ["ManualClock", "assert_journal_replays"]


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
    job, steps = replay(stored.steps, state.history(job_id))
    where = f"job {job_id}"
    assert job is stored.status, f"{where}: the journal ends {job}, stored {stored.status}"
    for step_id, step in stored.steps.items():
        found = steps[step_id]
        assert found is step.status, (
            f"{where} step {step_id!r}: the journal ends {found}, stored {step.status}"
        )
