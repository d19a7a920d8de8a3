"""Status changes as journal entries, made through the one transition table.

Every change of a job's or a step's status is made by :func:`move_job` or
:func:`move_step`, which consult the table and return the entry to journal
with the new state. :func:`replay` applies a journal to fresh statuses, so a
test can check that the journal explains the stored state.

An entry travels to the store as a :class:`JournalEntry` (a named tuple) and
is read back as a :class:`Transition` (a frozen record, with the version it
was stored in). The runtime journals two entries a step and the journal is
seldom read: a frozen attrs record, each field set through
``object.__setattr__``, costs several times the named tuple made with
``tuple.__new__`` (docs/performance.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import attrs

from .._core._records import JobState, StepState, evolve
from .._core._status import (
    JOB_TRANSITIONS,
    STEP_TRANSITIONS,
    JobEvent,
    JobStatus,
    StepEvent,
    StepStatus,
    next_job_status,
    step_refusal,
)

RESTORE = "restore"


@attrs.frozen
class Transition:
    """One journal entry: a status change of a job or of one of its steps.

    Attributes:
        job_id: the job.
        step_id: the step, or ``None`` for the job itself.
        event: what happened (``start``, ``succeed``, ... or ``restore``).
        from_status: the status before.
        to_status: the status after.
        at: wall-clock seconds since the epoch.
        cause: why, for people (``step 'a' failed``, ``update_state``, ...).
        version: the job version this change is part of (set when stored).
    """

    job_id: str
    step_id: str | None
    event: str
    from_status: str
    to_status: str
    at: float = attrs.Factory(time.time)
    cause: str = ""
    version: int = 0

    def describe(self) -> str:
        """``v3 step 'a': RUNNING -succeed-> SUCCEEDED (cause)``."""
        who = "job" if self.step_id is None else f"step {self.step_id!r}"
        cause = f" ({self.cause})" if self.cause else ""
        stamp = time.strftime("%H:%M:%S", time.localtime(self.at))
        millis = f"{self.at % 1:.3f}"[1:]
        return (
            f"{stamp}{millis} v{self.version} {who}: {self.from_status} "
            f"-{self.event}-> {self.to_status}{cause}"
        )


class JournalEntry(NamedTuple):
    """A status change on its way to the store: a :class:`Transition` without its version."""

    job_id: str
    step_id: str | None
    event: str
    from_status: str
    to_status: str
    at: float
    cause: str = ""

    def stored(self, version: int) -> Transition:
        """The record of this entry, stored as part of ``version``."""
        return Transition(**self._asdict(), version=version)  # by name: order may drift


def move_job(
    state: JobState, event: JobEvent, cause: str = "", **changes: Any
) -> tuple[JobState, JournalEntry]:
    """The job after ``event``, and its journal entry.

    Raises:
        InvalidTransition: the table does not allow it.
    """
    to = next_job_status(state.job_id, state.status, event)
    entry = JournalEntry(
        state.job_id, None, event.value, state.status.value, to.value, time.time(), cause
    )
    return evolve(state, status=to, **changes), entry


def move_step(
    state: JobState, step_id: str, event: StepEvent, cause: str = "", **changes: Any
) -> tuple[JobState, JournalEntry]:
    """The job after ``event`` happened to one of its steps, and the journal entry.

    Raises:
        InvalidTransition: the table does not allow it.
        KeyError: no such step.
    """
    step, entry = step_after(state.job_id, state.steps[step_id], event, cause, **changes)
    return state.with_step(step), entry


# The step table with the names a journal entry carries: one lookup per move
# instead of the table and three Enum.value descriptors.
_STEP_MOVES = {
    (status, event): (to, event.value, status.value, to.value)
    for (status, event), to in STEP_TRANSITIONS.items()
}
# Skips the named tuple's Python-level __new__, on every entry (docs/performance.md).
_new_entry = tuple.__new__


def step_after(
    job_id: str, step: StepState, event: StepEvent, cause: str = "", **changes: Any
) -> tuple[StepState, JournalEntry]:
    """One step after ``event``, with ``changes`` to its other fields, and the journal entry.

    The runtime moves steps one by one and makes the JobState once per save.

    Raises:
        InvalidTransition: the table does not allow it.
    """
    try:
        to, name, before, after = _STEP_MOVES[step.status, event]
    except KeyError:
        raise step_refusal(job_id, step.step_id, step.status, event) from None
    row = (job_id, step.step_id, name, before, after, time.time(), cause)
    entry = _new_entry(JournalEntry, row)
    return step.moved(to, **changes), entry


def job_event_to(current: JobStatus, target: JobStatus) -> JobEvent | None:
    """The event that moves a job from ``current`` to ``target``, if the table has one."""
    for (source, event), to in JOB_TRANSITIONS.items():
        if source is current and to is target:
            return event
    return None


def step_event_to(current: StepStatus, target: StepStatus) -> StepEvent | None:
    """The event that moves a step from ``current`` to ``target``, if the table has one."""
    for (source, event), to in STEP_TRANSITIONS.items():
        if source is current and to is target:
            return event
    return None


def restore_entries(current: JobState, restored: JobState, cause: str) -> list[JournalEntry]:
    """Entries that record a snapshot restore as jumps, so a replay still explains the state."""
    entries = []
    now = time.time()
    if current.status is not restored.status:
        entries.append(
            JournalEntry(
                current.job_id,
                None,
                RESTORE,
                current.status.value,
                restored.status.value,
                now,
                cause,
            )
        )
    for step_id, step in restored.steps.items():
        before = current.steps.get(step_id)
        if before is not None and before.status is not step.status:
            entries.append(
                JournalEntry(
                    current.job_id,
                    step_id,
                    RESTORE,
                    before.status.value,
                    step.status.value,
                    now,
                    cause,
                )
            )
    return entries


def replay(
    step_ids: Iterable[str], journal: Iterable[Transition | JournalEntry]
) -> tuple[JobStatus, Mapping[str, StepStatus]]:
    """Apply a journal to a new job (CREATED, every step PENDING).

    Raises:
        AssertionError: an entry does not start from the status replay has
            reached, or does not end where the table says.
    """
    job = JobStatus.CREATED
    steps = dict.fromkeys(step_ids, StepStatus.PENDING)
    for entry in journal:
        if entry.step_id is None:
            assert entry.from_status == job.value, f"{entry} starts from {job.value}"
            job = _next(JobStatus, JOB_TRANSITIONS, job, entry)
        else:
            now = steps[entry.step_id]
            assert entry.from_status == now.value, f"{entry} starts from {now.value}"
            steps[entry.step_id] = _next(StepStatus, STEP_TRANSITIONS, now, entry)
    return job, steps


def _next(kind: Any, table: Mapping[Any, Any], now: Any, entry: Transition | JournalEntry) -> Any:
    if entry.event == RESTORE:
        return kind(entry.to_status)
    to = table[now, type(next(iter(table))[1])(entry.event)]
    assert to.value == entry.to_status, f"{entry} ends at {entry.to_status}, the table says {to}"
    return to
