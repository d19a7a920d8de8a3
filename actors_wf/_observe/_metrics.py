"""Metrics: counters and timing percentiles per component, from the lifecycle events.

Step events are counted as they are published (``EventBus(count=...)``: a
few dict updates under a lock), not by a subscriber, so a slow subscriber's
dropped events never make the figures wrong. Timings keep the last
``window`` samples per component.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import attrs

from .._core._kinds import EventKind

_STEP_COUNTERS = {
    EventKind.STEP_STARTED: "started",
    EventKind.STEP_SUCCEEDED: "succeeded",
    EventKind.STEP_FAILED: "failed",
    EventKind.STEP_TIMED_OUT: "failed",
    EventKind.STEP_RETRYING: "retried",
}
_COUNTS = tuple(dict.fromkeys(_STEP_COUNTERS.values()))  # started, succeeded, failed, retried
QUANTILES = (0.5, 0.95, 0.99)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values`` (sorted or not)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


@attrs.frozen
class ComponentMetrics:
    """Figures for one component.

    Attributes:
        started / succeeded / failed / retried: attempts counted by outcome.
        duration: p50, p95, p99 of attempt durations, in seconds (the last
            ``window`` attempts).
        queue_wait: p50, p95, p99 of the time from an attempt's launch to the
            start of its code (waiting for a worker), in seconds.
        duration_sum / duration_count: every attempt's duration since the
            engine started, summed, and how many (a Prometheus summary's
            ``_sum`` and ``_count``: rates of them give a mean over any window).
        queue_wait_sum / queue_wait_count: the same for the queue wait.
    """

    started: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    duration: Mapping[str, float] = attrs.Factory(dict)
    queue_wait: Mapping[str, float] = attrs.Factory(dict)
    duration_sum: float = 0.0
    duration_count: int = 0
    queue_wait_sum: float = 0.0
    queue_wait_count: int = 0


@attrs.frozen
class ExecutorMetrics:
    """Figures for one executor: ``thread``, ``process`` or one given by name.

    Attributes:
        attempts: attempts handed to it (``thread``: every other attempt started).
        available: whether it can run attempts now (a Dask executor: whether
            its client is connected to the scheduler).
    """

    attempts: int = 0
    available: bool = True


@attrs.frozen
class Metrics:
    """A point-in-time view of the engine (``engine.metrics()``).

    Attributes:
        jobs: job count by status.
        components: per component id, over every workflow.
        steps_per_second: step attempts finished per second over the last minute.
        steps_finished: step attempts finished since the engine started.
        events_dropped: events a slow subscriber could not take.
        series: per ``(workflow id, component id)``: what the Prometheus
            series are labelled by.
        executors: per executor name (``thread``, ``process``, ``dask``...).
        store_commits: job saves written to a SQLite store (``None`` in memory).
        store_transactions: the SQLite transactions those saves took: saves
            of jobs made at the same time share one (group commit).
        resources_in_use: per resource (``steps``, the engine's
            ``max_concurrent_steps``, and the named ones): how much running
            steps hold now.
        resources_capacity: per resource: how much there is.
        jobs_waiting_for_resources: jobs with a step ready to start that
            waits for room: the engine is saturated while it is above 0.
    """

    jobs: Mapping[str, int]
    components: Mapping[str, ComponentMetrics]
    steps_per_second: float
    steps_finished: int
    events_dropped: int
    series: Mapping[tuple[str, str], ComponentMetrics] = attrs.Factory(dict)
    executors: Mapping[str, ExecutorMetrics] = attrs.Factory(dict)
    store_commits: int | None = None
    store_transactions: int | None = None
    resources_in_use: Mapping[str, int] = attrs.Factory(dict)
    resources_capacity: Mapping[str, int] = attrs.Factory(dict)
    jobs_waiting_for_resources: int = 0

    def to_prometheus(self) -> str:
        """The figures in Prometheus' text exposition format."""
        lines = [
            "# HELP actors_wf_jobs Jobs by status.",
            "# TYPE actors_wf_jobs gauge",
            *(f'actors_wf_jobs{{status="{s}"}} {n}' for s, n in sorted(self.jobs.items())),
        ]
        series = sorted(self.series.items())
        for field, text in _COUNTER_HELP.items():
            name = f"actors_wf_step_attempts_{field}_total"
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            for (workflow, component), m in series:
                labels = _labels(workflow, component)
                if field == "failed":  # final: the step failed; else it was retried
                    lines.append(f'{name}{{{labels},final="true"}} {m.failed}')
                    lines.append(f'{name}{{{labels},final="false"}} {m.retried}')
                else:
                    lines.append(f"{name}{{{labels}}} {getattr(m, field)}")
        for field in ("duration", "queue_wait"):
            name = f"actors_wf_step_{field}_seconds"
            lines += [
                f"# HELP {name} Step attempt {field.replace('_', ' ')}.",
                f"# TYPE {name} summary",
            ]
            for (workflow, component), m in series:
                labels = _labels(workflow, component)
                for q, value in getattr(m, field).items():
                    lines.append(f'{name}{{{labels},quantile="{q}"}} {value:.6f}')
                lines.append(f"{name}_sum{{{labels}}} {getattr(m, f'{field}_sum'):.6f}")
                lines.append(f"{name}_count{{{labels}}} {getattr(m, f'{field}_count')}")
        executors = sorted(self.executors.items())
        lines += [
            "# HELP actors_wf_executor_attempts_total Step attempts started, per executor.",
            "# TYPE actors_wf_executor_attempts_total counter",
            *(
                f'actors_wf_executor_attempts_total{{executor="{_label(n)}"}} {e.attempts}'
                for n, e in executors
            ),
            "# HELP actors_wf_executor_available Whether an executor can run attempts now.",
            "# TYPE actors_wf_executor_available gauge",
            *(
                f'actors_wf_executor_available{{executor="{_label(n)}"}} {int(e.available)}'
                for n, e in executors
            ),
        ]
        if self.store_commits is not None:
            lines += [
                "# HELP actors_wf_store_commits_total Job saves written to the store.",
                "# TYPE actors_wf_store_commits_total counter",
                f"actors_wf_store_commits_total {self.store_commits}",
                "# HELP actors_wf_store_transactions_total Store transactions those saves took.",
                "# TYPE actors_wf_store_transactions_total counter",
                f"actors_wf_store_transactions_total {self.store_transactions}",
            ]
        resources = sorted(self.resources_capacity.items())
        lines += [
            "# HELP actors_wf_resource_in_use How much of a resource running steps hold.",
            "# TYPE actors_wf_resource_in_use gauge",
            *(
                f'actors_wf_resource_in_use{{resource="{_label(n)}"}} '
                f"{self.resources_in_use.get(n, 0)}"
                for n, _ in resources
            ),
            "# HELP actors_wf_resource_capacity How much of a resource there is.",
            "# TYPE actors_wf_resource_capacity gauge",
            *(f'actors_wf_resource_capacity{{resource="{_label(n)}"}} {c}' for n, c in resources),
            "# HELP actors_wf_jobs_waiting_for_resources Jobs whose ready step waits for room.",
            "# TYPE actors_wf_jobs_waiting_for_resources gauge",
            f"actors_wf_jobs_waiting_for_resources {self.jobs_waiting_for_resources}",
        ]
        lines += [
            "# HELP actors_wf_steps_per_second Step attempts finished per second (last minute).",
            "# TYPE actors_wf_steps_per_second gauge",
            f"actors_wf_steps_per_second {self.steps_per_second:.3f}",
            "# HELP actors_wf_events_dropped_total Events a slow subscriber missed.",
            "# TYPE actors_wf_events_dropped_total counter",
            f"actors_wf_events_dropped_total {self.events_dropped}",
        ]
        return "\n".join(lines) + "\n"


_COUNTER_HELP = {
    "started": "Step attempts started.",
    "succeeded": "Step attempts that succeeded.",
    "failed": "Step attempts that failed: final=true ended the step, final=false was retried.",
    "retried": "Step attempts that failed and were retried.",
}


def _labels(workflow: str, component: str) -> str:
    return f'workflow="{_label(workflow)}",component="{_label(component)}"'


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsRecorder:
    """Collects the figures; thread-safe."""

    def __init__(self, *, window: int = 1000, now: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Figures] = {}
        self._finished: collections.deque[float] = collections.deque()
        self._total = 0
        self._window = window
        self._now = now

    def count_step(
        self,
        kind: EventKind,
        workflow: str,
        component: str,
        duration: float | None,
        queue_wait: float | None,
    ) -> None:
        """Count a step event of ``kind`` (``step.started``, ...) without its record."""
        counter = _STEP_COUNTERS.get(kind)
        if counter is None:
            return
        key = (workflow, component)
        with self._lock:
            figures = self._series.get(key)
            if figures is None:
                figures = self._series[key] = _Figures(self._window)
            figures.counts[counter] += 1
            if duration is not None:
                figures.durations.append(duration)
                figures.duration_sum += duration
                figures.duration_count += 1
            if queue_wait is not None:
                figures.waits.append(queue_wait)
                figures.wait_sum += queue_wait
                figures.wait_count += 1
            if counter != "started":
                now = self._now()
                self._finished.append(now)
                self._total += 1
                while self._finished[0] < now - 60:
                    self._finished.popleft()

    def snapshot(self, jobs: Mapping[str, int], dropped: int) -> Metrics:
        """The figures now, with ``jobs`` counted by status (by the store)."""
        with self._lock:
            series = {key: figures.view() for key, figures in self._series.items()}
            by_component: dict[str, _Figures] = {}
            for (_, component), figures in self._series.items():
                merged = by_component.setdefault(component, _Figures(None))
                merged.add(figures)
            components = {name: figures.view() for name, figures in by_component.items()}
            finished = len(self._finished)
            total = self._total
        return Metrics(dict(jobs), components, finished / 60.0, total, dropped, series)


class _Figures:
    """One component's counts and last timings (mutable; under the recorder's lock)."""

    __slots__ = (
        "counts",
        "duration_count",
        "duration_sum",
        "durations",
        "wait_count",
        "wait_sum",
        "waits",
    )

    def __init__(self, window: int | None) -> None:
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.durations: collections.deque[float] = collections.deque(maxlen=window)
        self.waits: collections.deque[float] = collections.deque(maxlen=window)
        self.duration_sum = self.wait_sum = 0.0
        self.duration_count = self.wait_count = 0

    def add(self, other: _Figures) -> None:
        """Fold another series' figures in (a component's, over its workflows)."""
        for name, n in other.counts.items():
            self.counts[name] += n
        self.durations.extend(other.durations)
        self.waits.extend(other.waits)
        self.duration_sum += other.duration_sum
        self.duration_count += other.duration_count
        self.wait_sum += other.wait_sum
        self.wait_count += other.wait_count

    def view(self) -> ComponentMetrics:
        return ComponentMetrics(
            **self.counts,
            duration=_quantiles(self.durations),
            queue_wait=_quantiles(self.waits),
            duration_sum=self.duration_sum,
            duration_count=self.duration_count,
            queue_wait_sum=self.wait_sum,
            queue_wait_count=self.wait_count,
        )


def _quantiles(samples: Iterable[float]) -> dict[str, float]:
    values = list(samples)
    return {f"{q:g}": percentile(values, q) for q in QUANTILES} if values else {}
