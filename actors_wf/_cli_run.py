"""What ``actors-wf run`` shows while a job runs, and how it prints the result.

stdout carries the outputs and nothing else, so ``run ... > out.json`` keeps
a clean file; the step lines, the progress display and the summary go to
stderr. The progress line is drawn only where stderr is a terminal.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ._core._kinds import EventKind
from ._core._status import StepStatus

if TYPE_CHECKING:
    from ._core._records import JobState, StepState
    from ._observe._events import Event

_REDRAW_SECONDS = 0.2
_CLEAR = "\r\x1b[K"
TRUNCATE_AT = 200  # characters of one output value shown without --full


class RunView:
    """Step lines and a live progress line for one job, on stderr.

    Events arrive on the engine's dispatcher thread, the redraw on a thread
    of its own, the end on the caller's: one lock keeps their lines whole.
    """

    def __init__(
        self,
        err: TextIO,
        steps: Sequence[str],
        *,
        quiet: bool = False,
        live: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.err = err
        self.steps = len(steps)
        self.width = max(map(len, steps), default=0)
        self.quiet = quiet
        self.live = live and not quiet
        self.clock = clock
        self.began = clock()
        self.done = 0
        self.running: dict[str, None] = {}  # step ids in start order
        self.shown: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drawn = False
        self._ticker: threading.Thread | None = None
        self.job_id: str | None = None  # the job shown; events of others (its children) are not

    def start(self) -> None:
        """Begin redrawing the progress line, when it is shown at all."""
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="actors-wf-progress")
            self._ticker.start()

    def stop(self) -> None:
        """Stop redrawing and clear the progress line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            self._clear()

    def on_event(self, event: Event) -> None:
        """Print a step's line as it ends; keep the progress counts."""
        if event.step_id is None or (self.job_id is not None and event.job_id != self.job_id):
            return
        with self._lock:
            if event.kind == EventKind.STEP_STARTED:
                self.running[event.step_id] = None
            elif event.kind in (EventKind.STEP_SUCCEEDED, EventKind.STEP_FAILED):
                self.running.pop(event.step_id, None)
                item = event.step_id.endswith("]")  # an item of a map: counted, not listed
                if not item or event.kind == EventKind.STEP_FAILED:
                    self._line(_ended(event, self.width))
                self.done += not item
                self.shown.add(event.step_id)
            elif event.kind in (EventKind.STEP_RETRYING, EventKind.STEP_TIMED_OUT):
                self.running.pop(event.step_id, None)
                self._line(_retrying(event, self.width))
            if self.live:
                self._draw()

    def finish(self, job: JobState) -> None:
        """The steps no event spoke of (skipped, cancelled), then the job's summary line."""
        self.stop()
        if self.quiet:
            return
        specs = {spec.id: spec for spec in job.workflow.steps}
        for step in job.steps.values():
            if step.step_id not in self.shown and not step.step_id.endswith("]"):
                spec = specs.get(step.step_id)
                self._line(_unreported(step, self.width, spec.when if spec else None))
        self._line(summary_line(job))

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        self._clear()
        print(text, file=self.err, flush=True)

    def _tick(self) -> None:
        while not self._stop.wait(_REDRAW_SECONDS):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        running = ", ".join(self.running) or "-"
        if len(running) > 60:
            running = running[:57] + "..."
        elapsed = self.clock() - self.began
        self.err.write(
            f"{_CLEAR}[{self.done}/{self.steps} steps] running: {running}  {elapsed:.1f}s"
        )
        self.err.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.err.write(_CLEAR)
            self.err.flush()
            self._drawn = False


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    if value < 0.01:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _attempts(number: int | None) -> str:
    if not number or number == 1:
        return ""
    return f", {number} attempts ({number - 1} retr{'y' if number == 2 else 'ies'})"


def _ended(event: Event, width: int) -> str:
    took = f"{_seconds(event.duration)}{_attempts(event.attempt)}"
    if event.kind == EventKind.STEP_SUCCEEDED:
        return f"  ok       {event.step_id:<{width}}  {took}"
    error = event.error
    why = f": {error.type}: {error.message}" if error is not None else ""
    return f"  FAILED   {event.step_id:<{width}}  {took}{why}"


def _retrying(event: Event, width: int) -> str:
    error = event.error
    why = f"{error.type}: {error.message}" if error is not None else "failed"
    return f"  retry    {event.step_id:<{width}}  attempt {event.attempt}: {why}"


def _unreported(step: StepState, width: int, when: str | None = None) -> str:
    if step.status is StepStatus.SUCCEEDED:  # a map, whose items ran as its attempts
        items = len(step.output) if isinstance(step.output, list) else 0
        return f"  ok       {step.step_id:<{width}}  {items} item{'s' * (items != 1)}"
    word = step.status.value.lower()
    why = {
        StepStatus.SKIPPED: f"(when: {when})" if when else "(a step it needs did not succeed)",
        StepStatus.PENDING: "(never started)",
        StepStatus.CANCELLED: "(not run: the job ended first)",
    }.get(step.status, "")
    return f"  {word:<8} {step.step_id:<{width}}  {why}".rstrip()


def summary_line(job: JobState) -> str:
    """``job 1a2b... COMPLETED in 35 ms: 4 succeeded``."""
    counts: dict[str, int] = {}
    for step in job.steps.values():
        counts[step.status.value.lower()] = counts.get(step.status.value.lower(), 0) + 1
    took = ""
    if job.started_at is not None and job.finished_at is not None:
        took = f" in {_seconds(job.finished_at - job.started_at)}"
    parts = ", ".join(f"{n} {word}" for word, n in sorted(counts.items()))
    return f"job {job.job_id} {job.status.value}{took}: {parts}"


def print_outputs(outputs: Mapping[str, Any], out: TextIO, *, as_json: bool, full: bool) -> None:
    """The outputs on stdout: JSON for tools, else one line each, long values cut short."""
    if as_json:
        print(json.dumps(outputs, indent=2, default=repr), file=out)
        return
    for name, value in outputs.items():
        text = repr(value)
        if not full and len(text) > TRUNCATE_AT:
            text = f"{text[:TRUNCATE_AT]}... ({len(text):,} characters; --full shows all)"
        print(f"{name}: {text}", file=out)
