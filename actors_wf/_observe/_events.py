"""Lifecycle events, delivered to subscribers off the engine's threads.

Publishing never blocks: events go into a bounded buffer that one dispatcher
thread drains. When a subscriber is so slow that the buffer fills, new events
are dropped and counted instead of stalling a job.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from .._core._kinds import EventKind
from .._core._records import ErrorInfo

log = logging.getLogger("actors_wf.events")


@attrs.frozen
class Event:
    """Something that happened to a job.

    Attributes:
        kind: what happened, an :class:`EventKind` (``job.created``,
            ``step.succeeded``, ``job.interrupted``...; it equals its text).
        job_id: the job.
        at: wall-clock seconds since the epoch.
        step_id: the step, for step events.
        attempt: the attempt number, for step events.
        output: the step's output (``step.succeeded``) or the job's outputs
            (``job.completed``).
        error: the error, for failures.
        component: the step's component id, for step events.
        duration: seconds the attempt's code ran, when it ended.
        queue_wait: seconds between the attempt's launch and the start of its code.
        worker: the Dask worker that ran the attempt, when one did.
    """

    kind: EventKind
    job_id: str
    at: float = attrs.Factory(time.time)
    step_id: str | None = None
    attempt: int | None = None
    output: Any = None
    error: ErrorInfo | None = None
    component: str | None = None
    duration: float | None = None
    queue_wait: float | None = None
    worker: str | None = None


Subscriber = Callable[[Event], None]
# (kind, workflow, component, duration, queue_wait) of a step event: what metrics count.
StepCounter = Callable[[EventKind, str, str, "float | None", "float | None"], None]
_STOP = object()


class EventBus:
    """Fans events out to subscribers on one dispatcher thread.

    ``record`` sees every event as it is published (the tracer), ``count``
    the figures of every step event (the metrics). A step event's record is
    made only when a subscriber or ``record`` will read it
    (:meth:`publish_step`): most engines run thousands of steps with no one
    listening.
    """

    def __init__(
        self,
        *,
        buffer: int = 10_000,
        record: Callable[[Event], None] | None = None,
        count: StepCounter | None = None,
    ) -> None:
        self._record = record
        self._count = count
        self._subscribers: list[Subscriber] = []
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=buffer)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on.

        Returns:
            A function that unsubscribes.
        """
        with self._lock:
            self._subscribers = [*self._subscribers, callback]
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="actors_wf-events", daemon=True
                )
                self._thread.start()
        return lambda: self._unsubscribe(callback)

    @property
    def watched(self) -> bool:
        """Whether anyone subscribes (then an event waits for the save of what it reports)."""
        return bool(self._subscribers)

    def _unsubscribe(self, callback: Subscriber) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s is not callback]

    def publish(self, event: Event) -> None:
        """Queue an event for the subscribers; never blocks."""
        if self._count is not None and event.component is not None:
            self._count(event.kind, "", event.component, event.duration, event.queue_wait)
        self._deliver(event)

    def publish_step(
        self,
        kind: EventKind,
        job_id: str,
        step_id: str,
        attempt: int,
        component: str,
        duration: float | None = None,
        queue_wait: float | None = None,
        *,
        workflow: str = "",
        **extra: Any,
    ) -> None:
        """Publish a step event, making its :class:`Event` only if anyone reads it."""
        if self._count is not None:
            self._count(kind, workflow, component, duration, queue_wait)
        if self._record is None and not self._subscribers:
            return
        self._deliver(
            Event(
                kind,
                job_id,
                step_id=step_id,
                attempt=attempt,
                component=component,
                duration=duration,
                queue_wait=queue_wait,
                **extra,
            )
        )

    def _deliver(self, event: Event) -> None:
        if self._record is not None:
            self._record(event)
        if not self._subscribers:
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            for callback in self._subscribers:
                try:
                    callback(event)
                except Exception:
                    log.exception("event subscriber %r failed on %s", callback, event.kind)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, then stop the dispatcher thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)  # blocks only while the buffer is full of real events
        thread.join(timeout)
