"""OpenTelemetry spans from the lifecycle events, when ``opentelemetry-api`` is installed.

A job is a span; each step attempt is a span whose parent is its job's. The
spans are made from the events' own timestamps as the events are published
(like the metrics), so they are complete whatever a slow subscriber drops.
Without an SDK configured, OpenTelemetry's no-op tracer makes this nearly free.
"""

from __future__ import annotations

import threading
from typing import Any

from .._core._kinds import EventKind
from ._events import Event

try:  # an optional extra: `pip install actors-wf[tracing]`
    from opentelemetry import trace
except ImportError:  # pragma: no cover - exercised where the extra is absent
    trace = None  # type: ignore[assignment]

_STEP_ENDS = {
    EventKind.STEP_SUCCEEDED,
    EventKind.STEP_FAILED,
    EventKind.STEP_TIMED_OUT,
    EventKind.STEP_RETRYING,
}
_JOB_ENDS = {EventKind.JOB_COMPLETED, EventKind.JOB_FAILED, EventKind.JOB_CANCELLED}


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class Tracer:
    """Turns events into spans; thread-safe."""

    def __init__(self, tracer: Any = None) -> None:
        self._tracer = tracer if tracer is not None else trace.get_tracer("actors_wf")
        self._jobs: dict[str, Any] = {}
        self._steps: dict[tuple[str, str | None, int | None], Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        """Whether ``opentelemetry-api`` is installed and a tracer provider is configured.

        Without a configured provider every span would be a no-op that still
        still costs time on every step, so none are made: configure
        OpenTelemetry before creating the engine, or pass ``tracer=``.
        """
        if trace is None:
            return False
        provider = trace.get_tracer_provider()
        return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)

    def record(self, event: Event) -> None:
        """Start or end the span an event opens or closes."""
        kind = event.kind
        if kind == EventKind.JOB_STARTED:
            span = self._tracer.start_span(
                "job", start_time=_ns(event.at), attributes={"actors_wf.job_id": event.job_id}
            )
            with self._lock:
                self._jobs[event.job_id] = span
        elif kind == EventKind.STEP_STARTED:
            self._start_step(event)
        elif kind in _STEP_ENDS:
            self._end_step(event)
        elif kind in _JOB_ENDS:
            with self._lock:
                span = self._jobs.pop(event.job_id, None)
            if span is not None:
                span.set_attribute("actors_wf.status", kind.removeprefix("job.").upper())
                span.end(end_time=_ns(event.at))

    def _start_step(self, event: Event) -> None:
        with self._lock:
            job = self._jobs.get(event.job_id)
        parent = trace.set_span_in_context(job) if job is not None else None
        span = self._tracer.start_span(
            f"step {event.step_id}",
            context=parent,
            start_time=_ns(event.at),
            attributes={
                "actors_wf.job_id": event.job_id,
                "actors_wf.step_id": event.step_id or "",
                "actors_wf.attempt": event.attempt or 0,
                "actors_wf.component": event.component or "",
            },
        )
        with self._lock:
            self._steps[event.job_id, event.step_id, event.attempt] = span

    def _end_step(self, event: Event) -> None:
        with self._lock:
            span = self._steps.pop((event.job_id, event.step_id, event.attempt), None)
        if span is None:
            return
        span.set_attribute("actors_wf.outcome", event.kind)
        if event.worker:
            span.set_attribute("actors_wf.worker", event.worker)
        if event.error is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, event.error.message))
            span.set_attribute("actors_wf.error_type", event.error.type)
        span.end(end_time=_ns(event.at))
