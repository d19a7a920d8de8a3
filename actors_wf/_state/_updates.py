"""A user's updates to a job record: field checks, type checks, journaled status moves.

``StateManager.update_state`` and ``StateManager.transaction`` apply them;
here is what an update may change and how it is checked, whoever stores it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._core._codec import converter, describe_errors
from .._core._errors import InvalidTransition, did_you_mean
from .._core._records import JobState, StepState
from .._core._status import JobStatus, StepStatus, allowed_job_events
from ._transitions import JournalEntry, job_event_to, step_event_to

Update = Mapping[str, Any] | Callable[[JobState], JobState]
_READ_ONLY = frozenset({"job_id", "workflow", "version", "steps", "created_at"})
_JOB_FIELDS = frozenset(a.name for a in attrs.fields(JobState)) - _READ_ONLY
_STEP_FIELDS = frozenset(a.name for a in attrs.fields(StepState)) - {"step_id"}


class Transaction:
    """The working copy inside ``StateManager.transaction``.

    Attributes:
        base: the state the transaction started from.
        state: the state with the updates so far.
        entries: the journal entries of their status changes.
    """

    def __init__(self, base: JobState) -> None:
        self.base = base
        self.state = base
        self.entries: list[JournalEntry] = []

    def update(self, update: Update) -> JobState:
        """Apply one update to the working copy (see ``StateManager.update_state``)."""
        self.state, entries = apply_update(self.state, update)
        self.entries += entries
        return self.state


def apply_update(state: JobState, update: Update) -> tuple[JobState, list[JournalEntry]]:
    """Apply a user's update; check fields, types and status moves.

    Raises:
        InvalidTransition, ValueError, TypeError: as ``update_state``.
    """
    if callable(update) and not isinstance(update, Mapping):
        new = update(state)
        if not isinstance(new, JobState) or new.job_id != state.job_id:
            raise TypeError("an update function must return the job's JobState")
    else:
        new = _apply_fields(state, update)
    _check_types(new)
    return new, _status_moves(state, new)


def _apply_fields(state: JobState, fields: Mapping[str, Any]) -> JobState:
    changes: dict[str, Any] = {}
    steps = dict(state.steps)
    for key, value in fields.items():
        if key.startswith("steps."):
            step_id, _, name = key[len("steps.") :].rpartition(".")
            if step_id not in steps:
                raise ValueError(
                    f"job {state.job_id} has no step {step_id!r}{did_you_mean(step_id, steps)}"
                )
            if name not in _STEP_FIELDS:
                near = did_you_mean(name, _STEP_FIELDS)
                raise ValueError(
                    f"cannot update step field {name!r}{near}; "
                    f"updatable: {', '.join(sorted(_STEP_FIELDS))}"
                )
            if name == "status":
                value = StepStatus(value)
            steps[step_id] = attrs.evolve(steps[step_id], **{name: value})
        elif key in _JOB_FIELDS:
            changes[key] = JobStatus(value) if key == "status" else value
        else:
            raise ValueError(
                f"cannot update field {key!r}{did_you_mean(key, _JOB_FIELDS)}; updatable: "
                f"{', '.join(sorted(_JOB_FIELDS))}, steps.<id>.<field>"
            )
    return attrs.evolve(state, steps=steps, **changes)


def _check_types(state: JobState) -> None:
    try:
        converter.structure(converter.unstructure(state), JobState)
    except Exception as exc:
        raise TypeError("; ".join(describe_errors(exc))) from None


def _status_moves(old: JobState, new: JobState) -> list[JournalEntry]:
    entries = []
    now = time.time()
    if old.status is not new.status:
        event = job_event_to(old.status, new.status)
        if event is None:
            raise InvalidTransition(
                f"job {old.job_id}",
                old.status.value,
                f"-> {new.status.value}",
                allowed_job_events(old.status),
            )
        entries.append(
            JournalEntry(
                old.job_id,
                None,
                event.value,
                old.status.value,
                new.status.value,
                now,
                "update_state",
            )
        )
    for step_id, step in new.steps.items():
        before = old.steps[step_id].status
        if before is step.status:
            continue
        step_event = step_event_to(before, step.status)
        if step_event is None:
            raise InvalidTransition(
                f"step {step_id!r} of job {old.job_id}", before.value, f"-> {step.status.value}"
            )
        entries.append(
            JournalEntry(
                old.job_id,
                step_id,
                step_event.value,
                before.value,
                step.status.value,
                now,
                "update_state",
            )
        )
    return entries
