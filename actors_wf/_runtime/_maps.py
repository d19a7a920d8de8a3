"""A ``for_each`` step while it runs: its items, how many run, and its output at the end.

The items are ordinary steps of the job (``name[0]``, ``name[1]``...), kept in
its state and journaled one by one, so a job recovered after a crash runs only
the items that had not succeeded. What is here is the JobActor's bookkeeping
for one map, rebuilt from the steps whenever a JobActor takes the job over:
counters, so that an item's end costs O(1) however many items there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._core._records import StepState
from .._core._status import StepStatus

_ENDED = frozenset(status for status in StepStatus if status.is_terminal)


def item_id(step_id: str, index: int) -> str:
    """The id of item ``index`` of map step ``step_id``: ``step_id[index]``."""
    return f"{step_id}[{index}]"


class MapRun:
    """One expanded map step (mutable; the JobActor's own, never shared).

    Attributes:
        step_id: the map step.
        items: the list ``for_each`` named, read when the step expanded.
        ids: the items' step ids, in order.
        limit: at most this many items at once (``max_parallel``), or ``None``.
        next: the index of the first item not yet let start.
        active: items let start that have not ended.
        ended: items that have ended.
    """

    __slots__ = ("active", "ended", "ids", "items", "limit", "next", "step_id")

    def __init__(
        self, step_id: str, items: list[Any], limit: int | None, steps: Mapping[str, StepState]
    ) -> None:
        self.step_id = step_id
        self.items = items
        self.ids = [item_id(step_id, i) for i in range(len(items))]
        self.limit = limit
        self.next = 0
        self.active = 0
        self.ended = sum(1 for sid in self.ids if sid in steps and steps[sid].status in _ENDED)

    @property
    def done(self) -> bool:
        """Whether every item has ended."""
        return self.ended == len(self.ids)

    def admit(self, steps: Mapping[str, StepState]) -> list[str]:
        """The items that may start now, in order, within ``limit``; counted as active."""
        admitted = []
        while self.next < len(self.ids) and (self.limit is None or self.active < self.limit):
            sid = self.ids[self.next]
            self.next += 1
            if steps[sid].status not in _ENDED:  # one that succeeded before a restart stays so
                self.active += 1
                admitted.append(sid)
        return admitted

    def item_ended(self) -> None:
        """An admitted item has ended."""
        self.active -= 1
        self.ended += 1


def map_output(run: MapRun, steps: Mapping[str, StepState], on_item_failure: str) -> list[Any]:
    """The map step's output: the items' outputs in item order.

    A failed item is left out (``skip``) or is an error record in its place (``collect``).
    """
    output = []
    for sid in run.ids:
        step = steps[sid]
        if step.status is StepStatus.SUCCEEDED:
            output.append(step.output)
        elif on_item_failure == "collect":
            error = step.error
            output.append(
                {
                    "error": {
                        "type": str(error.type) if error else step.status.value,
                        "message": error.message if error else "",
                    }
                }
            )
    return output
